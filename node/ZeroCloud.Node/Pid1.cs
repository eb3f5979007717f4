using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Net;

namespace ZeroCloud.Node;

/// <summary>
/// What the binary does as /init of an initramfs: mount the kernel file systems, load the NIC modules, bring up
/// lo and the NIC, get an address with its own DHCP client, set the host name, read zc.* from the kernel command
/// line, say hello, reap orphans, and power off cleanly on SIGTERM or on a fatal error — init never exits, so the
/// kernel never panics on it.
/// </summary>
internal static class Pid1
{
    private static readonly Stopwatch Clock = Stopwatch.StartNew();

    public static int Run()
    {
        try
        {
            Boot().GetAwaiter().GetResult();
        }
#pragma warning disable CA1031 // PID 1 must not die: report, then power off
        catch (Exception ex)
#pragma warning restore CA1031
        {
            for (var e = ex; e is not null; e = e.InnerException)
            {
                Log($"fatal: {e.GetType().Name}: {e.Message}");
            }

            Log(ex.StackTrace ?? "");
            Log("powering off");
        }

        Linux.PowerOff();
        Thread.Sleep(Timeout.Infinite);
        return 1;
    }

    private static async Task Boot()
    {
        Linux.Mount("proc", "/proc", "proc");
        Linux.Mount("sysfs", "/sys", "sysfs");
        Linux.Mount("devtmpfs", "/dev", "devtmpfs");
        Linux.Mount("tmpfs", "/run", "tmpfs", "mode=0755");
        Linux.Mount("tmpfs", "/tmp", "tmpfs", "mode=1777");
        var uptime = Uptime();
        var timings = new Dictionary<string, double> { ["kernelToInit"] = uptime };
        Log($"ZeroCloud node agent {typeof(Pid1).Assembly.GetName().Version} is PID 1 ({uptime:0.00} s after the kernel started)");

        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ =>
        {
            Log("SIGTERM: syncing and powering off");
            Linux.PowerOff();
        });
        var reaper = new Thread(Reap) { IsBackground = true, Name = "reaper" };
        reaper.Start();

        var cmdline = KernelCommandLine.Parse(File.ReadAllText("/proc/cmdline"));
        foreach (var module in File.Exists("/etc/zc/modules") ? File.ReadAllLines("/etc/zc/modules") : [])
        {
            if (module.Length > 0)
            {
                Linux.LoadModule(module);
            }
        }

        timings["modules"] = Uptime() - uptime;
        Linux.InterfaceUp("lo");
        Linux.SetAddress("lo", 0x7F000001, 0xFF000000);
        var nic = await WaitForNic(cmdline["mac"], TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        Linux.InterfaceUp(nic.Name);
        Log($"{nic.Name} ({nic.Mac}) is up; asking for an address");
        var before = Uptime();
        var name = cmdline["name"] ?? $"node-{nic.Mac.ToCompactString()}";
        var lease = DhcpClient.Acquire(nic.Name, nic.Mac, name, TimeSpan.FromMinutes(2));
        timings["dhcp"] = Uptime() - before;
        Linux.SetAddress(nic.Name, lease.Address, lease.Mask);
        if (lease.Router is { } router)
        {
            Linux.AddDefaultRoute(router);
        }

        var hostname = lease.HostName ?? name;
        Linux.SetHostname(hostname);
        Log($"{nic.Name}: {Ipv4.FromUInt32(lease.Address)} from {Ipv4.FromUInt32(lease.Server)} for {lease.LeaseTime.TotalSeconds:0} s; host name {hostname}");

        var join = (cmdline["join"] ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries);
        if (join.Length == 0)
        {
            Log("no zc.join= on the kernel command line: nothing to join; waiting");
            Thread.Sleep(Timeout.Infinite);
        }

        var inventory = Inventory.Collect();
        timings["initToHello"] = Uptime() - uptime;
        var hello = new NodeHello(nic.Mac.ToString(), hostname, cmdline["token"], Ipv4.FromUInt32(lease.Address).ToString(), inventory, timings);
        var url = await Hello.SendAsync(join, hello, TimeSpan.FromMinutes(10), Log).ConfigureAwait(false);
        Log($"hello accepted by {url} ({inventory.Cpus} CPUs, {inventory.MemoryBytes >> 20} MiB, {inventory.Nics.Count} NICs, {inventory.Disks.Count} disks; {Uptime():0.00} s since the kernel started)");

        // The agent's later duties (heartbeats, instances) come with the control plane; PID 1 must stay.
        Thread.Sleep(Timeout.Infinite);
    }

    private static async Task<(string Name, MacAddress Mac)> WaitForNic(string? wantedMac, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (true)
        {
            foreach (var dir in Directory.GetDirectories("/sys/class/net").Order(StringComparer.Ordinal))
            {
                var name = Path.GetFileName(dir);
                if (name == "lo" || !MacAddress.TryParse(File.ReadAllText(Path.Combine(dir, "address")).Trim(), out var mac))
                {
                    continue;
                }

                if (wantedMac is null || (MacAddress.TryParse(wantedMac, out var wanted) && wanted == mac))
                {
                    return (name, mac);
                }
            }

            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException($"no network interface{(wantedMac is null ? "" : $" with MAC {wantedMac}")} appeared within {timeout.TotalSeconds:0} s (is the NIC's driver in the image?)");
            }

            await Task.Delay(100).ConfigureAwait(false);
        }
    }

    private static void Reap()
    {
        while (true)
        {
            if (!Linux.ReapOne())
            {
                Thread.Sleep(1000); // no children yet
            }
        }
    }

    private static double Uptime() =>
        double.Parse(File.ReadAllText("/proc/uptime").Split(' ')[0], CultureInfo.InvariantCulture);

    public static void Log(string message) =>
        Console.WriteLine($"[zc-node {Clock.Elapsed.TotalSeconds,7:0.000}] {message}");
}
