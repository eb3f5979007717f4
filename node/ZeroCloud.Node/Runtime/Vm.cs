using System.Diagnostics;
using System.Globalization;
using ZeroCloud.Init;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Node.Runtime;

/// <summary>A bootable image on this node: <c>&lt;folder&gt;/&lt;name&gt;/{vmlinuz,initrd.img}</c>, as <c>zc image build</c> writes them.</summary>
internal sealed record VmImage(string Kernel, string Initrd);

/// <summary>
/// The <c>vm</c> runtime driver's host side: which images boot as VMs here, whether this host can run VMs at all
/// (a probe guest must reach its init within a deadline: KVM first, TCG otherwise — /dev/kvm existing proves
/// nothing), and the QEMU command line of an instance: <c>-M microvm</c> with the image's kernel and initrd, one
/// virtio-net NIC on a tap of its own (QEMU creates it and it disappears with QEMU), the serial console as the
/// instance's output.
/// </summary>
internal sealed class Vm(IReadOnlyList<string> imageFolders, string? scratch = null)
{
    /// <summary>
    /// QEMU 7.2's microvm with the Debian 6.1 kernel hangs calibrating the TSC under TCG without the legacy PIT/PIC/RTC
    /// and <c>tsc=reliable</c>; virtio-mmio devices are found through ACPI (microvm's default).
    /// </summary>
    private const string Machine = "microvm,pit=on,pic=on,rtc=on";

    /// <summary>
    /// An image built on ZeroCloud's minimal kernel (<c>zc image build --minimal-kernel</c>: its kernel file is already
    /// a vmlinux) has no ACPI: with ACPI off QEMU puts the virtio-mmio devices on the kernel's command line, which it
    /// reads (CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES), and it needs none of the legacy timers.
    /// </summary>
    private const string MinimalMachine = "microvm,acpi=off";

    /// <summary>The machine for <paramref name="image"/> as the image has it (before <see cref="Fast"/>).</summary>
    public static string MachineFor(VmImage image) => KernelPayload.IsElf(image.Kernel) ? MinimalMachine : Machine;

    private readonly HashSet<int> _usedLinks = [];

    /// <summary><c>kvm</c> or <c>tcg</c> once a probe guest reached init; null while unknown or when neither works.</summary>
    public string? Accelerator { get; private set; }

    public bool HasImages => imageFolders.Count > 0;

    /// <summary>The bootable images in the folders, as builtin/&lt;name&gt;: reported only once a probe guest reached init.</summary>
    public IReadOnlyList<string> Available() =>
        Accelerator is null
            ? []
            : [.. imageFolders.Where(Directory.Exists).SelectMany(Directory.GetDirectories).Select(Path.GetFileName).Where(n => n is not null && Resolve(n) is not null).Select(n => "builtin/" + n).Distinct().Order(StringComparer.Ordinal)];

    public VmImage? Resolve(string image)
    {
        const string builtin = "builtin/";
        var name = image.StartsWith(builtin, StringComparison.Ordinal) ? image[builtin.Length..] : image.Replace('/', '_');
        foreach (var folder in imageFolders)
        {
            var dir = Path.Combine(folder, name);
            if (File.Exists(Path.Combine(dir, "vmlinuz")) && File.Exists(Path.Combine(dir, "initrd.img")))
            {
                return new VmImage(Path.Combine(dir, "vmlinuz"), Path.Combine(dir, "initrd.img"));
            }
        }

        return null;
    }

