using System.Globalization;
using System.Net;
using System.Text;
using ZeroCloud.Lab;
using ZeroCloud.Lab.Bmc;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Cli.Up;

/// <summary>
/// A QEMU machine of <c>zc up --vm N</c>, run by <c>zc lab machine</c> inside the server's namespace: its NIC's cable is
/// the namespace's veth, bridged (<c>br0</c>) with the tap QEMU uses, so the guest (with the server's MAC) sits on the
/// lab's LAN like a rack server. Firmware is SeaBIOS or OVMF, each with QEMU's iPXE ROM for its virtio NIC; a blank
/// virtio disk of its own; the serial console appended to <c>console.log</c>. The lab's BMC for it (Redfish over QMP,
/// <see cref="LabBmc"/>) listens on an address of the LAN on the same bridge, as a BMC that shares the server's port.
/// The node image's agent writes its boot events on the console (<see cref="BootEvent.ConsolePrefix"/>); this process
/// copies them to <c>events.jsonl</c>, which <c>zc up</c> follows as it does the emulated servers' own, and adds
/// <c>PoweredOn</c> whenever QEMU starts.
/// </summary>
internal static class LabVm
{
    public const string Bridge = "br0";

    public const string Tap = "tap0";

    public const string Console = "console.log";

    /// <summary>MiB of RAM: the node image unpacks into RAM and runs .NET services there.</summary>
    public const int MemoryMiB = 1536;

    private static readonly string[] OvmfCodes = ["/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_CODE.fd"];

    /// <summary>OVMF's code and its variables' template (a pair of the same size), or null when the ovmf package is missing.</summary>
    public static (string Code, string Vars)? Ovmf() =>
        OvmfCodes.Where(File.Exists).Select(c => (Code: c, Vars: c.Replace("OVMF_CODE", "OVMF_VARS", StringComparison.Ordinal))).FirstOrDefault(p => File.Exists(p.Vars)) is { Code: not null } found ? found : null;

    /// <summary>
    /// QEMU's arguments (the QMP socket is added by <see cref="QemuMachine"/>). From the network first when
    /// <paramref name="pxe"/> (power-on and a PXE-once boot), else the disk first: a blank disk falls through to the
    /// network as on a rack server whose disk holds nothing bootable.
    /// </summary>
    public static IReadOnlyList<string> Arguments(string firmware, string mac, string directory, bool pxe, string accel = "tcg")
    {
        var args = new List<string>
        {
            "-name", Path.GetFileName(directory), "-accel", accel, "-cpu", accel == "kvm" ? "host" : "max",
            "-m", MemoryMiB.ToString(CultureInfo.InvariantCulture), "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none",
            "-chardev", $"file,id=con,path={Path.Combine(directory, Console)},append=on", "-serial", "chardev:con",
            "-netdev", $"tap,id=n0,ifname={Tap},script=no,downscript=no",
            "-device", $"virtio-net-pci,netdev=n0,mac={mac},bootindex={(pxe ? 1 : 2)}",
            "-drive", $"file={Path.Combine(directory, "disk.img")},format=raw,if=none,id=d0",
            "-device", $"virtio-blk-pci,drive=d0,bootindex={(pxe ? 2 : 1)}",
        };
        if (firmware == "uefi")
        {
            var ovmf = Ovmf() ?? throw new InvalidOperationException("UEFI firmware is missing: install the ovmf package (scripts/setup does)");
            args.InsertRange(0, ["-M", "q35", "-drive", $"if=pflash,format=raw,readonly=on,file={ovmf.Code}", "-drive", $"if=pflash,format=raw,file={Path.Combine(directory, "OVMF_VARS.fd")}"]);
        }
        else
        {
            args.InsertRange(0, ["-M", "pc"]);
        }

        return args;
    }

