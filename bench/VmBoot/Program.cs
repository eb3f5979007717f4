// Boots one service image (zc image build hello) under QEMU, again and again, for each boot path, in the same run, and
// times QEMU's start -> the image's PID 1 (its first line on the serial console) and -> the service answering its
// health check (HTTP 200 from zc-hello on a tap of its own), with QEMU's CPU time at that moment; a boot that does not
// answer within the deadline counts as a hang. The stock path (the image's bzImage and gzip'd initrd, the machine the
// vm driver used before) is the reference every ratio is to.
// Usage: vm-boot <image folder with vmlinuz and initrd.img> [boots per path] [paths: stock,vmlinux,defaults,acpi-off,minimal]
using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using ZeroCloud.Init;

var folder = args.Length > 0 ? args[0] : throw new ArgumentException("usage: vm-boot <image folder> [boots] [paths]");
var boots = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 10;
var wanted = (args.Length > 2 ? args[2] : "stock,vmlinux,defaults,acpi-off,minimal").Split(',');
var deadline = TimeSpan.FromSeconds(40);
var work = Directory.CreateTempSubdirectory("zc-vm-boot-").FullName;

var bzImage = Path.Combine(folder, "vmlinuz");
var gzInitrd = Path.Combine(folder, "initrd.img");
var vmlinux = Path.Combine(work, "vmlinux");
var raw = Path.Combine(work, "initrd.cpio");
var clock = Stopwatch.StartNew();
using (var output = File.Create(vmlinux))
{
    KernelPayload.ExtractVmlinux(File.ReadAllBytes(bzImage), output);
}

using (var output = File.Create(raw))
using (var gzip = new GZipStream(File.OpenRead(gzInitrd), CompressionMode.Decompress))
{
    gzip.CopyTo(output);
}

Console.Error.WriteLine($"vmlinux ({new FileInfo(vmlinux).Length >> 20} MiB) and the uncompressed initrd ({new FileInfo(raw).Length >> 20} MiB) derived in {clock.ElapsedMilliseconds} ms");
// The minimal path: the same service built with zc image build --minimal-kernel (its vmlinuz is the minimal kernel's
// vmlinux, its initrd has no modules), its initrd uncompressed, on microvm with ACPI off: as the vm driver boots it.
var minimalImage = Environment.GetEnvironmentVariable("ZC_MINIMAL_IMAGE");
string? minimal = null, minimalRaw = null;
if (minimalImage is not null && File.Exists(Path.Combine(minimalImage, "vmlinuz")) && KernelPayload.IsElf(Path.Combine(minimalImage, "vmlinuz")))
{
    minimal = Path.Combine(minimalImage, "vmlinuz");
    minimalRaw = Path.Combine(work, "minimal-initrd.cpio");
    using var output = File.Create(minimalRaw);
    using var gzip = new GZipStream(File.OpenRead(Path.Combine(minimalImage, "initrd.img")), CompressionMode.Decompress);
    gzip.CopyTo(output);
}

const string Legacy = "microvm,pit=on,pic=on,rtc=on";
var paths = new List<(string Name, string Machine, string Kernel, string Initrd, bool Network)>
{
    ("stock", Legacy, bzImage, gzInitrd, true),
    ("vmlinux", Legacy, vmlinux, raw, true),
    ("defaults", "microvm", vmlinux, raw, true),
    ("acpi-off", "microvm,acpi=off", vmlinux, raw, false),
};
if (minimal is not null && minimalRaw is not null)
{
    paths.Add(("minimal", "microvm,acpi=off", minimal, minimalRaw, true));
}
else if (wanted.Contains("minimal"))
{
    Console.Error.WriteLine("minimal: no image on the minimal kernel (ZC_MINIMAL_IMAGE names a folder made by zc image build hello --minimal-kernel; bench/vm-boot.sh makes one when the kernel is built); that path is not measured");
}

var mhz = File.ReadLines("/proc/cpuinfo").First(l => l.StartsWith("cpu MHz", StringComparison.Ordinal)).Split(':')[1].Trim();
var khz = ((long)(double.Parse(mhz, CultureInfo.InvariantCulture) * 1000)).ToString(CultureInfo.InvariantCulture);
var results = new Dictionary<string, List<(double Init, double Serving, double Cpu, bool Hung)>>();
for (var i = 0; i < boots; i++)
{
    foreach (var path in paths.Where(p => wanted.Contains(p.Name)))
    {
        var r = await BootAsync(path.Machine, path.Kernel, path.Initrd, path.Network);
        (results.TryGetValue(path.Name, out var list) ? list : results[path.Name] = []).Add(r);
        Console.Error.WriteLine($"{path.Name,-9} boot {i + 1}: {(r.Hung ? "HANG" : $"init {r.Init:0} ms, serving {r.Serving:0} ms, cpu {r.Cpu:0} ms")}");
    }
}

static double Median(IEnumerable<double> values)
{
    var v = values.Order().ToArray();
    return v.Length == 0 ? double.NaN : v.Length % 2 == 1 ? v[v.Length / 2] : (v[(v.Length / 2) - 1] + v[v.Length / 2]) / 2;
}

