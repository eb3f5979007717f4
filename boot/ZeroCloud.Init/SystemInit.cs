using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using ZeroCloud.Model.Net;

namespace ZeroCloud.Init;

/// <summary>What PID 1 set up: the interface, its address, the host name, the zc.* parameters and how long each step took.</summary>
public sealed record InitResult(string Interface, MacAddress Mac, uint Address, int PrefixLength, string HostName, KernelCommandLine CommandLine, IReadOnlyDictionary<string, double> Timings);

/// <summary>
/// PID 1's duties, shared by zc-node and every service image: mount /proc, /sys, /dev (devtmpfs), /run, /tmp; load
/// the NIC modules listed in /etc/zc/modules in order (finit_module); bring up lo and the NIC; take the address from
/// <c>zc.ip=addr/prefix[,gateway]</c> or ask for one with our own DHCP client; set the host name; reap orphans; on
/// SIGTERM, on a fatal error or when the service returns, sync and power off — init never exits, so the kernel
/// never panics on it.
/// </summary>
public static class SystemInit
{
    private static readonly Stopwatch Clock = Stopwatch.StartNew();

    /// <summary>
    /// Whether this process is the init of a machine (a VM or a booted node): PID 1 and not in a container. A container
    /// runtime gives its entrypoint PID 1 too, with /proc, /dev and the network already set up and the host's kernel
    /// command line in /proc/cmdline: there the binary runs as a process with its own arguments.
    /// </summary>
    public static bool IsPid1 => Environment.ProcessId == 1 && !InContainer;

