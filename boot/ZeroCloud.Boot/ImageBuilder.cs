using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using ZeroCloud.Model.Images;

namespace ZeroCloud.Boot;

/// <summary>What goes into an image: a name, the binary that becomes /init, the kernel, and its modules folder.</summary>
public sealed record ImageSpec(string Name, string Binary, string Kernel, string ModulesDirectory, string Version, string CommandLine)
{
    /// <summary>Files the image carries beside its binary: (path on this machine, path in the image), e.g. netboot's iPXE binaries.</summary>
    public IReadOnlyList<(string Source, string Target)> Extra { get; init; } = [];

    /// <summary>Programs the image carries beside its binary, with the libraries they need (the node image: mkfs.ext4).</summary>
    public IReadOnlyList<(string Source, string Target)> Executables { get; init; } = [];

    /// <summary>Kernel modules beyond the NIC drivers every image has (the node image: disk controllers and ext4).</summary>
    public IReadOnlyList<string> Modules { get; init; } = [];

    /// <summary>
    /// The kernel's release when <see cref="ModulesDirectory"/> is empty: a kernel with everything built in (the
    /// minimal guest kernel), so the image carries no modules.
    /// </summary>
    public string? Release { get; init; }

    /// <summary>Also write the image as an OCI image layout (<see cref="OciImage"/>) in <c>oci/</c>, its digest in the manifest.</summary>
    public bool Oci { get; init; }
}

/// <summary>What the node image carries beside zc-node: mkfs.ext4 (and its configuration) and the disk drivers, to claim its data disk.</summary>
public static class NodeImage
{
    /// <summary>mkfs.ext4 from e2fsprogs.</summary>
    public const string Mkfs = "/usr/sbin/mkfs.ext4";

    /// <summary>The node image's contents added to <paramref name="spec"/>; throws when mkfs.ext4 is not on this machine.</summary>
    public static ImageSpec With(ImageSpec spec)
    {
        if (!File.Exists(Mkfs))
        {
            throw new FileNotFoundException($"{Mkfs}: no such file; the node image carries it to format its data disk (apt-get install e2fsprogs)");
        }

        return spec with
        {
            Executables = [.. spec.Executables, (Mkfs, "usr/sbin/mkfs.ext4")],
            Extra = File.Exists("/etc/mke2fs.conf") ? [.. spec.Extra, ("/etc/mke2fs.conf", "etc/mke2fs.conf")] : spec.Extra,
            Modules = [.. spec.Modules, .. KernelModules.StorageDrivers],
        };
    }
}

/// <summary>
/// What the control image carries beside zc-control: ipmitool with its libraries and loader, for the power jobs and
/// fencing its leader runs against IPMI BMCs (a member on a node booted from the network has no ipmitool otherwise).
/// The member runs it through the image's own loader (<c>IpmiTool.Find</c>).
/// </summary>
public static class ControlImage
{
    /// <summary>ipmitool from the distro's package.</summary>
    public const string Ipmitool = "/usr/bin/ipmitool";

    /// <summary>The programs the control image carries (this machine's path, the path in the image); throws when ipmitool is not on this machine.</summary>
    public static IReadOnlyList<(string Source, string Target)> Executables() => File.Exists(Ipmitool)
        ? [(Ipmitool, "usr/bin/ipmitool")]
        : throw new FileNotFoundException($"{Ipmitool}: no such file; the control image carries it to drive IPMI BMCs (apt-get install ipmitool)");

    /// <summary>The control image's contents added to <paramref name="spec"/>.</summary>
    public static ImageSpec With(ImageSpec spec) => spec with { Executables = [.. spec.Executables, .. Executables()] };
}

/// <summary>
/// Builds a bootable image: the kernel as vmlinuz, and initrd.img, a gzip'd newc cpio holding the binary as /init,
/// the shared libraries it needs (from its ELF dynamic section, transitively), the NIC modules and their
/// dependencies with /etc/zc/modules listing the load order, /dev/console, and empty mount points. Byte-identical
/// for identical inputs.
/// </summary>
public static class ImageBuilder
{
    /// <summary>
    /// Libraries every image carries although no ELF header names them: .NET loads OpenSSL with dlopen for TLS and
    /// X.509 (libssl pulls in libcrypto), and every service talks to the control plane over TLS.
    /// </summary>
    public static readonly IReadOnlyList<string> Dlopened = ["libssl.so.3"];

    public static ImageManifest Build(ImageSpec spec, string outputDirectory)
    {
        Directory.CreateDirectory(outputDirectory);
        var entries = new List<CpioEntry>();
        var folders = new SortedSet<string>(StringComparer.Ordinal) { "dev", "proc", "sys", "run", "tmp", "etc", "etc/zc", "var", "var/lib" };
        void AddFile(string path, byte[] data, int mode)
        {
            entries.Add(CpioEntry.File(path, data, mode));
            for (var dir = Path.GetDirectoryName(path); !string.IsNullOrEmpty(dir); dir = Path.GetDirectoryName(dir))
            {
                folders.Add(dir);
            }
        }

        AddFile("init", File.ReadAllBytes(spec.Binary), 0b111_101_101);
        foreach (var (source, target) in spec.Extra)
        {
            AddFile(target.TrimStart('/'), File.ReadAllBytes(source), 0b110_100_100);
        }

        var libraries = ElfFile.Closure(spec.Binary);
        foreach (var (source, target) in spec.Executables)
        {
            AddFile(target.TrimStart('/'), File.ReadAllBytes(source), 0b111_101_101);
            libraries.UnionWith(ElfFile.Closure(source));
        }

        foreach (var name in Dlopened)
        {
            // .NET opens these with dlopen, so the binary's dynamic section does not name them (decision 0024).
            var path = ElfFile.LibraryPath.Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists)
                ?? throw new FileNotFoundException($"{name} (TLS for the image's binary, loaded with dlopen) is in none of {string.Join(", ", ElfFile.LibraryPath)}: apt-get install libssl3");
            libraries.UnionWith(ElfFile.Closure(path));
            libraries.Add(path);
        }

