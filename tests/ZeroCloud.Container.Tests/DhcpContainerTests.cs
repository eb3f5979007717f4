using System.Text.RegularExpressions;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Configurations;
using Xunit.Abstractions;
using ZeroCloud.Boot;
using ZeroCloud.Lab;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Container.Tests;

/// <summary>
/// zc-dhcp as a container: its OCI image built from the same files as its initramfs (reproducibly), put into podman's
/// store with <c>zc image load</c>, run through Testcontainers for .NET against podman's Docker-compatible API, joined
/// to a lab namespace's network (<c>ns:/run/netns/…</c>, never podman's NATed bridge), where it leases an address to a
/// real ISC dhclient in another namespace; exec and logs through the same API; removed at the end.
/// </summary>
[Collection("podman")]
[Trait("Category", "Lab")]
public sealed class DhcpContainerTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);

    [LabFact]
    public async Task The_dhcp_oci_image_loads_into_podman_and_leases_an_address_to_dhclient_from_a_container()
    {
        await using var lab = await NetnsLab.CreateAsync("srv", "client");
        await lab.AddressAsync("srv", "10.77.0.2/24");

        var publish = lab.PathOf("publish");
        var (code, log) = await lab.RunAsync("srv", Long, "dotnet", "publish", Repository.PathOf("netboot", "ZeroCloud.Dhcp.Service"), "-c", "Release", "-r", "linux-x64", "-o", publish, "-nologo", "-v", "q");
        Assert.True(code == 0, log);
        var (kernel, modules) = ImageBuilder.DistroKernel();
        var version = "0.0.0-container-" + Guid.NewGuid().ToString("N")[..8];
        var spec = new ImageSpec("dhcp", Path.Combine(publish, "zc-dhcp"), kernel, modules, version, "console=ttyS0") { Oci = true };

        // Two builds into different folders: the same OCI digest.
        var out1 = lab.PathOf("out1");
        var manifest = ImageBuilder.Build(spec, Path.Combine(out1, "images", "dhcp"));
        Assert.Equal(manifest.Oci, ImageBuilder.Build(spec, Path.Combine(lab.PathOf("out2"), "images", "dhcp")).Oci);

        (code, log) = await Processes.RunAsync("dotnet", [NetnsLab.ServiceBinary("ZeroCloud.Cli", "zc.dll", "cli"), "image", "load", "dhcp", "--out", out1, "--engine", "podman"]);
        Assert.True(code == 0, log);
        var tag = $"zerocloud/dhcp:{version}";
        Assert.Contains($"{tag}: loaded into podman ({manifest.Oci})", log, StringComparison.Ordinal);
        try
        {
            var (_, inspected) = await Podman.RunAsync("image", "inspect", "--format", "{{.Digest}} {{json .Config.Entrypoint}}", tag);
            output.WriteLine($"podman image inspect {tag}: {inspected.Trim()}");
            Assert.Equal($"{manifest.Oci} [\"/init\"]", inspected.Trim());

            var config = lab.PathOf("cluster.yaml");
            await File.WriteAllTextAsync(config, """
                apiVersion: zerocloud.io/v1
                kind: Cluster
                metadata: { name: lab }
                spec:
                  network: { interface: eth0, subnet: 10.77.0.0/24, gateway: 10.77.0.1, dhcp: { range: 10.77.0.100-10.77.0.150 } }
                """);
            var data = lab.PathOf("dhcp");
            Directory.CreateDirectory(data);

            var container = new ContainerBuilder(tag)
                .WithDockerEndpoint(Podman.Endpoint)
                .WithImagePullPolicy(_ => false)
                .WithName($"zc-dhcp-{Guid.NewGuid():N}"[..20])
                .WithBindMount(config, "/etc/zc/cluster.yaml", AccessMode.ReadOnly)
                .WithBindMount(data, "/var/lib/zerocloud")
                .WithCommand("-f", "/etc/zc/cluster.yaml", "--interface", "eth0", "--data", "/var/lib/zerocloud")
                .WithCreateParameterModifier(p => p.HostConfig!.NetworkMode = $"ns:/run/netns/{lab.Namespace("srv")}")
                .WithWaitStrategy(Wait.ForUnixContainer().UntilMessageIsLogged(" mode on eth0 as "))
                .Build();
            string name;
            await using (container)
            {
                using (var start = new CancellationTokenSource(Long))
                {
                    await container.StartAsync(start.Token);
                }

                name = container.Name.TrimStart('/');

                var (dhclient, text) = await lab.RunAsync("client", Long, "dhclient", "-1", "-v", "-lf", lab.PathOf("client.leases"), "-pf", lab.PathOf("client.pid"), "-sf", "/bin/true", "eth0");
                var (stdout, stderr) = await container.GetLogsAsync();
                Assert.True(dhclient == 0, $"{text}\n--- the container's log ---\n{stdout}{stderr}");
                Assert.Matches(new Regex(@"DHCPACK of 10\.77\.0\.1\d\d from 10\.77\.0\.2"), text);

                // The lease is durable where the container was told to keep it: the host's folder.
                Assert.Contains(File.ReadAllLines(Path.Combine(data, "leases.log")), l => l.Contains("10.77.0.1", StringComparison.Ordinal));

                // exec through the same API: the image's binary answers as a process, not as a machine's init.
                var exec = await container.ExecAsync(["/init", "--version"]);
                Assert.True(exec.ExitCode == 0, exec.Stdout + exec.Stderr);
                output.WriteLine($"exec /init --version: {exec.Stdout.Trim()}");
                Assert.DoesNotContain("is PID 1", stdout + stderr, StringComparison.Ordinal);
                output.WriteLine($"container {container.Name}: {container.State}; log:\n{stdout}{stderr}");
            }

            // Removed with the test: podman no longer lists it.
            var (_, listed) = await Podman.RunAsync("ps", "-a", "--format", "{{.Names}}");
            Assert.DoesNotContain(name, listed, StringComparison.Ordinal);

            // zc image load leaves one name only: removing it removes the image (no localhost/<version> left behind).
            var (_, names) = await Podman.RunAsync("image", "inspect", "--format", "{{json .RepoTags}}", tag);
            Assert.Equal($"[\"localhost/{tag}\"]", names.Trim());
            await Podman.RunAsync("rmi", "--force", tag);
            var (_, digests) = await Podman.RunAsync("images", "-a", "--digests", "--format", "{{.Digest}}");
            Assert.DoesNotContain(manifest.Oci!, digests, StringComparison.Ordinal);
        }
        finally
        {
            await Podman.RunAsync("rmi", "--force", tag);
        }
    }
}
