using System.Diagnostics;
using Xunit.Abstractions;
using ZeroCloud.Model.Api;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Cli.Tests;

/// <summary>
/// <c>zc up --nodes 5 --vm 2</c> as an operator runs it (slow tier: two QEMU machines under TCG): one UEFI and one BIOS machine
/// PXE-boot the node image with real firmware, claim their blank virtio disk (spec.nodes.disks) and become Ready nodes
/// that run hello from the images they fetched; <c>zc power cycle</c> of one goes through its lab BMC (Redfish over
/// QMP) and it PXE-boots again under the same name, mounts its disk as it was and runs hello from the image kept there;
/// killing the other's QEMU makes it Down (its BMC says off: nothing to fence, and the fencing says so) and its hello
/// runs elsewhere; <c>zc down</c> leaves no QEMU behind.
/// </summary>
[Collection("up")]
[Trait("Category", "Slow")]
public sealed class UpVmTests(ITestOutputHelper output) : IDisposable
{
    private const string Yaml = """
        apiVersion: zerocloud.io/v1
        kind: Cluster
        metadata: { name: vmtest }
        spec:
          network:
            interface: zc0
            subnet: 10.83.0.0/24
            gateway: 10.83.0.1
            dhcp: { mode: full, range: 10.83.0.100-10.83.0.200, leaseTime: 1h }
          controlPlane: { replicas: 3 }
          nodes:
            enroll: auto
            heartbeat: 500ms
            downAfter: 8s
            # The QEMU machines' blank virtio disk (the seed and the emulated servers see no disk).
            disks: [ { path: /dev/vda } ]
            known:
              - { mac: "52:54:00:83:00:01", name: known-1, labels: { hello: "yes" } }
              - { mac: "52:54:00:83:00:02", name: known-2, labels: { hello: "yes" } }
              - mac: "52:54:00:83:00:03"
                name: rack-uefi
                labels: { hello: "yes" }
                bmc: { redfish: "https://10.83.0.21/redfish/v1", credentials: lab-bmc, insecureTls: true }
              - mac: "52:54:00:83:00:04"
                name: rack-bios
                labels: { hello: "yes" }
                bmc: { redfish: "https://10.83.0.22/redfish/v1", credentials: lab-bmc, insecureTls: true }
          services:
            - { name: dhcp, image: builtin/dhcp, replicas: 2 }
            - { name: netboot, image: builtin/netboot, replicas: 2 }
            - { name: storage, image: builtin/storage, replicas: 1 }
            - name: hello
              image: builtin/hello
              replicas: 4
              resources: { cpu: 100m, memory: 32Mi }
              spread: node
              nodeSelector: { hello: "yes" }
              ports: [8080]
              health: { http: /healthz, port: 8080 }
        """;

    private readonly string _root = Directory.CreateTempSubdirectory("zc-upvm-").FullName;

    private Task<(int Code, string Out, string Err)> RunAsync(TimeSpan timeout, params string[] args) => ZcProcess.RunAsync(_root, timeout, args);

    private async Task<T> GetAsync<T>(string what, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        var (code, text, err) = await RunAsync(TimeSpan.FromMinutes(1), "get", what, "--json");
        Assert.True(code == 0, text + err);
        return System.Text.Json.JsonSerializer.Deserialize(text, type)!;
    }

    private static Task<string> ShAsync(string command) => ZcProcess.ShAsync(command);

    private async Task<string> Console(string server) => await File.ReadAllTextAsync(Path.Combine(_root, "vmtest", server, "console.log"));

    private async Task<int> Booted(string server) =>
        BootEvent.ReadAll(await File.ReadAllTextAsync(Path.Combine(_root, "vmtest", server, "events.jsonl"))).Count(e => e.Phase == BootPhase.Booted);

