using System.Diagnostics;
using System.Text.Json;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Configurations;
using DotNet.Testcontainers.Containers;
using Xunit.Abstractions;
using ZeroCloud.Boot;
using ZeroCloud.Lab;
using ZeroCloud.Model.Api;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Container.Tests;

/// <summary>
/// The control plane as containers: the control image's OCI form (the self-contained zc-control, as the image carries
/// it) loaded into podman with <c>zc image load</c>, three members started through Testcontainers, each on its own
/// lab namespace's network (<c>ns:/run/netns/…</c>) with its data folder bound from the host, silos on and TLS on as
/// deployed. The first bootstraps; the others join through it with the root and the admin credential it wrote. The
/// leader's container is killed (SIGKILL): the other two elect a leader and take writes; the killed container is
/// started again on its folder and catches up. An operator's zc in a fourth namespace drives and reads it all.
/// </summary>
[Collection("podman")]
[Trait("Category", "Lab")]
public sealed class ControlContainerTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);

    private static string Address(int member) => $"10.78.0.{member + 1}";

    private static string Api(int member) => $"https://{Address(member)}:7070";

    [LabFact]
    public async Task Three_control_members_as_containers_form_a_cluster_survive_a_killed_container_and_take_it_back()
    {
        await using var lab = await NetnsLab.CreateAsync("m1", "m2", "m3", "op");
        for (var i = 1; i <= 3; i++)
        {
            await lab.AddressAsync($"m{i}", $"{Address(i)}/24");
        }

        await lab.AddressAsync("op", "10.78.0.10/24");

        // The control image as zc image build control --oci makes it: zc-control published self-contained, then packed.
        var clock = Stopwatch.StartNew();
        var publish = lab.PathOf("publish");
        var (code, log) = await lab.RunAsync("op", Long, "dotnet", "publish", Repository.PathOf("cluster", "ZeroCloud.Control.Service"), "-c", "Release", "-r", "linux-x64", "-o", publish, "-nologo", "-v", "q");
        Assert.True(code == 0, log);
        var (kernel, modules) = ImageBuilder.DistroKernel();
        var version = "0.0.0-container-" + Guid.NewGuid().ToString("N")[..8];
        var outFolder = lab.PathOf("out");
        var manifest = ImageBuilder.Build(new ImageSpec("control", Path.Combine(publish, "zc-control"), kernel, modules, version, "console=ttyS0") { Oci = true }, Path.Combine(outFolder, "images", "control"));
        var zc = NetnsLab.ServiceBinary("ZeroCloud.Cli", "zc.dll", "cli");
        (code, log) = await Processes.RunAsync("dotnet", [zc, "image", "load", "control", "--out", outFolder, "--engine", "podman"]);
        Assert.True(code == 0, log);
        var tag = $"zerocloud/control:{version}";
        output.WriteLine($"control image {manifest.Oci} built and loaded as {tag} in {clock.Elapsed.TotalSeconds:0.0} s");

        var containers = new IContainer?[4];
        try
        {
            // m1 bootstraps the cluster: its CA, the admin credential and the operator's credentials file land in its folder.
            containers[1] = Member(lab, tag, 1, ["--bootstrap"]);
            await StartAsync(containers[1]!);
            var credentials = await NetnsLab.CredentialsFileAsync(lab.PathOf("m1"));
            var root = Path.Combine(lab.PathOf("m1"), "pki", "root.crt");
            var token = Path.Combine(lab.PathOf("m1"), "admin-credential");

            async Task<string> ZcAsync(params string[] args)
            {
                var (exit, text) = await lab.RunAsync("op", TimeSpan.FromMinutes(2), "env", [$"ZC_CREDENTIALS={credentials}", "dotnet", zc, .. args]);
                Assert.True(exit == 0, $"zc {string.Join(' ', args)} exited {exit}:\n{text}\n{await LogsAsync(containers)}");
                return text;
            }

            async Task<StatusResponse?> StatusAsync(int member)
            {
                var (exit, text) = await lab.RunAsync("op", TimeSpan.FromMinutes(1), "env", $"ZC_CREDENTIALS={credentials}", "dotnet", zc, "status", "--json", "--server", Api(member));
                return exit == 0 ? JsonSerializer.Deserialize(text, ControlJsonContext.Default.StatusResponse) : null;
            }

            await WaitAsync(async () => (await StatusAsync(1))?.Role == "leader", "m1 to lead the cluster it bootstrapped", containers);

            // m2 and m3 join through m1 with the cluster's root and the admin credential, as an operator would start them.
            for (var i = 2; i <= 3; i++)
            {
                containers[i] = Member(lab, tag, i, ["--peers", Api(1), "--token-file", "/etc/zc/token", "--ca-file", "/etc/zc/ca.crt"], (root, "/etc/zc/ca.crt"), (token, "/etc/zc/token"));
                await StartAsync(containers[i]!);
            }

            StatusResponse status = null!;
            await WaitAsync(async () => (status = (await StatusAsync(1))!) is { } s && s.Members.Count == 3 && s.Members.All(m => m.Status == MemberStatus.Available) && (s.Silos ?? []).Count(x => x.Status == "active") == 3, "three available members with three active silos", containers);
            output.WriteLine($"three members in containers: {string.Join(", ", status.Members.Select(m => $"{m.Name} {m.Status}{(m.Leader ? " (leader)" : "")}"))}; silos {string.Join(", ", status.Silos!.Select(s => $"{s.Name} {s.Status}"))}");
            await ZcAsync("kv", "put", "/containers/before", "written-with-three", "--server", Api(2));

            // SIGKILL the leader's container: no shutdown code runs in it.
            var leader = int.Parse(status.Members.Single(m => m.Leader).Name![1..], System.Globalization.CultureInfo.InvariantCulture);
            var survivors = Enumerable.Range(1, 3).Where(i => i != leader).ToList();
            var (killed, killText) = await Podman.RunAsync("kill", "--signal", "KILL", containers[leader]!.Name.TrimStart('/'));
            Assert.True(killed == 0, killText);
            var sinceKill = Stopwatch.StartNew();
            async Task<bool> SurvivorLeadsAsync()
            {
                foreach (var i in survivors)
                {
                    if ((await StatusAsync(i))?.Role == "leader")
                    {
                        return true;
                    }
                }

                return false;
            }

            await WaitAsync(SurvivorLeadsAsync, $"m{survivors[0]} or m{survivors[1]} to lead after m{leader}'s container was killed", containers);
            var elected = sinceKill.Elapsed;
            await ZcAsync("kv", "put", "/containers/after", "written-with-two", "--server", Api(survivors[1]));
            Assert.Contains("written-with-three", await ZcAsync("kv", "get", "/containers/before", "--server", Api(survivors[0])), StringComparison.Ordinal);
            output.WriteLine($"m{leader}'s container killed: a new leader among m{survivors[0]}, m{survivors[1]} after {elected.TotalSeconds:0.0} s, and writes go on");

            // The killed container starts again on the same folder: the same member, caught up with what it missed.
            var (started, startText) = await Podman.RunAsync("start", containers[leader]!.Name.TrimStart('/'));
            Assert.True(started == 0, startText);
            await WaitAsync(
                async () => (await StatusAsync(leader)) is { } s && s.Members.Count == 3 && s.Members.All(m => m.Status == MemberStatus.Available) && (s.Silos ?? []).Count(x => x.Status == "active") == 3,
                $"m{leader} back with three available members and its silo active again",
                containers);
            Assert.Contains("written-with-two", await ZcAsync("kv", "get", "/containers/after", "--server", Api(leader)), StringComparison.Ordinal);
            output.WriteLine($"m{leader} started again on its folder: back in the cluster and caught up after {sinceKill.Elapsed.TotalSeconds:0.0} s since the kill");
            output.WriteLine(await ZcAsync("status", "--server", Api(leader)));
        }
        finally
        {
            foreach (var container in containers)
            {
                if (container is not null)
                {
                    await container.DisposeAsync();
                }
            }

            await Podman.RunAsync("rmi", "--force", tag);
        }
    }

    /// <summary>A member's container: its own namespace's network, its folder bound from the host, silos on (as deployed).</summary>
    private static IContainer Member(NetnsLab lab, string tag, int member, string[] args, params (string Host, string Container)[] files)
    {
        var data = lab.PathOf($"m{member}");
        Directory.CreateDirectory(data);
        var builder = new ContainerBuilder(tag)
            .WithDockerEndpoint(Podman.Endpoint)
            .WithImagePullPolicy(_ => false)
            .WithName($"zc-control-m{member}-{Guid.NewGuid():N}"[..24])
            .WithBindMount(data, "/var/lib/zerocloud/control")
            .WithCommand(["--data", "/var/lib/zerocloud/control", "--listen", $"{Address(member)}:7070", "--name", $"m{member}", .. args])
            .WithCreateParameterModifier(p => p.HostConfig!.NetworkMode = $"ns:/run/netns/{lab.Namespace($"m{member}")}")
            .WithWaitStrategy(Wait.ForUnixContainer());
        foreach (var (host, container) in files)
        {
            builder = builder.WithBindMount(host, container, AccessMode.ReadOnly);
        }

        return builder.Build();
    }

    private static async Task StartAsync(IContainer container)
    {
        using var start = new CancellationTokenSource(Long);
        await container.StartAsync(start.Token);
    }

    private static async Task<string> LogsAsync(IEnumerable<IContainer?> containers)
    {
        var text = new System.Text.StringBuilder();
        foreach (var c in containers.OfType<IContainer>())
        {
            try
            {
                var (stdout, stderr) = await c.GetLogsAsync();
                var lines = (stdout + stderr).Split('\n');
                text.Append("\n--- ").Append(c.Name).Append(" (last 30 lines) ---\n").AppendJoin('\n', lines.TakeLast(30));
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                text.Append("\n--- ").Append(c.Name).Append(": no logs: ").Append(ex.Message);
            }
        }

        return text.ToString();
    }

    private static async Task WaitAsync(Func<Task<bool>> done, string what, IEnumerable<IContainer?> containers)
    {
        var watch = Stopwatch.StartNew();
        while (!await done())
        {
            if (watch.Elapsed > TimeSpan.FromSeconds(90))
            {
                Assert.Fail($"waited 90 s for {what}{await LogsAsync(containers)}");
            }

            await Task.Delay(500);
        }
    }
}