    /// <summary>
    /// Boots the first image found with <c>zc.probe</c> (its init prints <see cref="SystemInit.ProbeLine"/> and powers
    /// off): with KVM when /dev/kvm opens, within <paramref name="kvmDeadline"/>; else, or when that guest hangs,
    /// with TCG within <paramref name="tcgDeadline"/>. Sets <see cref="Accelerator"/>; returns what happened.
    /// </summary>
    public async Task<string> DetectAsync(TimeSpan kvmDeadline, TimeSpan tcgDeadline, CancellationToken ct)
    {
        var probe = imageFolders.Where(Directory.Exists).SelectMany(f => Directory.GetDirectories(f).Order(StringComparer.Ordinal))
            .Select(d => Resolve(Path.GetFileName(d))).FirstOrDefault(i => i is not null);
        if (probe is null)
        {
            return $"vm: no bootable image in {string.Join(", ", imageFolders)} to probe with; running processes only";
        }

        var notes = new List<string>();
        if (KvmOpens(out var why))
        {
            var (ok, seconds, detail) = await ProbeAsync(Fast(probe), MachineFor(probe), "kvm", kvmDeadline, ct).ConfigureAwait(false);
            if (ok)
            {
                Accelerator = "kvm";
                return $"vm: a probe guest reached init with KVM in {seconds:0.0} s{BootNote}";
            }

            notes.Add($"KVM: {detail}");
        }
        else
        {
            notes.Add($"KVM: {why}");
        }

        var (tcg, tcgSeconds, tcgDetail) = await ProbeAsync(Fast(probe), MachineFor(probe), "tcg", tcgDeadline, ct).ConfigureAwait(false);
        if (tcg)
        {
            Accelerator = "tcg";
            return $"vm: a probe guest reached init with TCG in {tcgSeconds:0.0} s{BootNote} ({string.Join("; ", notes)})";
        }

        notes.Add($"TCG: {tcgDetail}");
        return $"vm: no VMs on this node ({string.Join("; ", notes)})";
    }

    private static bool KvmOpens(out string why)
    {
        try
        {
            using var kvm = new FileStream("/dev/kvm", FileMode.Open, FileAccess.ReadWrite);
            why = "";
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            why = $"/dev/kvm: {ex.Message}";
            return false;
        }
    }

