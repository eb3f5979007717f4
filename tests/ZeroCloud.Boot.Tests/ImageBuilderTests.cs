using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json.Nodes;

namespace ZeroCloud.Boot.Tests;

public sealed class ImageBuilderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("zc-image-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static ImageSpec Spec()
    {
        var (kernel, modules) = ImageBuilder.DistroKernel();
        // Any dynamically linked ELF stands in for a service binary: /bin/true needs libc and the loader.
        return new ImageSpec("test", "/bin/true", kernel, modules, "0.0.0-test", "console=ttyS0");
    }

    [Fact]
    public void Building_twice_gives_byte_identical_files()
    {
        var first = ImageBuilder.Build(Spec(), Path.Combine(_dir, "a"));
        var second = ImageBuilder.Build(Spec(), Path.Combine(_dir, "b"));
        Assert.Equal(first.Files, second.Files);
        foreach (var file in new[] { "vmlinuz", "initrd.img", "manifest.json" })
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(_dir, "a", file)), File.ReadAllBytes(Path.Combine(_dir, "b", file)));
        }
    }

    [Fact]
    public void The_initramfs_holds_init_its_libraries_the_nic_modules_and_console()
    {
        var manifest = ImageBuilder.Build(Spec(), _dir);
        using var gzip = new GZipStream(File.OpenRead(Path.Combine(_dir, "initrd.img")), CompressionMode.Decompress);
        using var cpio = new MemoryStream();
        gzip.CopyTo(cpio);
        var entries = CpioWriter.Read(cpio.ToArray()).ToDictionary(e => e.Path);
        Assert.Equal(File.ReadAllBytes("/bin/true"), entries["init"].Data);
        Assert.Equal(0b111_101_101, entries["init"].Mode);
        Assert.True(entries.ContainsKey("lib/x86_64-linux-gnu/libc.so.6"));
        Assert.True(entries.ContainsKey("lib64/ld-linux-x86-64.so.2"));
        Assert.Equal(CpioKind.CharDevice, entries["dev/console"].Kind);
        foreach (var folder in new[] { "proc", "sys", "run", "tmp" })
        {
            Assert.Equal(CpioKind.Directory, entries[folder].Kind);
        }

        var order = System.Text.Encoding.UTF8.GetString(entries["etc/zc/modules"].Data).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(manifest.Modules.Count, order.Length);
        Assert.Contains(manifest.Modules, m => m == "virtio_net");
        Assert.Contains(manifest.Modules, m => m == "e1000");
        Assert.True(Array.FindIndex(order, m => m.EndsWith("/virtio_ring.ko", StringComparison.Ordinal)) < Array.FindIndex(order, m => m.EndsWith("/virtio_net.ko", StringComparison.Ordinal)));
        Assert.All(order, m => Assert.True(entries.ContainsKey(m.TrimStart('/')), m));
        Assert.Equal(manifest.Files.Single(f => f.Name == "vmlinuz").Size, new FileInfo(Spec().Kernel).Length);
    }

    [Fact]
    public void The_oci_image_is_reproducible_and_holds_init_and_its_libraries_but_no_modules_or_devices()
    {
        var first = ImageBuilder.Build(Spec() with { Oci = true }, Path.Combine(_dir, "a"));
        var second = ImageBuilder.Build(Spec() with { Oci = true }, Path.Combine(_dir, "b"));
        Assert.NotNull(first.Oci);
        Assert.Equal(first.Oci, second.Oci);
        var layoutA = Path.Combine(_dir, "a", OciImage.Folder);
        var files = Directory.GetFiles(layoutA, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(layoutA, f)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(files, Directory.GetFiles(Path.Combine(_dir, "b", OciImage.Folder), "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(Path.Combine(_dir, "b", OciImage.Folder), f)).Order(StringComparer.Ordinal));
        foreach (var file in files)
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(layoutA, file)), File.ReadAllBytes(Path.Combine(_dir, "b", OciImage.Folder, file)));
        }

        // index.json → the manifest (its digest is the one recorded) → the config and one layer, each by its digest.
        JsonNode Blob(string digest)
        {
            var bytes = File.ReadAllBytes(Path.Combine(layoutA, "blobs", "sha256", digest["sha256:".Length..]));
            Assert.Equal(digest, "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)));
            return JsonNode.Parse(bytes)!;
        }

        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(layoutA, "index.json")))!;
        Assert.Equal(first.Oci, index["manifests"]![0]!["digest"]!.GetValue<string>());
        Assert.Equal("0.0.0-test", index["manifests"]![0]!["annotations"]!["org.opencontainers.image.ref.name"]!.GetValue<string>());
        var manifest = Blob(first.Oci!);
        var config = Blob(manifest["config"]!["digest"]!.GetValue<string>());
        Assert.Equal("/init", config["config"]!["Entrypoint"]![0]!.GetValue<string>());
        Assert.Contains("ZC_RUNTIME=container", config["config"]!["Env"]!.AsArray().Select(e => e!.GetValue<string>()));
        Assert.Null(config["created"]);
        var layerDigest = Assert.Single(manifest["layers"]!.AsArray())!["digest"]!.GetValue<string>();
        Assert.Equal(layerDigest, config["rootfs"]!["diff_ids"]![0]!.GetValue<string>());

        using var tar = new TarReader(File.OpenRead(Path.Combine(layoutA, "blobs", "sha256", layerDigest["sha256:".Length..])));
        var entries = new Dictionary<string, TarEntry>();
        while (tar.GetNextEntry() is { } entry)
        {
            entries[entry.Name] = entry;
            Assert.Equal(DateTimeOffset.UnixEpoch, entry.ModificationTime);
            Assert.Equal((0, 0), (entry.Uid, entry.Gid));
        }

        Assert.Equal(new FileInfo("/bin/true").Length, entries["init"].Length);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute, entries["init"].Mode);
        Assert.Contains("lib/x86_64-linux-gnu/libc.so.6", entries.Keys);
        Assert.Contains("etc/zc/image", entries.Keys);
        Assert.Equal(TarEntryType.Directory, entries["tmp/"].EntryType);
        Assert.DoesNotContain(entries.Keys, k => k.StartsWith("lib/modules", StringComparison.Ordinal) || k.StartsWith("dev", StringComparison.Ordinal) || k == "etc/zc/modules");

        // Without --oci a rebuild leaves no stale layout behind, and the manifest names none.
        Assert.Null(ImageBuilder.Build(Spec(), Path.Combine(_dir, "a")).Oci);
        Assert.False(Directory.Exists(layoutA));
        Assert.DoesNotContain("\"oci\"", File.ReadAllText(Path.Combine(_dir, "a", "manifest.json")), StringComparison.Ordinal);
    }
}
