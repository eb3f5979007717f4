using System.Diagnostics;
using Xunit.Abstractions;
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
            downAfter: 3s
            # Voters, dhcp and netboot run only on trusted machines: the seed and these (the first three servers).
            known:
              - { mac: "52:54:00:81:00:01", name: known-1 }
              - { mac: "52:54:00:81:00:02", name: known-2 }
              - { mac: "52:54:00:81:00:03", name: known-3 }
          services:
            - { name: dhcp, image: builtin/dhcp, replicas: 2 }
            - { name: netboot, image: builtin/netboot, replicas: 2 }
            - name: hello
              image: builtin/hello
              replicas: 4
              resources: { cpu: 100m, memory: 32Mi }
              spread: node
              ports: [8080]
              health: { http: /healthz, port: 8080 }
        """;

    private Process Start(params string[] args) => ZcProcess.Start(_root, args);

    private Task<(int Code, string Out, string Err)> RunAsync(TimeSpan timeout, params string[] args) => ZcProcess.RunAsync(_root, timeout, args);

    private static async Task<string> ShAsync(string command)
    {
        var psi = new ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(command);
        using var p = Process.Start(psi)!;
        var text = await p.StandardOutput.ReadToEndAsync() + await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return text;
    }

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
        using var up = Start("up", "-f", file, "--nodes", "5", "--timeout", "300");
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
            Assert.Contains("zc up: cluster uptest is up: 5 nodes Ready", text, StringComparison.Ordinal);
            Assert.Contains("lost on the way: s005", text, StringComparison.Ordinal);

            // zc get finds the lab without --server; the cluster has its three voters on distinct nodes.
            var (code, nodes, err) = await RunAsync(TimeSpan.FromMinutes(1), "get", "nodes");
            Assert.True(code == 0, nodes + err);
            Assert.Equal(5, nodes.Split('\n').Count(l => l.Contains(" Ready ", StringComparison.Ordinal)));
            var (_, members, _) = await RunAsync(TimeSpan.FromMinutes(1), "get", "members");
            Assert.Equal(3, members.Split('\n').Count(l => l.Contains("available", StringComparison.Ordinal)));

            // A second zc up says so and changes nothing.
            var (again, _, againErr) = await RunAsync(TimeSpan.FromMinutes(1), "up", "-f", file);
            Assert.Equal(1, again);
            Assert.Contains("already running", againErr, StringComparison.Ordinal);

            // A real machine joins the running cluster: QEMU (TCG) with the iPXE ROM on the lab's bridge PXE-boots
            // from the cluster's dhcp and netboot instances, runs the node image with zc-node as PID 1, and becomes
            // a Ready node. It reports no images (the node image carries only the agent), so it is given nothing.
            const string mac = "52:54:00:aa:bb:01";
            var console = Path.Combine(_root, "qemu-console.log");
            await ShAsync("ip -n zc-uptest-sw tuntap add zcq0 mode tap && ip -n zc-uptest-sw link set zcq0 master br0 up");
            await ShAsync($"ip netns exec zc-uptest-sw setsid -f qemu-system-x86_64 -accel tcg -M pc -m 512 -display none -no-reboot -serial file:{console} -netdev tap,id=n0,ifname=zcq0,script=no,downscript=no -device virtio-net-pci,netdev=n0,mac={mac} -boot n >/dev/null 2>&1 </dev/null");
            var booting = Stopwatch.StartNew();
            var machine = "";
            while (!machine.Contains(" Ready ", StringComparison.Ordinal))
            {
                Assert.True(booting.Elapsed < TimeSpan.FromMinutes(4), $"the QEMU machine is not a Ready node after 4 min: {machine}\n--- its console ---\n{(File.Exists(console) ? await File.ReadAllTextAsync(console) : "(none)")}");
                await Task.Delay(1000);
                var (_, all, _) = await RunAsync(TimeSpan.FromMinutes(1), "get", "nodes");
                machine = all.Split('\n').FirstOrDefault(l => l.StartsWith("node-525400aabb01", StringComparison.Ordinal)) ?? "";
            }

            output.WriteLine($"QEMU machine PXE-booted into the zc up cluster and Ready after {booting.Elapsed.TotalSeconds:0.0} s: {machine}");
            var (_, placed, _) = await RunAsync(TimeSpan.FromMinutes(1), "get", "instances");
            Assert.DoesNotContain("node-525400aabb01", placed, StringComparison.Ordinal);
        }
        finally
        {
            var (code, downOut, downErr) = await RunAsync(TimeSpan.FromMinutes(2), "down");
            Assert.True(code == 0, downOut + downErr);
            Assert.Contains("zc down: cluster uptest: stopped", downOut, StringComparison.Ordinal);
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