    private static async Task<(bool Ok, double Seconds, string Detail)> ProbeAsync(VmImage image, string machine, string accel, TimeSpan deadline, CancellationToken ct)
    {
        var psi = new ProcessStartInfo("qemu-system-x86_64") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in BaseArguments(machine, accel, 128, 1))
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var a in (string[])["-kernel", image.Kernel, "-initrd", image.Initrd, "-append", $"{KernelArguments(accel)} quiet zc.probe"])
        {
            psi.ArgumentList.Add(a);
        }

        var clock = Stopwatch.StartNew();
        using var process = new Process { StartInfo = psi };
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var tail = new Queue<string>();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (tail)
            {
                tail.Enqueue(e.Data);
                if (tail.Count > 3)
                {
                    tail.Dequeue();
                }
            }

            if (e.Data.Contains(SystemInit.ProbeLine, StringComparison.Ordinal))
            {
                reached.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { Length: > 0 } line)
            {
                lock (tail)
                {
                    tail.Enqueue(line);
                }
            }
        };
        try
        {
            Children.Start(process);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (false, 0, $"cannot start qemu-system-x86_64: {ex.Message}");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var exited = process.WaitForExitAsync(ct);
        var first = await Task.WhenAny(reached.Task, exited, Task.Delay(deadline, ct)).ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;
        if (!process.HasExited)
        {
            process.Kill();
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }

        ct.ThrowIfCancellationRequested();
        string last;
        lock (tail)
        {
            last = string.Join(" | ", tail);
        }

        return first == reached.Task || reached.Task.IsCompleted
            ? (true, seconds, "")
            : (false, seconds, first == exited ? $"qemu exited with {process.ExitCode} before the guest reached init ({last})" : $"the guest did not reach init within {deadline.TotalSeconds:0} s");
    }

    /// <summary>
    /// Under TCG the guest's TSC runs at the host's rate, and calibrating it against the PIT fails when the host is
    /// busy (the guest then hangs with "Unable to calibrate against PIT"): tell the kernel the rate instead.
    /// </summary>
    private static string KernelArguments(string accel)
    {
        // reboot=t: a guest without ACPI (the minimal kernel) resets instead of powering off (Linux.PowerOff), and a
        // triple fault ends QEMU (-no-reboot) at once, where the default order tries the keyboard controller first
        // (2.9 s more here).
        var line = "console=ttyS0 panic=-1 tsc=reliable reboot=t";
        if (accel == "tcg" && HostMhz() is { } mhz)
        {
            line += " tsc_early_khz=" + ((long)(mhz * 1000)).ToString(CultureInfo.InvariantCulture);
        }

        return line;
    }

    private static double? HostMhz()
    {
        try
        {
            foreach (var l in File.ReadLines("/proc/cpuinfo"))
            {
                if (l.StartsWith("cpu MHz", StringComparison.Ordinal) && double.TryParse(l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var mhz) && mhz > 0)
                {
                    return mhz;
                }
            }
        }
        catch (IOException)
        {
            // no /proc/cpuinfo: let the guest calibrate
        }

        return null;
    }

    private static string[] BaseArguments(string machine, string accel, long memoryMiB, int cpus) =>
    [
        "-M", machine, "-accel", accel, "-cpu", accel == "kvm" ? "host" : "max", "-m", memoryMiB.ToString(CultureInfo.InvariantCulture),
        "-smp", cpus.ToString(CultureInfo.InvariantCulture), "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-serial", "stdio",
    ];

    /// <summary>
    /// A link of its own for one instance: tap <c>zcvm&lt;n&gt;</c> with 169.254.n.1/30 on this side and the guest at
    /// 169.254.n.2/30 (link-local: it never leaves the node). Released when the instance stops.
    /// </summary>
    public VmLink? Allocate()
    {
        lock (_usedLinks)
        {
            for (var n = 1; n < 255; n++)
            {
                if (_usedLinks.Add(n))
                {
                    return new VmLink(this, n);
                }
            }

            return null;
        }
    }

    internal void Release(int n)
    {
        lock (_usedLinks)
        {
            _usedLinks.Remove(n);
        }
    }

    private string BootNote => scratch is null ? "" : FastBootProblem is { } problem ? $", from its bzImage ({problem})" : ", from its vmlinux through PVH";

    /// <summary>What the last <see cref="Fast"/> could not derive (the image then boots from its bzImage and gzip'd initrd).</summary>
    public string? FastBootProblem { get; private set; }

    /// <summary>
    /// The image's fast-boot files (<see cref="FastBoot"/>): its kernel as vmlinux, booted through PVH without the
    /// guest decompressing it, and its initrd uncompressed; the image's own files when they cannot be derived.
    /// </summary>
    public VmImage Fast(VmImage image)
    {
        if (scratch is null)
        {
            return image;
        }

        try
        {
            var fast = FastBoot.Prepare(image, scratch);
            FastBootProblem = null;
            return fast;
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            FastBootProblem = $"{image.Kernel}: {ex.Message}";
            return image;
        }
    }

    /// <summary>The QEMU command line of an instance: memory and CPUs from its placement, its arguments as <c>zc.args</c>.</summary>
    public (string File, string[] Arguments) Command(InstanceDto instance, VmImage image, VmLink link)
    {
        var machine = MachineFor(image);
        image = Fast(image);
        var memory = Math.Max(128, instance.MemoryBytes >> 20);
        var cpus = (int)Math.Clamp((instance.CpuMillis + 999) / 1000, 1, 64);
        var append = $"{KernelArguments(Accelerator ?? "tcg")} zc.ip={link.Guest}/30,{link.Host} zc.name={instance.Id}";
        if (instance.Args is { Count: > 0 } args)
        {
            // Encoded, never joined as text: an argument must not split the command line or add a parameter.
            append += " zc.args=" + ZeroCloud.Init.KernelArgumentList.Encode(args);
        }

        if (append.Length > ZeroCloud.Init.KernelArgumentList.MaxCommandLine)
        {
            throw new ArgumentException($"the kernel command line would be {append.Length} bytes; at most {ZeroCloud.Init.KernelArgumentList.MaxCommandLine} (fewer or shorter args)");
        }

        return ("qemu-system-x86_64",
        [
            .. BaseArguments(machine, Accelerator ?? "tcg", memory, cpus),
            "-netdev", $"tap,id=n0,ifname={link.Tap},script=no,downscript=no",
            "-device", $"virtio-net-device,netdev=n0,mac={link.Mac}",
            "-kernel", image.Kernel, "-initrd", image.Initrd, "-append", append,
        ]);
    }
}

