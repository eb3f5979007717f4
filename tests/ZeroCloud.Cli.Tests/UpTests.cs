using System.Diagnostics;
using Xunit.Abstractions;
using ZeroCloud.Model.Api;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Cli.Tests;

/// <summary>
/// <c>zc up</c> as a user runs it (a separate zc process, as root): five virtual bare servers PXE-boot over the lab
/// network and join; one is switched off while they boot, and zc up still finishes once the cluster healed around it
/// and names the loss; <c>zc get</c> finds the lab by itself; <c>zc down</c> leaves nothing behind, twice. A bad
/// cluster.yaml stops zc up before anything is made.
/// </summary>
[Collection("up")]
[Trait("Category", "Lab")]
public sealed class UpTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("zc-up-").FullName;

    private const string Yaml = """
        apiVersion: zerocloud.io/v1
        kind: Cluster
        metadata: { name: uptest }
        spec:
          network:
            interface: zc0
            subnet: 10.81.0.0/24
            gateway: 10.81.0.1
            dhcp: { mode: full, range: 10.81.0.100-10.81.0.200, leaseTime: 1h }
          controlPlane: { replicas: 3 }
          nodes:
            enroll: auto
            heartbeat: 500ms
            downAfter: 8s
            # Voters, dhcp and netboot run only on trusted machines: the seed and these (the first three servers).
            known:
              - { mac: "52:54:00:81:00:01", name: known-1 }
              - { mac: "52:54:00:81:00:02", name: known-2 }
              - { mac: "52:54:00:81:00:03", name: known-3 }
              # A QEMU machine of zc up --vm: the lab serves its BMC at this address, with the credentials of this secret.
              - mac: "52:54:00:81:00:06"
                name: rack-1
                bmc: { redfish: "https://10.81.0.21/redfish/v1", credentials: lab-bmc, insecureTls: true }
          services:
            - { name: dhcp, image: builtin/dhcp, replicas: 2 }
            - { name: netboot, image: builtin/netboot, replicas: 2 }
            - { name: storage, image: builtin/storage, replicas: 1 }
            - name: hello
              image: builtin/hello
              replicas: 4
              resources: { cpu: 100m, memory: 32Mi }
              spread: node
              ports: [8080]
              health: { http: /healthz, port: 8080 }
        """;

    private Process Start(params string[] args) => ZcProcess.Start(_root, args);

    private static string Sha(string path) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)));

    private async Task<NodesResponse> NodesAsync()
    {
        var (code, text, err) = await RunAsync(TimeSpan.FromMinutes(1), "get", "nodes", "--json");
        Assert.True(code == 0, text + err);
        return System.Text.Json.JsonSerializer.Deserialize(text, ControlJsonContext.Default.NodesResponse)!;
    }

    private async Task<InstancesResponse> InstancesAsync()
    {
        var (code, text, err) = await RunAsync(TimeSpan.FromMinutes(1), "get", "instances", "--json");
        Assert.True(code == 0, text + err);
        return System.Text.Json.JsonSerializer.Deserialize(text, ControlJsonContext.Default.InstancesResponse)!;
    }

    private Task<(int Code, string Out, string Err)> RunAsync(TimeSpan timeout, params string[] args) => ZcProcess.RunAsync(_root, timeout, args);

    private static Task<string> ShAsync(string command) => ZcProcess.ShAsync(command);

    [LabFact]
    public async Task A_bad_cluster_yaml_stops_zc_up_before_it_makes_anything()
    {
        var file = Path.Combine(_root, "bad.yaml");
        await File.WriteAllTextAsync(file, Yaml.Replace("range: 10.81.0.100-10.81.0.200", "range: 10.81.0.200-10.81.0.100", StringComparison.Ordinal));
        var (code, stdout, stderr) = await RunAsync(TimeSpan.FromMinutes(2), "up", "-f", file, "--nodes", "2");
        Assert.True(code == 1, stdout + stderr);
        Assert.Contains("bad.yaml:9:", stderr, StringComparison.Ordinal);
        Assert.Contains("spec.network.dhcp.range: end 10.81.0.100 is before start 10.81.0.200", stderr, StringComparison.Ordinal);
        Assert.Contains("nothing was started", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("zc-uptest-", await ShAsync("ip netns list"), StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_root, "uptest")));
    }

    [LabFact]
    public async Task Zc_up_boots_five_servers_finishes_around_one_switched_off_and_zc_down_leaves_nothing()
    {
        var file = Path.Combine(_root, "cluster.yaml");
        await File.WriteAllTextAsync(file, Yaml);
        using var up = Start("up", "-f", file, "--nodes", "6", "--vm", "1", "--timeout", "300");
        var lines = new List<string>();
        var errors = new List<string>();
        var poweringOn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        up.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (lines)
            {
                lines.Add(e.Data);
            }

            if (e.Data.Contains("powering on", StringComparison.Ordinal))
            {
                poweringOn.TrySetResult();
            }
        };
        up.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (errors)
                {
                    errors.Add(e.Data);
                }
            }
        };
        up.BeginOutputReadLine();
        up.BeginErrorReadLine();
        var failed = true;
        try
        {
            // The first build of the node image takes minutes; then the servers are powered on. s005 is switched off
            // as soon as it runs (before it could boot).
            var first = await Task.WhenAny(poweringOn.Task, up.WaitForExitAsync(), Task.Delay(TimeSpan.FromMinutes(8)));
            Assert.True(first == poweringOn.Task, "zc up did not power the servers on:\n" + string.Join("\n", lines) + "\n" + string.Join("\n", errors));
            // Its start is setsid forking zc-node: kill whatever runs there for two seconds from the first sight.
            var killed = false;
            var since = Stopwatch.StartNew();
            for (var i = 0; i < 200 && (!killed || since.Elapsed < TimeSpan.FromSeconds(2)); i++)
            {
                var pids = (await ShAsync("ip netns pids zc-uptest-s005")).Trim();
                if (pids.Length > 0)
                {
                    await ShAsync($"kill -9 {pids.Replace('\n', ' ')}");
                    since = killed ? since : Stopwatch.StartNew();
                    killed = true;
                }

                await Task.Delay(20);
            }

            Assert.True(killed, "s005 never ran");
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(6));
            await up.WaitForExitAsync(timeout.Token);
            var text = string.Join("\n", lines);
            output.WriteLine(text);
            Assert.True(up.ExitCode == 0, text + "\n" + string.Join("\n", errors));
            Assert.Contains("zc up: cluster uptest is up: 6 nodes Ready", text, StringComparison.Ordinal);
            Assert.Contains("(1 of them QEMU machines: s006 UEFI with a BMC at https://10.81.0.21/redfish/v1)", text, StringComparison.Ordinal);
            Assert.Contains("lost on the way: s005", text, StringComparison.Ordinal);

            // zc get finds the lab without --server; the cluster has its three voters on distinct nodes.
            var (code, nodes, err) = await RunAsync(TimeSpan.FromMinutes(1), "get", "nodes");
            Assert.True(code == 0, nodes + err);
            Assert.Equal(6, nodes.Split('\n').Count(l => l.Contains(" Ready ", StringComparison.Ordinal)));
            var (_, members, _) = await RunAsync(TimeSpan.FromMinutes(1), "get", "members");
            Assert.Equal(3, members.Split('\n').Count(l => l.Contains("available", StringComparison.Ordinal)));

            // A node that joined a moment ago is known to storage at once: no agent's first image fetch was refused
            // (401) because the storage instance's list of nodes was older than the node (it waited 3 s to try again).
            foreach (var log in Directory.GetFiles(Path.Combine(_root, "uptest"), "node.log", SearchOption.AllDirectories))
            {
                var logText = await File.ReadAllTextAsync(log);
                Assert.False(logText.Contains(":8890: 401", StringComparison.Ordinal), $"{log}: storage refused a node's certificate:\n{logText}");
            }

            // A second zc up says so and changes nothing.
            var (again, _, againErr) = await RunAsync(TimeSpan.FromMinutes(1), "up", "-f", file);
            Assert.Equal(1, again);
            Assert.Contains("already running", againErr, StringComparison.Ordinal);

            // Every server runs the zc-node of the node image it PXE-booted (unpacked from the initrd its firmware
            // fetched and checked against the signed manifest), in a mount namespace that shows none of the seed's
            // files, the repository or the build folder.
            var repo = ZeroCloud.Lab.Repository.Root()!;
            var built = Path.Combine(repo, ".build", "out");
            var agentSha = Sha(Path.Combine(built, ".publish", "node", "zc-node"));
            var all = (await NodesAsync()).Nodes;
            Assert.All(all.Where(n => n.Status == NodeStatus.Ready && n.Name != "seed"), n => Assert.EndsWith($"sha256:{agentSha}", n.Agent ?? "(none)", StringComparison.Ordinal));
            var agentPid = (await ShAsync("ip netns pids zc-uptest-s001")).Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .First(p => ShAsync($"readlink /proc/{p.Trim()}/exe").Result.Trim() == Path.Combine(_root, "uptest", "s001", "node", "boot", "init")).Trim();
            Assert.Equal("", (await ShAsync($"nsenter -t {agentPid} -m ls -A {repo}")).Trim());
            Assert.Equal("s001", (await ShAsync($"nsenter -t {agentPid} -m ls -A {Path.Combine(_root, "uptest")}")).Trim());
            Assert.Equal("", (await ShAsync($"nsenter -t {agentPid} -m ls -A /var/lib/zerocloud")).Trim());

            // A node image whose agent is another binary (a marker appended to zc-node: the same program, another
            // digest) is pushed; a server reset PXE-boots it and reports that agent.
            var distinctBinary = Path.Combine(_root, "zc-node-distinct");
            File.Copy(Path.Combine(built, ".publish", "node", "zc-node"), distinctBinary);
            await File.AppendAllTextAsync(distinctBinary, "zc up test: a distinct agent\n");
            var (kernel, modules) = ZeroCloud.Boot.ImageBuilder.DistroKernel();
            var distinctOut = Path.Combine(_root, "distinct");
            ZeroCloud.Boot.ImageBuilder.Build(new ZeroCloud.Boot.ImageSpec("node", distinctBinary, kernel, modules, "0.0.1-distinct", "console=ttyS0"), Path.Combine(distinctOut, "images", "node"));
            var (pushed, pushOut, pushErr) = await RunAsync(TimeSpan.FromMinutes(3), "image", "push", "node", "-o", distinctOut);
            Assert.True(pushed == 0, pushOut + pushErr);
            Assert.Contains("pushed node 0.0.1-distinct", pushOut, StringComparison.Ordinal);
            var (lsCode, catalogue, _) = await RunAsync(TimeSpan.FromMinutes(1), "image", "ls");
            output.WriteLine(catalogue);
            Assert.True(lsCode == 0 && catalogue.Contains("0.0.1-distinct", StringComparison.Ordinal) && catalogue.Contains("retired", StringComparison.Ordinal), catalogue);
            var distinctSha = Sha(distinctBinary);
            var (rebooted, rebootOut, rebootErr) = await RunAsync(TimeSpan.FromMinutes(1), "lab", "reboot", "s002");
            Assert.True(rebooted == 0, rebootOut + rebootErr);
            var resetClock = Stopwatch.StartNew();
            NodeDto? known2 = null;
            while (known2?.Agent?.EndsWith(distinctSha, StringComparison.Ordinal) != true || known2.Status != NodeStatus.Ready)
            {
                Assert.True(resetClock.Elapsed < TimeSpan.FromMinutes(2), $"s002 does not report the pushed agent {distinctSha} after 2 min: {known2}\n{await ShAsync($"tail -20 {Path.Combine(_root, "uptest", "s002", "node.log")}")}");
                await Task.Delay(500);
                known2 = (await NodesAsync()).Nodes.FirstOrDefault(n => n.Name == "known-2");
            }

            output.WriteLine($"s002 reset, PXE-booted the pushed node image and runs its agent after {resetClock.Elapsed.TotalSeconds:0.0} s: {known2.Agent}");

            // A real machine: s006 is a QEMU machine (zc up --vm 1: OVMF, QEMU's iPXE ROM, a virtio disk, one vCPU) that
            // PXE-booted during zc up from the cluster's dhcp and netboot, with zc-node as PID 1. Its BMC (the lab's
            // Redfish over QMP, at the address cluster.yaml names) power-cycles it: with the seed's build folder gone
            // (moved away and back) it PXE-boots again, now the pushed node image from the store, joins under the same
            // name, is given a hello replica (scaled to one per node) and runs it from the image it fetched.
            var events = Path.Combine(_root, "uptest", "s006", "events.jsonl");
            var console = Path.Combine(_root, "uptest", "s006", "console.log");
            Assert.Contains(all, n => n.Name == "rack-1" && n.Status == NodeStatus.Ready && n.Mac == "52:54:00:81:00:06");
            Assert.Equal(1, ZeroCloud.Model.Api.BootEvent.ReadAll(await File.ReadAllTextAsync(events)).Count(e => e.Phase == ZeroCloud.Model.Api.BootPhase.Booted));
            Assert.Contains("-M q35 -drive if=pflash", await ShAsync($"cat /proc/$(pgrep -f '[q]emu-system-x86_64 .*{Path.Combine(_root, "uptest", "s006")}/' | head -1)/cmdline | tr '\\0' ' '"), StringComparison.Ordinal);
            Directory.Move(built, built + ".away");
            try
            {
                var (cycled, cycleOut, cycleErr) = await RunAsync(TimeSpan.FromMinutes(2), "power", "cycle", "rack-1");
                output.WriteLine(cycleOut);
                Assert.True(cycled == 0, cycleOut + cycleErr);
                Assert.Contains("via redfish https://10.81.0.21/redfish/v1: succeeded, power is on", cycleOut, StringComparison.Ordinal);
                var booting = Stopwatch.StartNew();
                NodeDto? machine = null;
                // Ready with the pushed agent, and reporting what it can run: the catalogue's images.
                while (machine?.Status != NodeStatus.Ready || machine.Agent?.EndsWith(distinctSha, StringComparison.Ordinal) != true || !(machine.Images ?? []).Contains("builtin/hello"))
                {
                    Assert.True(booting.Elapsed < TimeSpan.FromMinutes(4), $"the QEMU machine is not a Ready node with the pushed agent 4 min after its power cycle: {machine}\n--- its console ---\n{await ShAsync($"tail -c 3000 {console}")}");
                    await Task.Delay(1000);
                    machine = (await NodesAsync()).Nodes.FirstOrDefault(n => n.Name == "rack-1");
                }

                output.WriteLine($"QEMU machine power-cycled through its BMC, PXE-booted the pushed node image and Ready after {booting.Elapsed.TotalSeconds:0.0} s: {machine}");
                Assert.True(ZeroCloud.Model.Api.BootEvent.ReadAll(await File.ReadAllTextAsync(events)).Count(e => e.Phase == ZeroCloud.Model.Api.BootPhase.Booted) >= 2, await File.ReadAllTextAsync(events));

                var ready = (await NodesAsync()).Nodes.Count(n => n.Status == NodeStatus.Ready);
                await File.WriteAllTextAsync(file, Yaml.Replace("replicas: 4", $"replicas: {ready}", StringComparison.Ordinal));
                var (applied, applyOut, applyErr) = await RunAsync(TimeSpan.FromMinutes(1), "apply", "-f", file);
                Assert.True(applied == 0, applyOut + applyErr);
                var scaling = Stopwatch.StartNew();
                InstanceView? hello = null;
                while (hello?.State is not { State: InstanceState.Running, Healthy: true })
                {
                    Assert.True(scaling.Elapsed < TimeSpan.FromMinutes(3), $"no healthy hello on the QEMU machine after 3 min: {hello?.Instance} {hello?.State}\n--- its console ---\n{await ShAsync($"tail -c 3000 {console}")}");
                    await Task.Delay(1000);
                    hello = (await InstancesAsync()).Instances.FirstOrDefault(v => v.Instance.Node == "rack-1" && v.Instance.Service == "hello");
                }

                output.WriteLine($"hello runs on the QEMU machine {scaling.Elapsed.TotalSeconds:0.0} s after the scale-up: {hello.State}");
                var answer = await ShAsync($"ip netns exec zc-uptest-seed curl -s -m 10 http://{machine.Address}:8080/");
                Assert.False(string.IsNullOrWhiteSpace(answer), "curl of the QEMU machine's hello said nothing");
                output.WriteLine($"curl http://{machine.Address}:8080/ → {answer.Trim()}");
            }
            finally
            {
                Directory.Move(built + ".away", built);
            }

            failed = false;
        }
        finally
        {
            // zc down runs either way; its checks only where the test got that far (not over the test's own failure).
            var (code, downOut, downErr) = await RunAsync(TimeSpan.FromMinutes(2), "down");
            if (!failed)
            {
                Assert.True(code == 0, downOut + downErr);
                Assert.Contains("zc down: cluster uptest: stopped", downOut, StringComparison.Ordinal);
            }
        }

        Assert.DoesNotContain("zc-uptest-", await ShAsync("ip netns list"), StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_root, "uptest")));
        // "[/]" so that the pattern does not match the shell that runs pgrep.
        Assert.Equal("", (await ShAsync($"pgrep -f '[/]{_root.TrimStart('/')}/uptest' || true")).Trim());
        var (twice, twiceOut, _) = await RunAsync(TimeSpan.FromMinutes(1), "down");
        Assert.Equal(0, twice);
        Assert.Contains("no lab to remove", twiceOut, StringComparison.Ordinal);
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