    /// <summary>The machine's life: plumbing, disk, BMC, power on; then it follows the console until stopped.</summary>
    public static async Task<int> RunAsync(string name, string mac, string firmware, string directory, string? bmc, int prefix, string? credentialsFile, TextWriter stdout, CancellationToken ct)
    {
        Directory.CreateDirectory(directory);
        await PlumbAsync(bmc is null ? null : $"{bmc[..bmc.LastIndexOf(':')]}/{prefix}").ConfigureAwait(false);
        var disk = Path.Combine(directory, "disk.img");
        if (!File.Exists(disk))
        {
            using var f = File.Create(disk);
            f.SetLength(4L << 30); // sparse: a blank 4 GiB disk
        }

        if (firmware == "uefi" && !File.Exists(Path.Combine(directory, "OVMF_VARS.fd")))
        {
            var ovmf = Ovmf() ?? throw new InvalidOperationException("UEFI firmware is missing: install the ovmf package (scripts/setup does)");
            File.Copy(ovmf.Vars, Path.Combine(directory, "OVMF_VARS.fd"));
        }

        await using var machine = new QemuMachine(name, Path.Combine(directory, "qmp.sock"), pxe => Arguments(firmware, mac, directory, pxe));
        LabBmc? server = null;
        if (bmc is not null)
        {
            var (user, password) = Credentials(credentialsFile);
            var at = bmc.LastIndexOf(':');
            server = await LabBmc.StartAsync(machine, new IPEndPoint(IPAddress.Parse(bmc[..at]), int.Parse(bmc[(at + 1)..], CultureInfo.InvariantCulture)), user, password).ConfigureAwait(false);
            stdout.WriteLine($"lab: {name}'s BMC serves Redfish at {server.ServiceRoot}");
        }

        try
        {
            await machine.PowerOnAsync(pxe: true, ct).ConfigureAwait(false);
            stdout.WriteLine($"lab: {name} ({firmware}, {mac}) powered on");
            await FollowAsync(machine, directory, stdout, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // stopped
        }
        finally
        {
            if (server is not null)
            {
                await server.DisposeAsync().ConfigureAwait(false);
            }
        }

        return 0;
    }

    /// <summary>user:password from the file (the lab's BMC credentials, as the cluster's secret holds them).</summary>
    private static (string User, string Password) Credentials(string? file)
    {
        var text = file is null ? null : File.ReadAllText(file).Trim();
        var colon = text?.IndexOf(':', StringComparison.Ordinal) ?? -1;
        if (text is null || colon <= 0)
        {
            throw new InvalidOperationException($"the BMC credentials file {file} must hold user:password");
        }

        return (text[..colon], text[(colon + 1)..]);
    }

    /// <summary>The bridge joining the namespace's veth and QEMU's tap, the BMC's address on it; nothing twice.</summary>
    private static async Task PlumbAsync(string? bmcAddress)
    {
        if (!Directory.Exists($"/sys/class/net/{Bridge}"))
        {
            await Netns.IpAsync("link", "add", Bridge, "type", "bridge").ConfigureAwait(false);
            await Netns.IpAsync("link", "set", "eth0", "master", Bridge).ConfigureAwait(false);
        }

        if (!Directory.Exists($"/sys/class/net/{Tap}"))
        {
            await Netns.IpAsync("tuntap", "add", Tap, "mode", "tap").ConfigureAwait(false);
            await Netns.IpAsync("link", "set", Tap, "master", Bridge).ConfigureAwait(false);
        }

        await Netns.IpAsync("link", "set", Tap, "up").ConfigureAwait(false);
        await Netns.IpAsync("link", "set", Bridge, "up").ConfigureAwait(false);
        if (bmcAddress is not null && !(await Processes.RunAsync("ip", ["-o", "addr", "show", "dev", Bridge]).ConfigureAwait(false)).Output.Contains($" {bmcAddress} ", StringComparison.Ordinal))
        {
            await Netns.IpAsync("addr", "add", bmcAddress, "dev", Bridge).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Every 250 ms: a <c>PoweredOn</c> event when QEMU started since the last look, and the console's new lines, each
    /// to this process's output (the server's node.log) and, when it carries a boot event, to events.jsonl.
    /// </summary>
    private static async Task FollowAsync(QemuMachine machine, string directory, TextWriter stdout, CancellationToken ct)
    {
        var events = Path.Combine(directory, BringUpMonitor.EventsFile);
        var console = Path.Combine(directory, Console);
        long offset = File.Exists(console) ? new FileInfo(console).Length : 0;
        var partial = new StringBuilder();
        var wasOn = false;
        while (true)
        {
            var on = machine.IsOn;
            if (on && !wasOn)
            {
                await File.AppendAllTextAsync(events, new BootEvent(BootPhase.PoweredOn, DateTime.UtcNow).ToLine() + "\n", CancellationToken.None).ConfigureAwait(false);
            }

            wasOn = on;
            if (File.Exists(console))
            {
                using var stream = new FileStream(console, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                if (stream.Length > offset)
                {
                    stream.Seek(offset, SeekOrigin.Begin);
                    var buffer = new byte[stream.Length - offset];
                    offset += await stream.ReadAsync(buffer, ct).ConfigureAwait(false);
                    partial.Append(Encoding.UTF8.GetString(buffer));
                    var text = partial.ToString();
                    var end = text.LastIndexOf('\n');
                    if (end >= 0)
                    {
                        partial.Clear().Append(text[(end + 1)..]);
                        var lines = text[..end].Replace("\r", "", StringComparison.Ordinal);
                        foreach (var line in lines.Split('\n'))
                        {
                            stdout.WriteLine(line);
                        }

                        var found = BootEvent.ReadConsole(lines);
                        if (found.Count > 0)
                        {
                            await File.AppendAllTextAsync(events, string.Concat(found.Select(e => e.ToLine() + "\n")), CancellationToken.None).ConfigureAwait(false);
                        }

                        stdout.Flush();
                    }
                }
            }

            await Task.Delay(250, ct).ConfigureAwait(false);
        }
    }
}
