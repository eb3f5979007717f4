using System.Text;
using System.Text.Json;
using ZeroCloud.Model.Images;

namespace ZeroCloud.Boot;

/// <summary>
/// The seed as one OCI image (<c>zerocloud/seed</c>): zc-node as <c>/init</c> (run with <c>--seed cluster.yaml</c>), the
/// binaries of the control, dhcp, netboot, storage and hello images beside it (the seed runs them as processes, as
/// <c>zc up</c>'s seed runs the local build), their libraries, the iPXE binaries netboot serves
/// (<c>/usr/lib/ipxe</c>), and every bootable image under <c>/images/&lt;name&gt;</c> (vmlinuz, initrd.img,
/// manifest.json): netboot serves the node image from there until the catalogue has one, and the seed pushes them all
/// into the store once its storage instance runs. Reproducible as every OCI image here (<see cref="OciImage"/>).
/// </summary>
public static class SeedImage
{
    /// <summary>The bootable images a seed carries; the first is its /init.</summary>
    public static readonly IReadOnlyList<string> Images = ["node", "dhcp", "netboot", "storage", "hello", "control"];

    public const string Name = "seed";

    /// <summary>
    /// Writes <paramref name="destination"/>/oci and its manifest.json (no kernel or initrd: a seed is a container only);
    /// <paramref name="binaries"/> maps each of <see cref="Images"/> to its binary, <paramref name="imageFolders"/> to
    /// its built folder.
    /// </summary>
    public static ImageManifest Build(string version, IReadOnlyDictionary<string, string> binaries, IReadOnlyDictionary<string, string> imageFolders, IReadOnlyList<string> ipxeFiles, string destination)
    {
        ArgumentNullException.ThrowIfNull(binaries);
        ArgumentNullException.ThrowIfNull(imageFolders);
        ArgumentNullException.ThrowIfNull(ipxeFiles);
        var entries = new List<CpioEntry>();
        var folders = new SortedSet<string>(StringComparer.Ordinal) { "tmp", "run", "etc", "etc/zc", "var", "var/lib" };
        void Add(string path, byte[] data, int mode)
        {
            entries.Add(CpioEntry.File(path, data, mode));
            for (var dir = Path.GetDirectoryName(path); !string.IsNullOrEmpty(dir); dir = Path.GetDirectoryName(dir))
            {
                folders.Add(dir);
            }
        }

        var libraries = new SortedSet<string>(StringComparer.Ordinal);
        string? kernel = null;
        foreach (var image in Images)
        {
            var binary = binaries.TryGetValue(image, out var b) && File.Exists(b) ? b : throw new FileNotFoundException($"the {image} image's binary ({b ?? "none given"}) does not exist: build it with zc image build {image}");
            Add(image == "node" ? "init" : $"zc-{image}", File.ReadAllBytes(binary), 0b111_101_101);
            libraries.UnionWith(ElfFile.Closure(binary));
            var folder = imageFolders[image];
            var manifestPath = Path.Combine(folder, "manifest.json");
            var manifestBytes = File.Exists(manifestPath) ? File.ReadAllBytes(manifestPath) : throw new FileNotFoundException($"{manifestPath}: no such file: build it with zc image build {image}");
            var manifest = ImageManifest.Parse(manifestBytes, out var problem) ?? throw new InvalidDataException($"{manifestPath}: {problem}");
            if (manifest.Version != version)
            {
                throw new InvalidDataException($"{manifestPath} is {image} {manifest.Version}, not {version}: build it again with zc image build {image}");
            }

            kernel ??= manifest.Kernel;
            Add($"images/{image}/manifest.json", manifestBytes, 0b110_100_100);
            foreach (var file in manifest.Files)
            {
                Add($"images/{image}/{file.Name}", File.ReadAllBytes(Path.Combine(folder, file.Name)), 0b110_100_100);
            }
        }

        // The seed's member runs power jobs too: ipmitool as the control image carries it.
        foreach (var (source, target) in ControlImage.Executables())
        {
            Add(target, File.ReadAllBytes(source), 0b111_101_101);
            libraries.UnionWith(ElfFile.Closure(source));
        }

        foreach (var name in ImageBuilder.Dlopened)
        {
            var path = ElfFile.LibraryPath.Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists)
                ?? throw new FileNotFoundException($"{name} (TLS, loaded with dlopen) is in none of {string.Join(", ", ElfFile.LibraryPath)}: apt-get install libssl3");
            libraries.UnionWith(ElfFile.Closure(path));
            libraries.Add(path);
        }

        foreach (var library in libraries)
        {
            Add(library.TrimStart('/'), File.ReadAllBytes(library), 0b111_101_101);
        }

        foreach (var file in ipxeFiles)
        {
            Add($"usr/lib/ipxe/{Path.GetFileName(file)}", File.ReadAllBytes(file), 0b110_100_100);
        }

        Add("etc/zc/image", Encoding.UTF8.GetBytes($"{Name} {version}\n"), 0b110_100_100);
        entries.AddRange(folders.Select(f => CpioEntry.Directory(f, f == "tmp" ? 0b111_111_111 : 0b111_101_101)));

        Directory.CreateDirectory(destination);
        // A seed is a container only: no vmlinuz or initrd.img of its own (an earlier build's are not this one's).
        foreach (var stale in (string[])["vmlinuz", "initrd.img"])
        {
            File.Delete(Path.Combine(destination, stale));
        }

        var digest = OciImage.Write(entries, Name, version, OciImage.Tag(version), Path.Combine(destination, OciImage.Folder));
        var seed = new ImageManifest(Name, version, kernel ?? "", "", [], [], [.. libraries], new FileInfo(binaries["node"]).Length, digest);
        File.WriteAllText(Path.Combine(destination, "manifest.json"), JsonSerializer.Serialize(seed, ImageJsonContext.Default.ImageManifest) + "\n");
        return seed;
    }
}
