using System.Diagnostics;
using System.IO.Compression;
using System.Security.Cryptography;
using ZeroCloud.Init;
using ZeroCloud.Node.Runtime;

namespace ZeroCloud.Node.Tests;

/// <summary>
/// The vm driver's fast-boot files: the vmlinux inside the distro's bzImage, checked byte for byte against what xz-utils
/// makes of the same payload, and the initrd without its gzip; a damaged or foreign kernel is refused with the reason
/// and the driver falls back to the image's own files.
/// </summary>
public sealed class FastBootTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("zc-fastboot-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string DistroKernel() =>
        Directory.GetFiles("/boot", "vmlinuz-*").Order(StringComparer.Ordinal).LastOrDefault()
        ?? throw new FileNotFoundException("no /boot/vmlinuz-*: scripts/setup installs linux-image-amd64");

    [Fact]
    public async Task The_distro_kernels_vmlinux_is_what_xz_utils_decodes_from_its_payload()
    {
        var bzImage = await File.ReadAllBytesAsync(DistroKernel());
        Assert.Null(KernelPayload.Problem(bzImage));
        using var ours = new MemoryStream();
        KernelPayload.ExtractVmlinux(bzImage, ours);

        // The peer: xz-utils, fed the payload the setup header points at (the build appends 4 size bytes after the
        // stream, which xz reports as trailing garbage after writing everything).
        var setup = (bzImage[0x1F1] == 0 ? 4 : bzImage[0x1F1]) + 1;
        var offset = (setup * 512) + BitConverter.ToInt32(bzImage, 0x248);
        var payload = Path.Combine(_dir, "payload.xz");
        await File.WriteAllBytesAsync(payload, bzImage.AsSpan(offset, BitConverter.ToInt32(bzImage, 0x24C)).ToArray());
        var xz = Process.Start(new ProcessStartInfo("xz", ["-dc", payload]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        using var theirs = new MemoryStream();
        var copy = xz.StandardOutput.BaseStream.CopyToAsync(theirs);
        await xz.WaitForExitAsync();
        await copy;

        Assert.True(theirs.Length > 10 << 20, $"xz-utils decoded only {theirs.Length} bytes: {await xz.StandardError.ReadToEndAsync()}");
        Assert.Equal(theirs.Length, ours.Length);
        Assert.Equal(SHA256.HashData(theirs.ToArray()), SHA256.HashData(ours.ToArray()));
        Assert.Equal("\u007fELF"u8.ToArray(), ours.ToArray()[..4]);
        Assert.Equal(BitConverter.ToUInt32(bzImage, offset + BitConverter.ToInt32(bzImage, 0x24C) - 4), (uint)ours.Length);
    }

    [Fact]
    public void A_gzip_payload_decodes_and_damage_or_a_foreign_file_is_refused_with_the_reason()
    {
        var elf = "\u007fELF and the rest of a kernel"u8.ToArray();
        using var packed = new MemoryStream();
        using (var gzip = new GZipStream(packed, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(elf);
        }

        var image = BzImage(packed.ToArray());
        using var ours = new MemoryStream();
        KernelPayload.ExtractVmlinux(image, ours);
        Assert.Equal(elf, ours.ToArray());

        Assert.Equal("not a bzImage (no \"HdrS\" setup header at 0x202)", KernelPayload.Problem(new byte[4096]));
        var lz4 = BzImage([0x02, 0x21, 0x4C, 0x18, 0, 0, 0, 0]);
        Assert.Contains("xz and gzip are supported", Assert.Throws<InvalidDataException>(() => KernelPayload.ExtractVmlinux(lz4, Stream.Null)).Message, StringComparison.Ordinal);
        var outside = BzImage([0x1F, 0x8B]);
        BitConverter.GetBytes(1 << 20).CopyTo(outside, 0x24C);
        Assert.Contains("lies outside the", KernelPayload.Problem(outside), StringComparison.Ordinal);

        // An xz payload cut in half: liblzma's error, not a short kernel.
        var bzImage = File.ReadAllBytes(DistroKernel());
        var length = BitConverter.ToInt32(bzImage, 0x24C);
        BitConverter.GetBytes(length / 2).CopyTo(bzImage, 0x24C);
        Assert.Contains("damaged or truncated", Assert.Throws<InvalidDataException>(() => KernelPayload.ExtractVmlinux(bzImage, Stream.Null)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_driver_derives_each_file_once_and_boots_the_images_own_files_when_it_cannot()
    {
        var initrd = Path.Combine(_dir, "initrd.img");
        var cpio = "070701 a cpio archive"u8.ToArray();
        using (var file = File.Create(initrd))
        using (var gzip = new GZipStream(file, CompressionLevel.Fastest))
        {
            gzip.Write(cpio);
        }

        var scratch = Path.Combine(_dir, "vm-boot");
        var vm = new Vm([], scratch);
        var fast = vm.Fast(new VmImage(DistroKernel(), initrd));
        Assert.Null(vm.FastBootProblem);
        Assert.EndsWith(".vmlinux", fast.Kernel, StringComparison.Ordinal);
        Assert.True(KernelPayload.IsElf(fast.Kernel));
        Assert.Equal(cpio, File.ReadAllBytes(fast.Initrd));
        var made = File.GetLastWriteTimeUtc(fast.Kernel);
        Assert.Equal(fast, vm.Fast(new VmImage(DistroKernel(), initrd)));
        Assert.Equal(2, Directory.GetFiles(scratch).Length);

        // A kernel it cannot open up: the image's own files, and the reason kept for the probe's line.
        var foreign = Path.Combine(_dir, "vmlinuz");
        File.WriteAllBytes(foreign, new byte[8192]);
        Assert.Equal(new VmImage(foreign, initrd), vm.Fast(new VmImage(foreign, initrd)));
        Assert.Contains("not a bzImage", vm.FastBootProblem, StringComparison.Ordinal);
        Assert.True(File.GetLastWriteTimeUtc(fast.Kernel) >= made);
    }

    [Fact]
    public void An_image_on_the_minimal_kernel_boots_its_own_vmlinux_on_a_microvm_without_acpi()
    {
        var initrd = Path.Combine(_dir, "initrd.cpio");
        File.WriteAllBytes(initrd, "070701 a cpio archive"u8.ToArray());
        var vmlinux = Path.Combine(_dir, "vmlinuz");
        File.WriteAllBytes(vmlinux, [0x7F, (byte)'E', (byte)'L', (byte)'F', 2, 1, 1, 0, .. new byte[64]]);
        var minimal = new VmImage(vmlinux, initrd);

        // Its kernel is already a vmlinux: booted as it is (nothing derived), on microvm with ACPI off, so QEMU puts
        // the virtio-mmio devices on the command line the kernel reads.
        var scratch = Path.Combine(_dir, "vm-boot");
        var vm = new Vm([], scratch);
        Assert.Equal(vmlinux, vm.Fast(minimal).Kernel);
        Assert.Equal("microvm,acpi=off", Vm.MachineFor(minimal));
        Assert.False(Directory.Exists(scratch) && Directory.GetFiles(scratch, "*.vmlinux").Length > 0);

        // The distro's bzImage keeps the machine with the legacy timers and ACPI.
        Assert.Equal("microvm,pit=on,pic=on,rtc=on", Vm.MachineFor(new VmImage(DistroKernel(), initrd)));
    }

    /// <summary>A bzImage's setup header (protocol 2.15, one setup sector) around <paramref name="payload"/>.</summary>
    private static byte[] BzImage(byte[] payload)
    {
        var image = new byte[1024 + 16 + payload.Length];
        image[0x1F1] = 1;
        "HdrS"u8.CopyTo(image.AsSpan(0x202));
        BitConverter.GetBytes((ushort)0x020F).CopyTo(image, 0x206);
        BitConverter.GetBytes(16).CopyTo(image, 0x248);
        BitConverter.GetBytes(payload.Length).CopyTo(image, 0x24C);
        payload.CopyTo(image, 1024 + 16);
        return image;
    }
}
