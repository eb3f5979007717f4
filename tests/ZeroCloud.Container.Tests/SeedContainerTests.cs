using System.Diagnostics;
using System.Text.Json;
using DotNet.Testcontainers.Configurations;
using DotNet.Testcontainers.Containers;
using Xunit.Abstractions;
using ZeroCloud.Model.Api;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Container.Tests;

/// <summary>
/// A whole seed as one container: <c>zc image build seed --oci</c>, loaded into podman and started as an operator
/// would (<c>--seed cluster.yaml</c>, a data folder from the host, nothing else) in a lab namespace's network. The
/// container starts the control plane's first member, applies cluster.yaml, runs dhcp, netboot and storage, and
/// pushes the images it carries into the store. A server in another namespace, sharing nothing with the container but
/// the network, PXE-boots from it (the firmware: DHCP, TFTP, iPXE, the signed node image over HTTP), joins, and runs
/// a hello replica whose image it fetched from the seed's store. Stopped and started again on the same folder, the
/// seed comes back with its cluster and pushes nothing twice.
/// </summary>
[Collection("podman")]
[Trait("Category", "Lab")]
public sealed class SeedContainerTests(ITestOutputHelper output)
{
    private const string Api = "https://10.84.0.2:7070";

    private const string Yaml = """
        apiVersion: zerocloud.io/v1
        kind: Cluster
        metadata: { name: sdc }
        spec:
          network:
            interface: eth0
            subnet: 10.84.0.0/24
            gateway: 10.84.0.1
            dhcp: { mode: full, range: 10.84.0.100-10.84.0.200, leaseTime: 1h }
          controlPlane: { replicas: 1 }
          nodes:
            enroll: approve
            downAfter: 10s
            known:
              - { mac: "52:54:00:84:00:01", name: s1 }
          services:
            - { name: dhcp, image: builtin/dhcp, replicas: 1 }
            - { name: netboot, image: builtin/netboot, replicas: 1 }
            - { name: storage, image: builtin/storage, replicas: 1 }
            - { name: hello, image: builtin/hello, replicas: 2, spread: node }
        """;

