using System.Text;

namespace ZeroCloud.Boot.Tests;

public class CpioWriterTests
{
    [Fact]
    public void Archive_reads_back_sorted_with_fixed_owner_and_time()
    {
        using var stream = new MemoryStream();
        CpioWriter.Write(stream, [
            CpioEntry.File("init", "#!x"u8.ToArray(), 0b111_101_101),
            CpioEntry.Directory("dev"),
            CpioEntry.CharDevice("dev/console", 5, 1),
            CpioEntry.Symlink("bin", "usr/bin"),
        ]);
        var bytes = stream.ToArray();
        Assert.Equal(0, bytes.Length % 4);
        var text = Encoding.ASCII.GetString(bytes);
        Assert.StartsWith("070701", text, StringComparison.Ordinal);
        Assert.Contains("TRAILER!!!", text, StringComparison.Ordinal);
        var entries = CpioWriter.Read(bytes);
        Assert.Equal(["bin", "dev", "dev/console", "init"], entries.Select(e => e.Path));
        Assert.Equal(CpioKind.CharDevice, entries[2].Kind);
        Assert.Equal((5, 1), (entries[2].RdevMajor, entries[2].RdevMinor));
        Assert.Equal("usr/bin", Encoding.UTF8.GetString(entries[0].Data));
        Assert.Equal("#!x"u8.ToArray(), entries[3].Data);
        Assert.Equal(0b111_101_101, entries[3].Mode);
        // Header fields 3..5 (uid, gid, nlink) and 6 (mtime) of the first entry: uid 0, gid 0, mtime 0.
        Assert.Equal("00000000", text.Substring(6 + (2 * 8), 8));
        Assert.Equal("00000000", text.Substring(6 + (3 * 8), 8));
        Assert.Equal("00000000", text.Substring(6 + (5 * 8), 8));
    }

    [Theory]
    [InlineData("/etc/passwd")]
    [InlineData("../x")]
    [InlineData("")]
    public void Paths_outside_the_archive_are_refused(string path)
    {
        Assert.Throws<ArgumentException>(() => CpioWriter.Write(new MemoryStream(), [CpioEntry.File(path, [])]));
    }

    [Fact]
    public void Modules_come_with_their_dependencies_first()
    {
        const string Dep = """
            kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko
            kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
            kernel/net/core/failover.ko:
            kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
            kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
            kernel/drivers/virtio/virtio_ring.ko:
            kernel/drivers/net/ethernet/intel/e1000/e1000.ko:
            """;
        var order = KernelModules.Resolve(Dep, ["virtio_pci", "virtio_net", "e1000"]).Select(KernelModules.ModuleName).ToList();
        Assert.Equal(["virtio_ring", "virtio", "virtio_pci", "failover", "net_failover", "virtio_net", "e1000"], order);
        Assert.Throws<KeyNotFoundException>(() => KernelModules.Resolve(Dep, ["nope"]));
    }

    [Fact]
    public void Elf_dependencies_of_a_system_binary()
    {
        var elf = ElfFile.Read(File.ReadAllBytes("/bin/true"));
        Assert.Equal("/lib64/ld-linux-x86-64.so.2", elf.Interpreter);
        Assert.Contains("libc.so.6", elf.Needed);
        var closure = ElfFile.Closure("/bin/true");
        Assert.Contains("/lib/x86_64-linux-gnu/libc.so.6", closure);
        Assert.Contains("/lib64/ld-linux-x86-64.so.2", closure);
        Assert.Throws<InvalidDataException>(() => ElfFile.Read("#!/bin/sh\n"u8.ToArray().Concat(new byte[64]).ToArray()));
    }
}