    /// <summary>
    /// Whether this process runs in a container: the OCI images set <c>ZC_RUNTIME=container</c>; podman writes
    /// /run/.containerenv and sets <c>container</c>, Docker writes /.dockerenv.
    /// </summary>
    public static bool InContainer =>
        Environment.GetEnvironmentVariable("ZC_RUNTIME") == "container"
        || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("container"))
        || File.Exists("/run/.containerenv")
        || File.Exists("/.dockerenv");

    /// <summary>What an image prints on its console when booted with <c>zc.probe</c>, just before it powers off.</summary>
    public const string ProbeLine = "zc.probe: reached init";

    /// <summary>Brings the system up, runs <paramref name="service"/>, and powers off when it ends. Does not return.</summary>
    public static int Run(string role, Func<InitResult, Task<int>> service)
    {
        try
        {
            var init = Start(role);
            var code = service(init).GetAwaiter().GetResult();
            Log($"{role} exited with {code}; powering off");
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

    private static InitResult Start(string role)
    {
        Linux.Mount("proc", "/proc", "proc");
        Linux.Mount("sysfs", "/sys", "sysfs");
        Linux.Mount("devtmpfs", "/dev", "devtmpfs");
        Linux.Mount("tmpfs", "/run", "tmpfs", "mode=0755");
        Linux.Mount("tmpfs", "/tmp", "tmpfs", "mode=1777");
        var uptime = Uptime();
        var timings = new Dictionary<string, double> { ["kernelToInit"] = uptime };
        Log($"ZeroCloud {role} is PID 1 ({uptime:0.00} s after the kernel started)");
        var files = Linux.RaiseDescriptorLimit();
        Log($"open files: {files.After} (the kernel started PID 1 with {files.Before}; every service started from here inherits it)");
        var cmdline = KernelCommandLine.Parse(File.ReadAllText("/proc/cmdline"));
        if (cmdline["probe"] is not null)
        {
            // zc.probe: a node checking that it can run VMs boots an image with it; reaching here is the answer.
            Log(ProbeLine);
            Linux.PowerOff();
        }

        PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ =>
        {
            Log("SIGTERM: syncing and powering off");
            Linux.PowerOff();
        });
        new Thread(Children.Reap) { IsBackground = true, Name = "reaper" }.Start();

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
        var (nic, mac) = WaitForNic(cmdline["mac"], TimeSpan.FromSeconds(10));
        Linux.InterfaceUp(nic);
        var name = cmdline["name"] ?? $"{role}-{mac.ToCompactString()}";
        var before = Uptime();
        uint address;
        int prefix;
        string hostname;
        if (cmdline["ip"] is { } ip)
        {
            (address, prefix, var gateway) = ParseStatic(ip);
            Linux.SetAddress(nic, address, Ipv4Subnet.MaskOf(prefix));
            if (gateway is { } gw)
            {
                Linux.AddDefaultRoute(gw);
            }

            hostname = name;
            Log($"{nic} ({mac}): {Ipv4.FromUInt32(address)}/{prefix} from zc.ip; host name {hostname}");
        }
        else
        {
            Log($"{nic} ({mac}) is up; asking for an address");
            var lease = DhcpClient.Acquire(nic, mac, name, TimeSpan.FromMinutes(2));
            Linux.SetAddress(nic, lease.Address, lease.Mask);
            if (lease.Router is { } router)
            {
                Linux.AddDefaultRoute(router);
            }

            address = lease.Address;
            prefix = 32 - (int)uint.TrailingZeroCount(lease.Mask == 0 ? 1 : lease.Mask);
            hostname = lease.HostName ?? name;
            Log($"{nic}: {Ipv4.FromUInt32(lease.Address)} from {Ipv4.FromUInt32(lease.Server)} for {lease.LeaseTime.TotalSeconds:0} s; host name {hostname}");
            var synced = Uptime();
            Log(TimeSync.Synchronise(lease.TimeServers ?? [], Linux.SetClock));
            timings["time"] = Uptime() - synced;
        }

        timings["network"] = Uptime() - before;
        Linux.SetHostname(hostname);
        return new InitResult(nic, mac, address, prefix, hostname, cmdline, timings);
    }

    /// <summary><c>10.77.0.5/24</c> or <c>10.77.0.5/24,10.77.0.1</c>.</summary>
    internal static (uint Address, int Prefix, uint? Gateway) ParseStatic(string text)
    {
        var parts = text.Split(',');
        if (!Ipv4Subnet.TryParseHost(parts[0], out var address, out var prefix))
        {
            throw new FormatException($"zc.ip={text}: write address/prefix[,gateway], such as zc.ip=10.77.0.5/24,10.77.0.1");
        }

        uint? gateway = null;
        if (parts.Length > 1)
        {
            gateway = Ipv4.TryParse(parts[1], out var gw) ? Ipv4.ToUInt32(gw) : throw new FormatException($"zc.ip={text}: \"{parts[1]}\" is not an IPv4 gateway");
        }

        return (address, prefix, gateway);
    }

    private static (string Name, MacAddress Mac) WaitForNic(string? wantedMac, TimeSpan timeout)
    {
        var until = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
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

            if (Environment.TickCount64 > until)
            {
                throw new TimeoutException($"no network interface{(wantedMac is null ? "" : $" with MAC {wantedMac}")} appeared within {timeout.TotalSeconds:0} s (is the NIC's driver in the image?)");
            }

            Thread.Sleep(100);
        }
    }

    public static double Uptime() =>
        double.Parse(File.ReadAllText("/proc/uptime").Split(' ')[0], CultureInfo.InvariantCulture);

    public static void Log(string message) =>
        Console.WriteLine($"[zc {Clock.Elapsed.TotalSeconds,7:0.000}] {message}");

    /// <summary>
    /// The command line a service image's binary runs with: its cluster.yaml fetched from <c>zc.config=&lt;url&gt;</c>
    /// into /run/zc/cluster.yaml, <c>--interface</c> the NIC PID 1 brought up, then <paramref name="defaults"/> and
    /// the arguments in <c>zc.args=</c> (<see cref="KernelArgumentList"/>).
    /// </summary>
    public static async Task<string[]> ServiceArgumentsAsync(InitResult init, params string[] defaults)
    {
        var args = new List<string>();
        if (init.CommandLine["config"] is { } url)
        {
            Directory.CreateDirectory("/run/zc");
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await File.WriteAllBytesAsync("/run/zc/cluster.yaml", await http.GetByteArrayAsync(url).ConfigureAwait(false)).ConfigureAwait(false);
                    break;
                }
                catch (HttpRequestException ex) when (attempt < 30)
                {
                    Log($"fetching zc.config={url}: {ex.Message}; trying again");
                    await Task.Delay(TimeSpan.FromSeconds(Math.Min(attempt, 5))).ConfigureAwait(false);
                }
            }

            args.AddRange(["-f", "/run/zc/cluster.yaml"]);
        }

        args.AddRange(["--interface", init.Interface]);
        args.AddRange(defaults);
        if (init.CommandLine["args"] is { Length: > 0 } extra)
        {
            args.AddRange(KernelArgumentList.Decode(extra) ?? throw new InvalidOperationException($"zc.args={extra} is not base64url (the node agent encodes the arguments)"));
        }

        return [.. args];
    }
}
