using System.Text.RegularExpressions;
using ZeroCloud.Model.Config;

namespace ZeroCloud.Node.Disks;

internal enum DiskAction
{
    /// <summary>No disk: the node runs with its data in RAM (or wherever its data folder is).</summary>
    None,

    /// <summary>A disk this agent formatted before (ext4 labelled zerocloud): mount it, never format it.</summary>
    Mount,

    /// <summary>A blank disk, or one the spec says to wipe: make the filesystem, then mount it.</summary>
    Format,
}

/// <summary>What to do with the node's disks, and why; <see cref="Skipped"/> names every matching device left alone.</summary>
internal sealed record DiskDecision(DiskAction Action, BlockDevice? Device, string Reason, IReadOnlyList<string> Skipped);

/// <summary>
/// Which disk a node claims (spec.nodes.disks), and the rules that keep data safe: a disk the agent formatted before
/// is used again as it is; otherwise the first entry that matches a device wins, devices in name order; a device that
/// is mounted, holds the root filesystem, is swap, held by another device or read-only is never touched; one that
/// carries a partition table, a filesystem or any data is formatted only when the entry that matched it says
/// <c>wipe: true</c> (and such an entry names one device: path or serial, checked when the spec is loaded).
/// </summary>
internal static class DiskChoice
{
    public static DiskDecision Decide(IReadOnlyList<DiskSelector> selectors, IReadOnlyList<BlockDevice> devices)
    {
        var skipped = new List<string>();
        foreach (var ours in devices.Where(d => d.Ours))
        {
            if (ours.Use is null || ours.MountedAt is not null)
            {
                return new DiskDecision(DiskAction.Mount, ours, $"{ours.Name} is this node's data disk (ext4 \"{BlockDevices.Label}\")", skipped);
            }

            skipped.Add($"{ours.Name} is a ZeroCloud disk but {ours.Use}");
        }

        if (selectors.Count == 0)
        {
            return new DiskDecision(DiskAction.None, null, "spec.nodes.disks names no disk", skipped);
        }

        for (var i = 0; i < selectors.Count; i++)
        {
            foreach (var device in devices.Where(d => Matches(selectors[i], d)))
            {
                var entry = $"spec.nodes.disks[{i}]";
                if (device.Use is not null)
                {
                    skipped.Add($"{device.Name} ({entry}) left alone: {device.Use}");
                }
                else if (device.Blank)
                {
                    return new DiskDecision(DiskAction.Format, device, $"{device.Name} matches {entry} and is blank", skipped);
                }
                else if (selectors[i].Wipe)
                {
                    return new DiskDecision(DiskAction.Format, device, $"{device.Name} matches {entry}, which says wipe: true; it held {What(device)}", skipped);
                }
                else if (!device.Content.StartsWith("unreadable", StringComparison.Ordinal) && !device.Content.StartsWith("empty", StringComparison.Ordinal))
                {
                    skipped.Add($"{device.Name} ({entry}) left alone: it carries {What(device)}; wipe: true on an entry that names it by path or serial formats it");
                }
                else
                {
                    skipped.Add($"{device.Name} ({entry}) left alone: {device.Content}");
                }
            }
        }

        return new DiskDecision(DiskAction.None, null, skipped.Count == 0 ? "no device matches spec.nodes.disks" : "no matching device can be used", skipped);
    }

    public static bool Matches(DiskSelector selector, BlockDevice device) =>
        (selector.Path is null || BlockDevices.Resolve(selector.Path) == device.Path || selector.Path == device.Path)
        && (selector.Serial is null || selector.Serial == device.Serial)
        && (selector.Model is null || (device.Model is not null && Glob(selector.Model, device.Model)))
        && (selector.MinSize is null || device.SizeBytes >= selector.MinSize)
        && (selector.MaxSize is null || device.SizeBytes <= selector.MaxSize)
        && (selector.Rotational is null || selector.Rotational == device.Rotational);

    private static string What(BlockDevice device) =>
        device.Partitions.Count == 0 ? device.Content : $"{device.Content} with partitions {string.Join(',', device.Partitions)}";

    private static bool Glob(string pattern, string text) =>
        Regex.IsMatch(text, "^" + string.Join(".*", pattern.Split('*').Select(Regex.Escape)) + "$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
}