    [LabFact]
    public async Task Zc_up_vm_2_boots_a_uefi_and_a_bios_machine_a_power_cycle_reboots_one_and_a_killed_one_is_down_with_its_work_moved()
    {
        var file = Path.Combine(_root, "cluster.yaml");
        await File.WriteAllTextAsync(file, Yaml);
        var (code, upOut, upErr) = await RunAsync(TimeSpan.FromMinutes(12), "up", "-f", file, "--nodes", "5", "--vm", "2", "--timeout", "600");
        try
        {
            output.WriteLine(upOut);
            Assert.True(code == 0, upOut + upErr);
            Assert.Contains("(2 of them QEMU machines: s004 UEFI with a BMC at https://10.83.0.21/redfish/v1, s005 BIOS with a BMC at https://10.83.0.22/redfish/v1)", upOut, StringComparison.Ordinal);
            Assert.Contains("zc up: cluster vmtest is up: 6 nodes Ready", upOut, StringComparison.Ordinal);

            // Both machines are nodes under their known names, each running hello from the image it fetched.
            var nodes = (await GetAsync("nodes", ControlJsonContext.Default.NodesResponse)).Nodes;
            var instances = (await GetAsync("instances", ControlJsonContext.Default.InstancesResponse)).Instances;
            foreach (var (server, name) in new[] { ("s004", "rack-uefi"), ("s005", "rack-bios") })
            {
                Assert.Contains(nodes, n => n.Name == name && n.Status == NodeStatus.Ready);
                Assert.Contains(instances, i => i.Instance.Node == name && i.Instance.Service == "hello" && i.State is { State: InstanceState.Running, Healthy: true });
                Assert.Equal(1, await Booted(server));
                Assert.Contains("fetched, verified against its signed manifest", await Console(server), StringComparison.Ordinal);
                // It claimed its blank disk: formatted, mounted where the node keeps its data.
                Assert.Contains("data disk /dev/vda formatted and mounted on /var/lib/zerocloud", await Console(server), StringComparison.Ordinal);
                var disk = nodes.First(n => n.Name == name);
                Assert.True(disk.Persistent == true && disk.Disk?.StartsWith("vda: ", StringComparison.Ordinal) == true, $"{name}: {disk.Disk}");
            }

            // The seed and the emulated servers see none of this machine's disks (their data stays in their folders).
            Assert.All(nodes.Where(n => !n.Name.StartsWith("rack-", StringComparison.Ordinal)), n => Assert.StartsWith("none: no device matches spec.nodes.disks", n.Disk, StringComparison.Ordinal));

            // A power cycle through the BIOS machine's BMC: it boots again from the network under the same name.
            var (cycled, cycleOut, cycleErr) = await RunAsync(TimeSpan.FromMinutes(2), "power", "cycle", "rack-bios");
            output.WriteLine(cycleOut);
            Assert.True(cycled == 0, cycleOut + cycleErr);
            var clock = Stopwatch.StartNew();
            while (await Booted("s005") < 2 || (await GetAsync("nodes", ControlJsonContext.Default.NodesResponse)).Nodes.First(n => n.Name == "rack-bios").Status != NodeStatus.Ready)
            {
                Assert.True(clock.Elapsed < TimeSpan.FromMinutes(4), $"rack-bios did not boot again and become Ready within 4 min of its power cycle\n{(await Console("s005"))[^3000..]}");
                await Task.Delay(1000);
            }

            output.WriteLine($"rack-bios power-cycled, PXE-booted and Ready again after {clock.Elapsed.TotalSeconds:0.0} s");
            // It came back with its disk: mounted as it was (not formatted again), and its hello runs from the image
            // its cache kept there (fetched once, before the power cycle).
            var afterCycle = await Console("s005");
            Assert.Contains("data disk /dev/vda mounted on /var/lib/zerocloud", afterCycle, StringComparison.Ordinal);
            Assert.Equal(1, afterCycle.Split("data disk /dev/vda formatted").Length - 1);
            clock.Restart();
            while (!(await GetAsync("instances", ControlJsonContext.Default.InstancesResponse)).Instances.Any(i => i.Instance.Node == "rack-bios" && i.Instance.Service == "hello" && i.State is { State: InstanceState.Running, Healthy: true }))
            {
                Assert.True(clock.Elapsed < TimeSpan.FromMinutes(2), "no healthy hello on rack-bios 2 min after it came back");
                await Task.Delay(1000);
            }

            Assert.Equal(1, (await Console("s005")).Split('\n').Count(l => l.Contains("hello@sha256:", StringComparison.Ordinal) && l.Contains("fetched, verified", StringComparison.Ordinal)));

            // Without the node selector, the hello replicas may go to any node (the seed and s003 have none): the UEFI
            // machine's moves when its QEMU dies.
            await File.WriteAllTextAsync(file, Yaml.Replace("      nodeSelector: { hello: \"yes\" }\n", "", StringComparison.Ordinal));
            var (applied, applyOut, applyErr) = await RunAsync(TimeSpan.FromMinutes(1), "apply", "-f", file);
            Assert.True(applied == 0, applyOut + applyErr);
            await ShAsync($"pkill -9 -f 'qemu-system-x86_64 .*{Path.Combine(_root, "vmtest", "s004")}/'");
            clock.Restart();
            while (true)
            {
                nodes = (await GetAsync("nodes", ControlJsonContext.Default.NodesResponse)).Nodes;
                instances = (await GetAsync("instances", ControlJsonContext.Default.InstancesResponse)).Instances;
                var hello = instances.Where(i => i.Instance.Service == "hello").ToList();
                if (nodes.First(n => n.Name == "rack-uefi").Status == NodeStatus.Down && hello.Count == 4 && hello.All(i => i.Instance.Node != "rack-uefi" && i.State is { State: InstanceState.Running, Healthy: true }))
                {
                    break;
                }

                Assert.True(clock.Elapsed < TimeSpan.FromMinutes(2), $"rack-uefi is not Down with its hello elsewhere 2 min after its QEMU was killed: {string.Join("; ", hello.Select(i => $"{i.Instance.Id} on {i.Instance.Node} {i.State?.State}"))}");
                await Task.Delay(1000);
            }

            output.WriteLine($"rack-uefi Down and its hello running elsewhere {clock.Elapsed.TotalSeconds:0.0} s after its QEMU was killed");
            // The member that holds the node's grain fenced it (whichever voter that is): its log says so.
            var logs = string.Join("\n", await Task.WhenAll(Directory.GetFiles(Path.Combine(_root, "vmtest"), "*.log", SearchOption.AllDirectories).Select(f => File.ReadAllTextAsync(f))));
            Assert.Contains("node rack-uefi: fencing before it goes Down: its BMC says it is off", logs, StringComparison.Ordinal);
        }
        finally
        {
            var (down, downOut, downErr) = await RunAsync(TimeSpan.FromMinutes(2), "down");
            Assert.True(down == 0, downOut + downErr);
        }

        Assert.Equal("", (await ShAsync($"pgrep -f '[q]emu-system-x86_64.*{_root.TrimStart('/')}' || true")).Trim());
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }
}