var stock = results.TryGetValue("stock", out var s) ? Median(s.Where(b => !b.Hung).Select(b => b.Serving)) : double.NaN;
Console.WriteLine($"vm-boot: hello image, TCG, 1 vCPU, 256 MiB, {boots} boots per path (interleaved), this machine; medians of the boots that answered");
foreach (var path in paths.Where(p => results.ContainsKey(p.Name)))
{
    var ok = results[path.Name].Where(b => !b.Hung).ToList();
    var serving = Median(ok.Select(b => b.Serving));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"path={path.Name} machine={path.Machine} kernel={Path.GetFileName(path.Kernel)} initrd={Path.GetFileName(path.Initrd)} to_init_ms={Median(ok.Select(b => b.Init)):0} " +
        $"{(path.Network ? $"to_serving_ms={serving:0} ratio_to_stock={(double.IsNaN(stock) ? "none (stock path not measured in this run)" : $"{stock / serving:0.00}x")}" : "to_serving_ms=none (no network: see below)")} cpu_ms={Median(ok.Select(b => b.Cpu)):0} hangs={results[path.Name].Count(b => b.Hung)}/{results[path.Name].Count}"));
}

if (results.ContainsKey("acpi-off"))
{
    Console.WriteLine("acpi-off: with ACPI off the guest finds virtio-mmio devices only on its command line, which the distro kernel cannot read (CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES is not set): it reaches init with no network, so it is timed to /init only");
}

Directory.Delete(work, recursive: true);
return 0;

async Task<(double Init, double Serving, double Cpu, bool Hung)> BootAsync(string machine, string kernel, string initrd, bool network)
{
    const string Tap = "zcbench0";
    var append = $"console=ttyS0 panic=-1 tsc=reliable reboot=t tsc_early_khz={khz} quiet " + (network ? "zc.ip=169.254.99.2/30,169.254.99.1 zc.name=bench" : "zc.probe");
    var psi = new ProcessStartInfo("qemu-system-x86_64") { RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (var a in (string[])["-M", machine, "-accel", "tcg", "-cpu", "max", "-m", "256", "-smp", "1", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-serial", "stdio", "-kernel", kernel, "-initrd", initrd, "-append", append])
    {
        psi.ArgumentList.Add(a);
    }

    if (network)
    {
        foreach (var a in (string[])["-netdev", $"tap,id=n0,ifname={Tap},script=no,downscript=no", "-device", "virtio-net-device,netdev=n0,mac=52:54:00:7a:63:99"])
        {
            psi.ArgumentList.Add(a);
        }
    }

    var started = Stopwatch.StartNew();
    using var qemu = Process.Start(psi)!;
    var init = new TaskCompletionSource<double>(TaskCreationOptions.RunContinuationsAsynchronously);
    qemu.OutputDataReceived += (_, e) =>
    {
        if (e.Data is { } line && (line.Contains("is PID 1", StringComparison.Ordinal) || line.Contains(SystemInit.ProbeLine, StringComparison.Ordinal)))
        {
            init.TrySetResult(started.Elapsed.TotalMilliseconds);
        }
    };
    qemu.ErrorDataReceived += (_, _) => { };
    qemu.BeginOutputReadLine();
    qemu.BeginErrorReadLine();
    using var http = new HttpClient { Timeout = TimeSpan.FromMilliseconds(300) };
    var addressed = false;
    double serving = -1;
    while (started.Elapsed < deadline && !qemu.HasExited)
    {
        if (!network)
        {
            if (init.Task.IsCompleted)
            {
                serving = init.Task.Result;
                break;
            }
        }
        else
        {
            if (!addressed && Directory.Exists($"/sys/class/net/{Tap}"))
            {
                Run("ip", "addr", "add", "169.254.99.1/30", "dev", Tap);
                Run("ip", "link", "set", Tap, "up");
                addressed = true;
            }

            if (addressed && init.Task.IsCompleted)
            {
                try
                {
                    using var answer = await http.GetAsync(new Uri("http://169.254.99.2:8080/"));
                    if (answer.IsSuccessStatusCode)
                    {
                        serving = started.Elapsed.TotalMilliseconds;
                        break;
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    // not yet
                }
            }
        }

        await Task.Delay(10);
    }

    var cpu = Cpu(qemu.Id);
    if (!qemu.HasExited)
    {
        qemu.Kill();
    }

    await qemu.WaitForExitAsync();
    return serving < 0 ? (0, 0, 0, true) : (init.Task.IsCompleted ? init.Task.Result : double.NaN, serving, cpu, false);
}

static double Cpu(int pid)
{
    try
    {
        var fields = File.ReadAllText($"/proc/{pid}/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) * 1000.0 / 100;
    }
    catch (IOException)
    {
        return double.NaN;
    }
}

static void Run(string file, params string[] arguments)
{
    using var p = Process.Start(new ProcessStartInfo(file, arguments) { RedirectStandardError = true })!;
    p.WaitForExit();
}
