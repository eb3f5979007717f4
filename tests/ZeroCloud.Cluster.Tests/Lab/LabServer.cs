using System.Net;
using ZeroCloud.Lab.Bmc;

namespace ZeroCloud.Cluster.Tests.Lab;

/// <summary>
/// A QEMU server (TCG, SeaBIOS, a virtio NIC with its iPXE ROM on QEMU's internal user network, no disk) behind the
/// lab's Redfish BMC. SeaBIOS's debug console goes to a file, so a test reads each boot the firmware made and what it
/// booted from: <c>pxe</c> (the NIC's option ROM) or <c>disk</c>.
/// </summary>
internal sealed class LabServer : IAsyncDisposable
{
    public const string User = "root";
    public const string Password = "calvin-but-longer";

    private readonly string _dir;

    private LabServer(string dir, QemuMachine machine, LabBmc bmc)
    {
        _dir = dir;
        Machine = machine;
        Bmc = bmc;
    }

    public QemuMachine Machine { get; }

    public LabBmc Bmc { get; }

    public static async Task<LabServer> StartAsync(string name = "lab-r2")
    {
        var dir = Directory.CreateTempSubdirectory("zc-labserver-").FullName;
        var log = Path.Combine(dir, "bios.log");
        var machine = new QemuMachine(name, Path.Combine(dir, "qmp.sock"), pxe =>
        [
            "-M", "pc", "-accel", "tcg", "-m", "128", "-smp", "1", "-nodefaults", "-display", "none",
            "-chardev", $"file,id=bios,path={log},append=on", "-device", "isa-debugcon,iobase=0x402,chardev=bios",
            // QEMU's own user network, restricted: the iPXE ROM gets an answer to DHCP and nothing leaves QEMU.
            "-netdev", "user,id=n0,restrict=on", "-device", "virtio-net-pci,netdev=n0",
            "-boot", pxe ? "once=n" : "order=c",
        ]);
        var bmc = await LabBmc.StartAsync(machine, new IPEndPoint(IPAddress.Loopback, 0), User, Password);
        return new LabServer(dir, machine, bmc);
    }

    /// <summary>The boots so far, oldest first: <c>pxe</c> or <c>disk</c> (what SeaBIOS tried first).</summary>
    public IReadOnlyList<string> Boots()
    {
        var log = Path.Combine(_dir, "bios.log");
        if (!File.Exists(log))
        {
            return [];
        }

        using var stream = new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var text = new StreamReader(stream).ReadToEnd();
        return text.Split("enter handle_19:").Skip(1)
            .Select(boot => boot.Split('\n').FirstOrDefault(l => l.StartsWith("Booting from ", StringComparison.Ordinal)))
            .Where(l => l is not null)
            .Select(l => l!.StartsWith("Booting from ROM", StringComparison.Ordinal) ? "pxe" : "disk")
            .ToList();
    }

    /// <summary>Waits (up to a minute: SeaBIOS under TCG) until the firmware has made <paramref name="expected"/>.</summary>
    public async Task WaitForBootsAsync(params string[] expected)
    {
        for (var waited = 0; Boots().Count < expected.Length && waited < 600; waited++)
        {
            await Task.Delay(100);
        }

        Assert.Equal(expected, Boots());
    }

    public async ValueTask DisposeAsync()
    {
        await Bmc.DisposeAsync();
        await Machine.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}