/// <summary>One VM's tap and its /30; <see cref="ConfigureAsync"/> addresses the tap once QEMU created it.</summary>
internal sealed class VmLink(Vm owner, int n) : IDisposable
{
    public string Tap { get; } = $"zcvm{n}";

    public string Host { get; } = $"169.254.{n}.1";

    public string Guest { get; } = $"169.254.{n}.2";

    public string Mac { get; } = $"52:54:00:7a:63:{n:x2}";

    /// <summary>Waits for QEMU to create the tap, then gives it the host side's address and brings it up.</summary>
    public async Task ConfigureAsync(TimeSpan timeout, CancellationToken ct)
    {
        var until = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (!Directory.Exists($"/sys/class/net/{Tap}"))
        {
            if (Environment.TickCount64 > until)
            {
                throw new TimeoutException($"QEMU did not create tap {Tap} within {timeout.TotalSeconds:0} s");
            }

            await Task.Delay(50, ct).ConfigureAwait(false);
        }

        Linux.SetAddress(Tap, ZeroCloud.Model.Net.Ipv4.ToUInt32(System.Net.IPAddress.Parse(Host)), 0xFFFFFFFC);
        Linux.InterfaceUp(Tap);
    }

    public void Dispose() => owner.Release(n);
}

/// <summary>
/// Fast-boot files derived from an image, once, in a scratch folder named by the SHA-256 of the file they come from
/// (images share one kernel, so one vmlinux serves them all): the kernel's vmlinux (<see cref="KernelPayload"/>) and the
/// initrd without its gzip. Under TCG here that takes a hello image from 11.5 s to 4.4 s to answering (bench/vm-boot.sh).
/// Derived on the node rather than shipped: a vmlinux is 66 MB against the bzImage's 8, and the store and every node's
/// image cache would carry it once per image. At most <see cref="Kept"/> files of each kind stay (the least recently
/// used go first; a QEMU already started keeps what it read).
/// </summary>
internal static class FastBoot
{
    public const int Kept = 8;

    public static VmImage Prepare(VmImage image, string scratch)
    {
        Directory.CreateDirectory(scratch);
        var kernel = KernelPayload.IsElf(image.Kernel) ? image.Kernel : Derive(image.Kernel, scratch, ".vmlinux", (bytes, output) => KernelPayload.ExtractVmlinux(bytes, output));
        var initrd = Derive(image.Initrd, scratch, ".cpio", (bytes, output) =>
        {
            if (bytes is [0x1F, 0x8B, ..])
            {
                using var gzip = new System.IO.Compression.GZipStream(new MemoryStream(bytes, writable: false), System.IO.Compression.CompressionMode.Decompress);
                gzip.CopyTo(output);
            }
            else
            {
                output.Write(bytes);
            }
        });
        return new VmImage(kernel, initrd);
    }

    private static string Derive(string source, string scratch, string extension, Action<byte[], Stream> derive)
    {
        var bytes = File.ReadAllBytes(source);
        var target = Path.Combine(scratch, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)) + extension);
        if (File.Exists(target))
        {
            File.SetLastWriteTimeUtc(target, DateTime.UtcNow);
            return target;
        }

        var partial = $"{target}.{Environment.ProcessId}.{Environment.CurrentManagedThreadId}.partial";
        try
        {
            using (var output = File.Create(partial))
            {
                derive(bytes, output);
            }

            File.Move(partial, target, overwrite: true);
        }
        finally
        {
            File.Delete(partial);
        }

        foreach (var old in new DirectoryInfo(scratch).GetFiles("*" + extension).OrderByDescending(f => f.LastWriteTimeUtc).Skip(Kept))
        {
            old.Delete();
        }

        return target;
    }
}