    [LabFact]
    public async Task A_seed_container_starts_the_cluster_and_a_server_pxe_boots_from_it_joins_and_runs_an_image_from_its_store()
    {
        await using var lab = await NetnsLab.CreateAsync("seed", "s1", "op");
        await lab.AddressAsync("seed", "10.84.0.2/24");
        await lab.AddressAsync("op", "10.84.0.10/24");
        await lab.MacAsync("s1", "52:54:00:84:00:01");

        var clock = Stopwatch.StartNew();
        var tag = (await Containers.BuildAsync("seed", oci: true))!;
        output.WriteLine($"seed image built and {tag} loaded in {clock.Elapsed.TotalSeconds:0.0} s");

        var data = lab.PathOf("seed");
        Directory.CreateDirectory(data);
        var file = lab.PathOf("cluster.yaml");
        await File.WriteAllTextAsync(file, Yaml);
        var containers = new IContainer?[1];
        try
        {
            containers[0] = Containers.Builder(tag, "zc-seed", lab.Namespace("seed"))
                .WithBindMount(data, "/var/lib/zerocloud")
                .WithBindMount(file, "/etc/zc/cluster.yaml", AccessMode.ReadOnly)
                .WithCommand("--seed", "/etc/zc/cluster.yaml", "--address", "10.84.0.2", "--data", "/var/lib/zerocloud", "--block-devices", "none")
                .Build();
            clock.Restart();
            await Containers.StartAsync(containers[0]!);
            var credentials = await NetnsLab.CredentialsFileAsync(Path.Combine(data, "control"));

            async Task<(int Code, string Text)> RunZcAsync(params string[] args) =>
                await Containers.ZcAsync(lab, "op", credentials, [.. args, "--server", Api]);

            async Task<T?> JsonAsync<T>(System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, params string[] args)
                where T : class
            {
                var (code, text) = await RunZcAsync([.. args, "--json"]);
                return code == 0 ? JsonSerializer.Deserialize(text, type) : null;
            }

            // The seed pushes every image it carries once its storage instance runs, the node image first.
            string[] images = ["node", "dhcp", "netboot", "storage", "hello", "control"];
            await Containers.WaitAsync(async () => (await RunZcAsync("image", "ls")) is (0, var text) && images.All(i => text.Contains($"\n{i} ", StringComparison.Ordinal)), "every image the seed carries in the catalogue", containers, 120);
            output.WriteLine($"the seed's control plane, services and images up {clock.Elapsed.TotalSeconds:0.0} s after the container started");
            var services = await JsonAsync(ControlJsonContext.Default.ServicesResponse, "get", "services");
            Assert.NotNull(services);
            Assert.All(services.Services.Where(s => s.Image is "builtin/dhcp" or "builtin/netboot" or "builtin/storage"), s => Assert.True(s.Running == 1, $"{s.Name}: {s.Running} running"));

            // A bare server powers on in its own namespace: its firmware boots from what the container serves.
            clock.Restart();
            var server = lab.Start("s1", "dotnet", NetnsLab.ServiceBinary("ZeroCloud.Node", "zc-node.dll", "node"), "--firmware", "eth0", "--data", lab.PathOf("s1"), "--block-devices", "none");
            await server.WaitForLineAsync(l => l.Contains("firmware: dhcp 10.84.0.100/24 from 10.84.0.2", StringComparison.Ordinal), Containers.Long, what: "a lease from the seed container's dhcp");
            await server.WaitForLineAsync(l => l.Contains("is signed by the cluster", StringComparison.Ordinal), Containers.Long, what: "the signed node image from the seed container's netboot");
            await Containers.WaitAsync(
                async () => await JsonAsync(ControlJsonContext.Default.InstancesResponse, "get", "instances") is { } r
                    && r.Instances.Any(v => v.Instance.Service == "hello" && v.Instance.Node == "s1" && v.State?.State == InstanceState.Running),
                "a hello replica running on s1",
                containers,
                180);
            output.WriteLine($"s1 PXE-booted from the seed container, joined and runs hello {clock.Elapsed.TotalSeconds:0.0} s after power-on");
            var nodes = await JsonAsync(ControlJsonContext.Default.NodesResponse, "get", "nodes");
            Assert.Equal(NodeStatus.Ready, nodes!.Nodes.Single(n => n.Name == "s1").Status);
            Assert.Contains("fetched, verified against its signed manifest", server.Output, StringComparison.Ordinal);

            async Task<int> LinesAsync(string text)
            {
                var (stdout, stderr) = await containers[0]!.GetLogsAsync();
                return (stdout + "\n" + stderr).Split('\n').Count(l => l.Contains(text, StringComparison.Ordinal));
            }

            // Stopped (SIGTERM: the agent, then the member) and started again on its folder: the same cluster, nothing pushed twice.
            // podman stop as an operator runs it (SIGTERM, 30 s before SIGKILL); Testcontainers' own stop does not wait.
            var stop = await Podman.RunAsync("stop", "-t", "30", containers[0]!.Id);
            Assert.True(stop.Code == 0, $"podman stop: {stop.Output}");
            var exit = await Podman.RunAsync("inspect", "--format", "{{.State.ExitCode}}", containers[0]!.Id);
            Assert.True(exit.Output.Trim() == "0", $"the seed container exited with {exit.Output.Trim()} after SIGTERM{await Containers.LogsAsync(containers)}");
            Assert.True(await LinesAsync("stopped in") >= 1, $"the member did not say it stopped{await Containers.LogsAsync(containers)}");
            await Containers.StartAsync(containers[0]!);
            var pushed = await LinesAsync("seed: pushed image");
            await Containers.WaitAsync(async () => await LinesAsync("the catalogue has image") >= images.Length, "the restarted seed finding its images in the catalogue", containers, 120);
            Assert.Equal(pushed, await LinesAsync("seed: pushed image"));
            await Containers.WaitAsync(async () => await JsonAsync(ControlJsonContext.Default.NodesResponse, "get", "nodes") is { } n && n.Nodes.Count(x => x.Status == NodeStatus.Ready) == 2, "both nodes Ready after the seed's restart", containers, 120);
            await server.StopAsync();
        }
        finally
        {
            await Containers.DisposeAllAsync(containers, output);
        }
    }
}
