using System.IO.Compression;

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
}
