using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Node.Disks;

/// <summary>
/// A block device as the agent sees it. <see cref="Content"/> is what its first and last MiB hold (<see cref="BlockDevices.Identify"/>);
/// <see cref="Use"/> says why it is busy (mounted, the root filesystem, swap, held by another device, read-only),
/// null when nothing uses it. <see cref="Label"/> is its ext4 label, when it has one.
/// </summary>
internal sealed record BlockDevice(string Name, string Path, long SizeBytes, bool Rotational, string? Model, string? Serial, IReadOnlyList<string> Partitions, string Content, string? Label, string? Use, string? MountedAt)
{
    /// <summary>Nothing on it: no partition, and its first and last MiB are zeros.</summary>
    public bool Blank => Content == BlockDevices.BlankContent && Partitions.Count == 0;

    /// <summary>A ZeroCloud data disk: ext4 with the label the agent gives the disks it formats.</summary>
    public bool Ours => Content.StartsWith("ext4", StringComparison.Ordinal) && Label == BlockDevices.Label && Partitions.Count == 0;

    public DiskInfo ToInfo() => new(Name, SizeBytes, Rotational, Model, Serial, Path, Partitions.Count == 0 ? null : string.Join(',', Partitions), Content, Use);

    /// <summary>One line for <c>zc get nodes</c>: name, size, type, model, serial, what it holds, what uses it.</summary>
    public string Summary() =>
        $"{Name} {Size(SizeBytes)} {(Rotational ? "hdd" : "ssd")}{(Model is null ? "" : $" \"{Model}\"")}{(Serial is null ? "" : $" serial {Serial}")}: {Content}"
        + (Partitions.Count == 0 ? "" : $", partitions {string.Join(',', Partitions)}") + (Use is null ? "" : $"; {Use}");

    public static string Size(long bytes) => bytes >= 1L << 30
        ? (bytes / (double)(1L << 30)).ToString("0.#", CultureInfo.InvariantCulture) + " GiB"
        : (bytes >> 20).ToString(CultureInfo.InvariantCulture) + " MiB";
}

/// <summary>
/// The machine's block devices from /sys/block, /proc/self/mountinfo and /proc/swaps, and what each holds, read from
/// the device itself (its first and last MiB: filesystem and partition-table signatures, or any non-zero byte).
/// By default a disk is a /sys/block entry with a device behind it (not loop, ram, zram, dm or md); an agent given
/// <c>--block-devices</c> sees only those (the lab's emulated servers: the loop devices made for them).
/// </summary>
internal static class BlockDevices
{
    /// <summary>The label of the ext4 filesystem the agent makes on the disk it claims.</summary>
    public const string Label = "zerocloud";

    public const string BlankContent = "blank";

    private const int Window = 1 << 20;

    public static List<BlockDevice> Scan(IReadOnlyList<string>? only, string sys = "/sys", string proc = "/proc")
    {
        var mounts = Mounts(Path.Combine(proc, "self", "mountinfo"));
        var swaps = Swaps(Path.Combine(proc, "swaps"));
        var devices = new List<BlockDevice>();
        var block = Path.Combine(sys, "block");
        IEnumerable<string> names = only is not null
            ? only.Select(p => System.IO.Path.GetFileName(Resolve(p)))
            : Directory.Exists(block) ? Directory.GetDirectories(block).Select(d => System.IO.Path.GetFileName(d)).Where(n => Directory.Exists(Path.Combine(block, n, "device"))) : [];
        foreach (var name in names.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            var dir = Path.Combine(block, name);
            if (!Directory.Exists(dir))
            {
                continue;
            }

            var sectors = long.TryParse(Read(Path.Combine(dir, "size")), CultureInfo.InvariantCulture, out var s) ? s : 0;
            var partitions = Directory.GetDirectories(dir).Where(d => File.Exists(Path.Combine(d, "partition"))).Select(System.IO.Path.GetFileName).Order(StringComparer.Ordinal).ToList();
            var path = $"/dev/{name}";
            var uses = new List<string>();
            string? mountedAt = null;
            foreach (var (part, partDir) in new[] { (name, dir) }.Concat(partitions.Select(p => (p!, Path.Combine(dir, p!)))))
            {
                if (Read(Path.Combine(partDir, "dev")) is { } dev && mounts.TryGetValue(dev, out var at))
                {
                    mountedAt ??= part == name ? at[0] : null;
                    uses.Add(at.Contains("/") ? $"{part} holds the root filesystem" : $"{part} is mounted at {string.Join(", ", at)}");
                }

                if (swaps.Contains($"/dev/{part}"))
                {
                    uses.Add($"{part} is in use as swap");
                }

                if (Directory.Exists(Path.Combine(partDir, "holders")) && Directory.GetFileSystemEntries(Path.Combine(partDir, "holders")).Select(System.IO.Path.GetFileName).ToList() is { Count: > 0 } holders)
                {
                    uses.Add($"{part} is held by {string.Join(", ", holders)}");
                }
            }

            if (Read(Path.Combine(dir, "ro")) == "1")
            {
                uses.Add("read-only");
            }

            var (content, label) = sectors == 0 ? ("empty (no medium)", null) : Probe(path, sectors * 512);
            devices.Add(new BlockDevice(
                name,
                path,
                sectors * 512,
                Read(Path.Combine(dir, "queue", "rotational")) == "1",
                Read(Path.Combine(dir, "device", "model")) ?? Read(Path.Combine(dir, "device", "name")),
                Read(Path.Combine(dir, "serial")) ?? Read(Path.Combine(dir, "device", "serial")) ?? Read(Path.Combine(dir, "device", "wwid")),
                [.. partitions!],
                content,
                label,
                uses.Count == 0 ? null : string.Join("; ", uses),
                mountedAt));
        }

        return devices;
    }

