using System.Diagnostics;
using ZeroCloud.Model.Config;
using ZeroCloud.Node.Disks;

namespace ZeroCloud.Node.Tests;

/// <summary>
/// What a disk holds, read the way the agent reads it (first and last MiB), checked against what mkfs.ext4 and mkswap
/// wrote and what blkid says; and which disk the agent claims, where a disk with data, one in use or the root
/// filesystem's is never formatted.
/// </summary>
public sealed class DiskTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("zc-disk-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Image(string name, int mib = 8)
    {
        var path = Path.Combine(_folder, name);
        using var file = File.Create(path);
        file.SetLength((long)mib << 20);
        return path;
    }

    private static string Run(string program, params string[] args)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        return output.Trim();
    }

    private static (string Content, string? Label) Identify(string path) => BlockDevices.Probe(path, new FileInfo(path).Length);

    [Fact]
    public void A_blank_disk_reads_blank_and_any_byte_in_its_first_or_last_MiB_is_data()
    {
        var blank = Image("blank");
        Assert.Equal((BlockDevices.BlankContent, null), Identify(blank));
        using (var file = File.OpenWrite(blank))
        {
            file.Position = (8 << 20) - 100;
            file.WriteByte(7);
        }

        Assert.StartsWith("data", Identify(blank).Content, StringComparison.Ordinal);
    }

    [Fact]
    public void An_ext4_made_by_mkfs_is_named_with_its_label_and_a_zerocloud_label_marks_the_agents_disk()
    {
        var user = Image("user");
        Run("mkfs.ext4", "-q", "-F", "-L", "userdata", user);
        Assert.Equal("ext4", Run("blkid", "-o", "value", "-s", "TYPE", user));
        Assert.Equal(("ext4 \"userdata\"", "userdata"), Identify(user));

        var ours = Image("ours");
        Run("mkfs.ext4", "-q", "-F", "-L", BlockDevices.Label, ours);
        var (content, label) = Identify(ours);
        Assert.True(Device("vdb", content, label).Ours);
        Assert.False(Device("vdc", "ext4 \"userdata\"", "userdata").Ours);
    }

    [Fact]
    public void Swap_and_partition_tables_are_recognised()
    {
        var swap = Image("swap");
        Run("mkswap", swap);
        Assert.Equal("swap", Run("blkid", "-o", "value", "-s", "TYPE", swap));
        Assert.Equal("swap", Identify(swap).Content);

        var head = new byte[1 << 20];
        head[510] = 0x55;
        head[511] = 0xAA;
        Assert.Equal("dos partition table", BlockDevices.Identify(head, new byte[1 << 20]).Content);
        "EFI PART"u8.CopyTo(head.AsSpan(512));
        Assert.Equal("gpt partition table", BlockDevices.Identify(head, new byte[1 << 20]).Content);
    }

    private static BlockDevice Device(string name, string content = BlockDevices.BlankContent, string? label = null, long size = 100L << 30, string? use = null, string? model = "QEMU HARDDISK", string? serial = null, bool rotational = false, string[]? partitions = null, string? mountedAt = null) =>
        new(name, $"/dev/{name}", size, rotational, model, serial, partitions ?? [], content, label, use, mountedAt);

    private static DiskSelector Select(string? path = null, string? model = null, string? serial = null, long? min = null, long? max = null, bool? rotational = null, bool wipe = false) =>
        new(path, model, serial, min, max, rotational, wipe);

    [Fact]
    public void The_first_entry_that_matches_a_usable_device_wins_and_a_blank_disk_is_formatted()
    {
        BlockDevice[] devices = [Device("sda", size: 500L << 30, rotational: true, model: "WDC WD5000"), Device("sdb", size: 200L << 30, model: "Samsung SSD 870"), Device("sdc", size: 200L << 30, model: "Samsung SSD 870")];
        var decision = DiskChoice.Decide([Select(model: "Samsung SSD*", min: 100L << 30, rotational: false), Select(rotational: true)], devices);
        Assert.Equal((DiskAction.Format, "sdb"), (decision.Action, decision.Device?.Name));

        decision = DiskChoice.Decide([Select(min: 300L << 30)], devices);
        Assert.Equal((DiskAction.Format, "sda"), (decision.Action, decision.Device?.Name));

        decision = DiskChoice.Decide([Select(model: "Intel*")], devices);
        Assert.Equal(DiskAction.None, decision.Action);
        Assert.Equal("no device matches spec.nodes.disks", decision.Reason);
    }

    [Fact]
    public void A_disk_with_a_filesystem_partitions_or_data_is_left_alone_without_wipe_and_formatted_with_it()
    {
        BlockDevice[] devices = [Device("vdb", "ext4 \"userdata\"", "userdata"), Device("vdc", "data (no signature this agent knows)"), Device("vdd", "gpt partition table", partitions: ["vdd1"])];
        var decision = DiskChoice.Decide([Select(min: 1L << 30)], devices);
        Assert.Equal(DiskAction.None, decision.Action);
        Assert.Equal(3, decision.Skipped.Count);
        Assert.Contains("vdb (spec.nodes.disks[0]) left alone: it carries ext4 \"userdata\"; wipe: true", decision.Skipped[0], StringComparison.Ordinal);
        Assert.Contains("gpt partition table with partitions vdd1", decision.Skipped[2], StringComparison.Ordinal);

        decision = DiskChoice.Decide([Select(path: "/dev/vdc", wipe: true)], devices);
        Assert.Equal((DiskAction.Format, "vdc"), (decision.Action, decision.Device?.Name));
    }

    [Fact]
    public void A_disk_in_use_is_never_formatted_even_with_wipe()
    {
        BlockDevice[] devices = [Device("sda", "dos partition table", partitions: ["sda1"], use: "sda1 holds the root filesystem"), Device("sdb", use: "sdb is mounted at /srv"), Device("sdc", "swap", use: "sdc is in use as swap"), Device("sdd", "LVM", use: "sdd is held by dm-0")];
        foreach (var device in devices)
        {
            var decision = DiskChoice.Decide([Select(path: device.Path, wipe: true)], devices);
            Assert.Equal(DiskAction.None, decision.Action);
            Assert.Contains(device.Use!, decision.Skipped.Single(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_disk_the_agent_formatted_before_is_mounted_whatever_the_spec_says_and_never_formatted_again()
    {
        BlockDevice[] devices = [Device("vda"), Device("vdb", $"ext4 \"{BlockDevices.Label}\"", BlockDevices.Label)];
        var decision = DiskChoice.Decide([Select(path: "/dev/vda")], devices);
        Assert.Equal((DiskAction.Mount, "vdb"), (decision.Action, decision.Device?.Name));
        Assert.Equal((DiskAction.Mount, "vdb"), (DiskChoice.Decide([], devices).Action, DiskChoice.Decide([], devices).Device?.Name));
        Assert.Equal(DiskAction.None, DiskChoice.Decide([], [Device("vda")]).Action);
    }

    [Fact]
    public void Data_in_a_tmpfs_is_in_memory_and_data_on_a_disk_filesystem_is_not()
    {
        // A folder below a tmpfs mount, not the mount point itself.
        var below = Directory.CreateTempSubdirectory("zc-ram-").FullName;
        var ram = Path.Combine("/dev/shm", Path.GetFileName(below));
        Directory.Delete(below);
        try
        {
            Assert.True(DataDisk.InMemory(ram));
        }
        finally
        {
            Directory.Delete(ram);
        }

        Assert.False(DataDisk.InMemory(_folder));
    }
}