        foreach (var library in libraries)
        {
            AddFile(library.TrimStart('/'), File.ReadAllBytes(library), 0b111_101_101);
        }

        // Debian's loader is /lib64/ld-linux-x86-64.so.2; with a merged /usr the file lives under /usr/lib too.
        var builtIn = spec.ModulesDirectory.Length == 0;
        var modules = builtIn ? [] : KernelModules.Resolve(File.ReadAllText(Path.Combine(spec.ModulesDirectory, "modules.dep")), [.. KernelModules.NetworkDrivers, .. spec.Modules]);
        var release = builtIn
            ? spec.Release ?? throw new ArgumentException("an image without a modules folder needs the kernel's release", nameof(spec))
            : Path.GetFileName(spec.ModulesDirectory.TrimEnd('/'));
        foreach (var module in modules)
        {
            AddFile($"lib/modules/{release}/{module}", File.ReadAllBytes(Path.Combine(spec.ModulesDirectory, module)), 0b110_100_100);
        }

        AddFile("etc/zc/modules", System.Text.Encoding.UTF8.GetBytes(string.Concat(modules.Select(m => $"/lib/modules/{release}/{m}\n"))), 0b110_100_100);
        AddFile("etc/zc/image", System.Text.Encoding.UTF8.GetBytes($"{spec.Name} {spec.Version}\n"), 0b110_100_100);
        entries.AddRange(folders.Select(f => CpioEntry.Directory(f, f == "tmp" ? 0b111_111_111 : 0b111_101_101)));
        entries.Add(CpioEntry.CharDevice("dev/console", 5, 1));
        entries.Add(CpioEntry.CharDevice("dev/null", 1, 3, 0b110_110_110));

        var initrd = Path.Combine(outputDirectory, "initrd.img");
        using (var cpio = new MemoryStream())
        {
            CpioWriter.Write(cpio, entries);
            using var file = File.Create(initrd);
            // The control image (a self-contained runtime, 120 MB) would take a minute at the smallest size.
            using var gzip = new GZipStream(file, cpio.Length > (64 << 20) ? CompressionLevel.Optimal : CompressionLevel.SmallestSize);
            cpio.Position = 0;
            cpio.CopyTo(gzip);
        }

        var oci = Path.Combine(outputDirectory, OciImage.Folder);
        string? ociDigest = null;
        if (spec.Oci)
        {
            ociDigest = OciImage.Write(entries, spec.Name, spec.Version, OciImage.Tag(spec.Version), oci);
        }
        else if (Directory.Exists(oci))
        {
            // An OCI layout from an earlier build is not this image's.
            Directory.Delete(oci, recursive: true);
        }

        var vmlinuz = Path.Combine(outputDirectory, "vmlinuz");
        File.Copy(spec.Kernel, vmlinuz, overwrite: true);
        var manifest = new ImageManifest(
            spec.Name,
            spec.Version,
            release,
            spec.CommandLine,
            [Describe(vmlinuz), Describe(initrd)],
            [.. modules.Select(KernelModules.ModuleName)],
            [.. libraries],
            new FileInfo(spec.Binary).Length,
            ociDigest);
        File.WriteAllText(Path.Combine(outputDirectory, "manifest.json"), JsonSerializer.Serialize(manifest, ImageJsonContext.Default.ImageManifest) + "\n");
        return manifest;
    }

    private static ImageFileInfo Describe(string path)
    {
        using var stream = File.OpenRead(path);
        return new ImageFileInfo(Path.GetFileName(path), stream.Length, Convert.ToHexStringLower(SHA256.HashData(stream)));
    }

    /// <summary>The distro kernel: the newest /boot/vmlinuz-* with its /lib/modules/&lt;release&gt;.</summary>
    public static (string Kernel, string Modules) DistroKernel()
    {
        var kernel = Directory.Exists("/boot")
            ? Directory.GetFiles("/boot", "vmlinuz-*").Where(k => Directory.Exists(Path.Combine("/lib/modules", Path.GetFileName(k)["vmlinuz-".Length..]))).Order(StringComparer.Ordinal).LastOrDefault()
            : null;
        return kernel is null
            ? throw new FileNotFoundException("no distro kernel: /boot has no vmlinuz-* with modules under /lib/modules (apt-get install linux-image-amd64, or set spec.boot.kernel)")
            : (kernel, Path.Combine("/lib/modules", Path.GetFileName(kernel)["vmlinuz-".Length..]));
    }
}

/// <summary>Reads the release string a bzImage carries in its setup header (kernel_version at 0x20E), to find its modules.</summary>
public static class BzImage
{
    public static string? Release(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 0x210 || bytes[0x202] != (byte)'H' || bytes[0x203] != (byte)'d' || bytes[0x204] != (byte)'r' || bytes[0x205] != (byte)'S')
        {
            return null;
        }

        var offset = 0x200 + BitConverter.ToUInt16(bytes, 0x20E);
        var end = Array.IndexOf(bytes, (byte)' ', offset);
        return offset < bytes.Length && end > offset ? System.Text.Encoding.ASCII.GetString(bytes, offset, end - offset) : null;
    }
}
