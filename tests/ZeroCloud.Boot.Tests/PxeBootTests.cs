using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Xunit.Abstractions;
using ZeroCloud.Lab;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Boot.Tests;

/// <summary>
/// The real boot: a QEMU machine whose iPXE ROM PXE-boots from zc-dhcp and zc-netboot in a namespace lab, runs
/// the node image's kernel and initramfs, and zc-node as PID 1 says hello with its inventory, then joins the control
/// plane that netboot put on its kernel command line (zc.control, zc.token) and becomes a Ready node there. It claims
/// its blank virtio disk (spec.nodes.disks: mkfs.ext4 inside the guest, mounted on /var/lib/zerocloud), and after a
/// reboot (QEMU killed and started again on the same disk image) comes back as the same node with its data: the disk
/// is mounted, not formatted, and the agent uses the node key it enrolled with on the first boot.
/// </summary>
[Collection("lab")]
public sealed partial class PxeBootTests(ITestOutputHelper output)
{
    private const string Mac = "52:54:00:00:00:01";
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(4);

    [LabFact]
    public async Task A_qemu_machine_pxe_boots_into_zc_node_says_hello_and_becomes_a_ready_node_of_the_control_plane()
    {
        var id = "";
        var console = "";
        await using (var lab = await NetnsLab.CreateAsync("srv"))
        {
            id = lab.Id;
            await lab.AddressAsync("srv", "10.77.0.2/24");
            await lab.TapAsync("tap0");

            // The node image, built as `zc image build node` does: zc-node published with NativeAOT, then packed.
            var clock = Stopwatch.StartNew();
            var publish = lab.PathOf("publish");
            var (code, log) = await lab.RunAsync("srv", TimeSpan.FromMinutes(5), "dotnet", "publish", RepoPath("node", "ZeroCloud.Node"), "-c", "Release", "-r", "linux-x64", "-o", publish, "-nologo", "-v", "q");
            Assert.True(code == 0, log);
            var (kernel, modules) = ImageBuilder.DistroKernel();
            var root = lab.PathOf("root");
            var manifest = ImageBuilder.Build(NodeImage.With(new ImageSpec("node", Path.Combine(publish, "zc-node"), kernel, modules, "test", "console=ttyS0")), Path.Combine(root, "images", "node"));
            output.WriteLine($"image built in {clock.Elapsed.TotalSeconds:0.0} s: vmlinuz {manifest.Files[0].Size:N0} bytes, initrd {manifest.Files[1].Size:N0} bytes, zc-node {manifest.BinarySize:N0} bytes");

            var config = lab.PathOf("cluster.yaml");
            await File.WriteAllTextAsync(config, $$"""
                apiVersion: zerocloud.io/v1
                kind: Cluster
                metadata: { name: lab }
                spec:
                  network: { interface: eth0, subnet: 10.77.0.0/24, gateway: 10.77.0.1, dhcp: { range: 10.77.0.100-10.77.0.150 } }
                  nodes:
                    enroll: known
                    known: [ { mac: "{{Mac}}", name: node-01 } ]
                    disks: [ { minSize: 32Mi, type: hdd } ]
                """);
            var disk = lab.PathOf("disk.img");
            await using (var blank = File.Create(disk))
            {
                blank.SetLength(64L << 20);
            }
            // A one-member control plane with the spec applied; netboot puts it and its join token on the command line.
            const string server = "https://10.77.0.2:7070";
            var zc = Repository.Built("cli", "ZeroCloud.Cli", "zc.dll");
            var control = lab.Start("srv", "dotnet", zc, "serve", "control", "--data", lab.PathOf("control"), "--listen", "10.77.0.2:7070", "--bootstrap");
            await control.WaitForLineAsync(l => l.Contains("Orleans silo started", StringComparison.Ordinal), Deadline, what: "the control plane's silo");
            // zc speaks with the admin credentials file the bootstrapped member wrote.
            var credentials = $"ZC_CREDENTIALS={await NetnsLab.CredentialsFileAsync(lab.PathOf("control"))}";
            (code, log) = await lab.RunAsync("srv", Deadline, "env", credentials, "dotnet", zc, "apply", "-f", config, "--server", server);
            Assert.True(code == 0, log);
            (code, log) = await lab.RunAsync("srv", Deadline, "env", credentials, "dotnet", zc, "get", "tokens", "--json", "--server", server);
            Assert.True(code == 0, log);
            var tokens = System.Text.Json.JsonSerializer.Deserialize(log, ZeroCloud.Model.Api.ControlJsonContext.Default.TokensResponse)!;
            var token = $"{tokens.Tokens[0].Id}.{tokens.Tokens[0].Secret}";

            var dhcp = lab.Start("srv", "dotnet", NetnsLab.ServiceBinary("ZeroCloud.Dhcp.Service", "zc-dhcp.dll"), "-f", config, "--data", lab.PathOf("dhcp"));
            var netboot = lab.Start("srv", "dotnet", NetnsLab.ServiceBinary("ZeroCloud.Netboot.Service", "zc-netboot.dll"), "-f", config, "--root", root, "--join", "http://10.77.0.2:8080", "--control", server, "--ca-file", Path.Combine(lab.PathOf("control"), "pki", "root.crt"), "--token", token);
            await dhcp.WaitForLineAsync(l => l.Contains("dhcp: full mode on eth0", StringComparison.Ordinal), Deadline, what: "the DHCP server");
            await netboot.WaitForLineAsync(l => l.Contains("http: serving", StringComparison.Ordinal), Deadline, what: "the netboot server");

            console = lab.PathOf("console.log");
            var started = DateTime.Now;
            LabProcess PowerOn(string serial) => lab.Start("sw", "qemu-system-x86_64", "-accel", "tcg", "-M", "pc", "-m", "512", "-display", "none", "-no-reboot",
                "-serial", $"file:{serial}", "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
                "-device", $"virtio-net-pci,netdev=n0,mac={Mac}", "-boot", "n", "-drive", $"file={disk},if=virtio,format=raw");
            var machine = PowerOn(console);
            try
            {
                await netboot.WaitForLineAsync(l => l.Contains($"nodes: hello from node-01 ({Mac})", StringComparison.Ordinal), Deadline, what: "the machine's hello");
            }
            catch (TimeoutException ex)
            {
                Assert.Fail($"{ex.Message}\n--- the machine's console ---\n{(File.Exists(console) ? await File.ReadAllTextAsync(console) : "(none)")}");
            }

            var (_, nodes) = await lab.RunAsync("srv", Deadline, "curl", "-sS", "-H", $"Authorization: Bearer {token}", "http://10.77.0.2:8080/v1/nodes");
            Assert.Contains($"\"mac\": \"{Mac}\"", nodes, StringComparison.Ordinal);
            Assert.Contains("\"name\": \"node-01\"", nodes, StringComparison.Ordinal);
            Assert.Contains("\"cpus\": 1", nodes, StringComparison.Ordinal);
            Assert.Matches("\"memoryBytes\": [1-9][0-9]{8}", nodes);
            Assert.Contains("\"name\": \"eth0\"", nodes, StringComparison.Ordinal);
            Assert.Contains("\"kernelToInit\"", nodes, StringComparison.Ordinal);
            Assert.DoesNotContain(token, nodes, StringComparison.Ordinal);

            // Then it joins the control plane as node-01 and heartbeats: Ready there.
            var ready = Stopwatch.StartNew();
            var status = "";
            while (status != "Ready")
            {
                if (ready.Elapsed > TimeSpan.FromMinutes(2))
                {
                    Assert.Fail($"node-01 is not Ready in the control plane ({status}) 2 min after its hello\n--- the machine's console ---\n{await File.ReadAllTextAsync(console)}\n--- control ---\n{control.Output}");
                }

                await Task.Delay(500);
                (code, log) = await lab.RunAsync("srv", Deadline, "env", credentials, "dotnet", zc, "get", "nodes", "--json", "--server", server);
                status = code == 0 ? System.Text.Json.JsonSerializer.Deserialize(log, ZeroCloud.Model.Api.ControlJsonContext.Default.NodesResponse)!.Nodes.FirstOrDefault(n => n.Name == "node-01")?.Status.ToString() ?? "" : "";
            }

            output.WriteLine($"hello to Ready in the control plane: {ready.Elapsed.TotalSeconds:0.0} s");

            async Task<ZeroCloud.Model.Api.NodeDto?> NodeAsync()
            {
                var (c, o) = await lab.RunAsync("srv", Deadline, "env", credentials, "dotnet", zc, "get", "nodes", "--json", "--server", server);
                return c == 0 ? System.Text.Json.JsonSerializer.Deserialize(o, ZeroCloud.Model.Api.ControlJsonContext.Default.NodesResponse)!.Nodes.FirstOrDefault(n => n.Name == "node-01") : null;
            }

            async Task<ZeroCloud.Model.Api.NodeDto> DiskAsync(string serial, string what)
            {
                for (var wait = Stopwatch.StartNew(); ; await Task.Delay(1000))
                {
                    if (await NodeAsync() is { Status: ZeroCloud.Model.Api.NodeStatus.Ready, Persistent: true, Disk: { } d } node && d.StartsWith("vda: 64 MiB ext4 \"zerocloud\" at /var/lib/zerocloud", StringComparison.Ordinal))
                    {
                        return node;
                    }

                    if (wait.Elapsed > TimeSpan.FromMinutes(2))
                    {
                        Assert.Fail($"{what}: node-01 reports no data disk: {(await NodeAsync())?.Disk}\n--- the machine's console ---\n{await File.ReadAllTextAsync(serial)}");
                    }
                }
            }

            // It claimed its blank virtio disk: formatted inside the guest, mounted on its data folder.
            var claimed = await DiskAsync(console, "first boot");
            Assert.Contains(claimed.Disks!, d => d.StartsWith("vda 64 MiB hdd", StringComparison.Ordinal));
            Assert.Contains("formatting /dev/vda (64 MiB) as this node's data disk", await File.ReadAllTextAsync(console), StringComparison.Ordinal);

            // Reboot: the machine goes off and PXE-boots again on the same disk; it comes back as node-01 with its data.
            await machine.StopAsync(TimeSpan.Zero);
            var second = lab.PathOf("console-2.log");
            var rebooted = Stopwatch.StartNew();
            machine = PowerOn(second);
            var secondText = "";
            while (!secondText.Contains("data disk /dev/vda", StringComparison.Ordinal) && !secondText.Contains("no data disk", StringComparison.Ordinal))
            {
                if (rebooted.Elapsed > Deadline)
                {
                    Assert.Fail($"the rebooted machine's agent said nothing about its disk in {Deadline.TotalMinutes} min\n--- its console ---\n{secondText}");
                }

                await Task.Delay(1000);
                secondText = File.Exists(second) ? await File.ReadAllTextAsync(second) : "";
            }

            await DiskAsync(second, "after the reboot");
            secondText = await File.ReadAllTextAsync(second);
            Assert.Contains("data disk /dev/vda mounted on /var/lib/zerocloud", secondText, StringComparison.Ordinal);
            Assert.DoesNotContain("formatting /dev/vda", secondText, StringComparison.Ordinal);
            Assert.Contains("using the node key node-01 enrolled with before", secondText, StringComparison.Ordinal);
            output.WriteLine($"reboot to Ready with its disk: {rebooted.Elapsed.TotalSeconds:0.0} s");

            // The phases, from the servers' own log lines (their clock is this machine's).
            DateTime At(LabProcess p, string text) => DateTime.ParseExact(p.Output.Split('\n').First(l => l.Contains(text, StringComparison.Ordinal))[..12], "HH:mm:ss.fff", CultureInfo.InvariantCulture);
            var script = At(netboot, "GET /boot/");
            var initrd = At(netboot, "GET /images/node/initrd.img");
            var hello = At(netboot, "nodes: hello from");
            var consoleText = await File.ReadAllTextAsync(console);
            // PID 1 took its time from the DHCP server's SNTP (option 42) before joining.
            Assert.Matches(@"time: [-0-9.]+ m?s from 10\.77\.0\.2 \(round trip", consoleText);
            output.WriteLine(consoleText.Split('\n').First(l => l.Contains("time: ", StringComparison.Ordinal)).Trim());
            var toInit = KernelToInit().Match(consoleText);
            output.WriteLine($"QEMU start to script request (firmware, iPXE, DHCP): {(script - started).TotalSeconds:0.0} s");
            output.WriteLine($"script to initrd fetched (kernel + initrd over HTTP): {(initrd - script).TotalSeconds:0.0} s");
            output.WriteLine($"initrd fetched to hello (kernel boot, PID 1, DHCP, hello): {(hello - initrd).TotalSeconds:0.0} s; the guest's clock: /init at {(toInit.Success ? toInit.Groups[1].Value : "?")} s");
            output.WriteLine($"QEMU start to hello: {(hello - started).TotalSeconds:0.0} s");
        }

        // Nothing of the lab is left: no namespace, no tap or bridge (they lived in the switch namespace), no QEMU.
        var (_, namespaces) = await RunAsync("ip", "netns", "list");
        Assert.DoesNotContain(id, namespaces, StringComparison.Ordinal);
        var (_, processes) = await RunAsync("pgrep", "-af", "qemu-system");
        Assert.DoesNotContain(console, processes, StringComparison.Ordinal);
    }

    private static async Task<(int, string)> RunAsync(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var p = Process.Start(info)!;
        var text = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, text);
    }

    internal static string RepoPath(params string[] parts) => Repository.PathOf(parts);

    [GeneratedRegex(@"is PID 1 \(([\d.]+) s after the kernel started\)")]
    private static partial Regex KernelToInit();
}