    /// <summary>Reads the device's first and last MiB and names what they hold; a device that cannot be read says why.</summary>
    public static (string Content, string? Label) Probe(string path, long size)
    {
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            var head = new byte[(int)Math.Min(Window, size)];
            var read = RandomAccess.Read(handle, head, 0);
            var tail = new byte[(int)Math.Min(Window, size)];
            var tailRead = RandomAccess.Read(handle, tail, size - tail.Length);
            return Identify(head.AsSpan(0, read), tail.AsSpan(0, tailRead));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return ($"unreadable ({ex.Message})", null);
        }
    }

    /// <summary>
    /// What a device holds, from its first bytes (<paramref name="head"/>) and its last (<paramref name="tail"/>):
    /// ext2/3/4 (with its label), xfs, btrfs, swap, LUKS, LVM, iso9660, vfat, a GPT or DOS partition table, other data
    /// (any non-zero byte), or blank.
    /// </summary>
    public static (string Content, string? Label) Identify(ReadOnlySpan<byte> head, ReadOnlySpan<byte> tail)
    {
        bool At(ReadOnlySpan<byte> data, int offset, string magic) =>
            data.Length >= offset + magic.Length && data.Slice(offset, magic.Length).SequenceEqual(Encoding.Latin1.GetBytes(magic));

        if (head.Length >= 1024 + 136 && BinaryPrimitives.ReadUInt16LittleEndian(head[(1024 + 56)..]) == 0xEF53)
        {
            var label = Encoding.UTF8.GetString(head.Slice(1024 + 120, 16)).TrimEnd('\0');
            return (label.Length == 0 ? "ext4" : $"ext4 \"{label}\"", label);
        }

        var known = At(head, 0, "XFSB") ? "xfs"
            : At(head, 0x10040, "_BHRfS_M") ? "btrfs"
            : At(head, 4086, "SWAPSPACE2") || At(head, 4086, "SWAP-SPACE") ? "swap"
            : At(head, 0, "LUKS\u00ba\u00be") ? "LUKS"
            : At(head, 512, "LABELONE") ? "LVM"
            : At(head, 32769, "CD001") ? "iso9660"
            : At(head, 512, "EFI PART") ? "gpt partition table"
            : At(head, 54, "FAT") || At(head, 82, "FAT32") ? "vfat"
            : head.Length >= 512 && head[510] == 0x55 && head[511] == 0xAA ? "dos partition table"
            : null;
        if (known is not null)
        {
            return (known, null);
        }

        return head.ContainsAnyExcept((byte)0) || tail.ContainsAnyExcept((byte)0) ? ("data (no signature this agent knows)", null) : (BlankContent, null);
    }

    /// <summary>"major:minor" → the mount points of that device, from mountinfo.</summary>
    private static Dictionary<string, List<string>> Mounts(string mountinfo)
    {
        var result = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var line in (Read(mountinfo) ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split(' ');
            if (fields.Length > 4)
            {
                var at = fields[4].Replace("\\040", " ", StringComparison.Ordinal);
                (result.TryGetValue(fields[2], out var list) ? list : result[fields[2]] = []).Add(at);
            }
        }

        return result;
    }

    private static HashSet<string> Swaps(string swaps) =>
        [.. (Read(swaps) ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => l.Split(' ', '\t')[0])];

    /// <summary>A /dev/disk/by-id/… link resolved to its device; any other path as it is.</summary>
    public static string Resolve(string path)
    {
        try
        {
            return new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path;
        }
        catch (IOException)
        {
            return path;
        }
    }

    private static string? Read(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim() is { Length: > 0 } text ? text : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
