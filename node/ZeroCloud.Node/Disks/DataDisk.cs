using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using ZeroCloud.Init;
using ZeroCloud.Model.Config;

namespace ZeroCloud.Node.Disks;

/// <summary>What the agent writes at the top of the disk it formats: whose data it holds.</summary>
internal sealed record DiskMarker(int Version, string Node, string? Cluster, string Device, string? Serial, DateTime Formatted);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(DiskMarker))]
internal sealed partial class DiskJsonContext : JsonSerializerContext;

/// <summary>
/// The node's data disk, mounted on its data folder (<c>/var/lib/zerocloud</c> on a booted machine) so that the node's
/// key, its voter's log, leases, storage chunks and the image cache survive a reboot. At start the agent mounts a
/// disk it formatted before (<see cref="MountExisting"/>), before it reads anything from the folder; after its join it
/// claims one the applied spec names (<see cref="ClaimAsync"/>): <c>mkfs.ext4</c>, labelled <c>zerocloud</c>, what the
/// folder held copied onto it, then mounted there. The disk records the node's name and the cluster's root
/// (<c>zerocloud-disk.json</c>): a disk from another node or another cluster is never mounted. Without a disk the node
/// says so and runs from its folder as it is (<see cref="Persistent"/> false when that is RAM).
/// </summary>
internal sealed class DataDisk(IReadOnlyList<string>? only, string data, string node, string? cluster, ILogger log)
{
    public const string MarkerFile = "zerocloud-disk.json";

    private readonly string _data = Path.GetFullPath(data).TrimEnd('/');
    private volatile string _summary = "none yet";
    private volatile bool _mounted;
    private volatile IReadOnlyList<string> _lines = [];

    // Read once (every heartbeat reports it); a mount on the folder is what changes it.
    private readonly bool _inMemory = InMemory(data);

    /// <summary>True once a disk is mounted on the data folder.</summary>
    public bool Mounted => _mounted;

    /// <summary>Whether the data folder survives a reboot: a claimed disk, or a folder on a disk's filesystem (not tmpfs, ramfs or an initramfs).</summary>
    public bool Persistent => _mounted || !_inMemory;

    /// <summary>The data disk in words, or why there is none.</summary>
    public string Summary => _summary;

    /// <summary>Every block device the agent sees, one line each.</summary>
    public IReadOnlyList<string> Lines => _lines;

    /// <summary>At start: mounts a disk this agent formatted before (it holds the node's key and its instances' data).</summary>
    public void MountExisting()
    {
        var ours = DiskChoice.Decide([], Scan());
        if (ours.Action == DiskAction.Mount)
        {
            try
            {
                Mount(ours.Device!);
            }
            catch (IOException ex)
            {
                NoDisk(ours with { Reason = $"mounting {ours.Device!.Path}: {ex.Message}" });
            }
        }
        else
        {
            NoDisk(ours with { Reason = "no disk holds a ZeroCloud filesystem yet" });
        }
    }

    /// <summary>After the join: claims the disk the applied spec names, unless one is mounted already.</summary>
    public async Task ClaimAsync(IReadOnlyList<DiskSelector> selectors, CancellationToken ct)
    {
        if (_mounted)
        {
            return;
        }

        var decision = DiskChoice.Decide(selectors, Scan());
        try
        {
            switch (decision.Action)
            {
                case DiskAction.Mount:
                    Mount(decision.Device!);
                    break;
                case DiskAction.Format:
                    await FormatAsync(decision.Device!, decision.Reason, ct).ConfigureAwait(false);
                    break;
                default:
                    NoDisk(decision);
                    break;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.ComponentModel.Win32Exception)
        {
            // The node runs on without a disk and says why, rather than losing its instance runtime to an exception.
            NoDisk(new DiskDecision(DiskAction.None, null, $"claiming {decision.Device?.Path}: {ex.Message}", []));
        }
    }

    private List<BlockDevice> Scan()
    {
        var devices = BlockDevices.Scan(only);
        _lines = [.. devices.Select(d => d.Summary())];
        return devices;
    }

    private void NoDisk(DiskDecision decision)
    {
        var where = _inMemory ? "its data is in RAM and is lost when the machine restarts" : $"its data stays in {_data} on this host's filesystem";
        _summary = $"none: {decision.Reason}{(decision.Skipped.Count == 0 ? "" : $" ({string.Join("; ", decision.Skipped)})")}; {where}";
        foreach (var skipped in decision.Skipped)
        {
            log.LogWarning("disk {Skipped}", skipped);
        }

        log.LogInformation("no data disk: {Summary}", _summary);
    }

    /// <summary>Mounts a ZeroCloud disk on the data folder after checking on a side mount that it holds this node's data.</summary>
    private void Mount(BlockDevice device)
    {
        if (device.MountedAt is { } at)
        {
            if (Path.GetFullPath(at).TrimEnd('/') == _data)
            {
                SetMounted(device, "mounted already");
                return;
            }

            NoDisk(new DiskDecision(DiskAction.None, null, $"{device.Name} is a ZeroCloud disk but is mounted at {at}", []));
            return;
        }

        var side = $"{_data}.disk";
        Directory.CreateDirectory(side);
        try
        {
            Linux.MountDevice(device.Path, side, "ext4");
        }
        catch (IOException ex)
        {
            NoDisk(new DiskDecision(DiskAction.None, null, $"{device.Name}: {ex.Message}", []));
            return;
        }

        var problem = CheckMarker(side, device);
        Linux.Unmount(side);
        Directory.Delete(side);
        if (problem is not null)
        {
            NoDisk(new DiskDecision(DiskAction.None, null, problem, []));
            return;
        }

        Directory.CreateDirectory(_data);
        Linux.MountDevice(device.Path, _data, "ext4");
        SetMounted(device, "mounted");
    }

    private string? CheckMarker(string root, BlockDevice device)
    {
        var file = Path.Combine(root, MarkerFile);
        if (!File.Exists(file))
        {
            // Formatted, then stopped before the marker was written: it is this node's.
            WriteMarker(root, device);
            return null;
        }

        try
        {
            var marker = JsonSerializer.Deserialize(File.ReadAllText(file), DiskJsonContext.Default.DiskMarker)!;
            if (marker.Node != node)
            {
                return $"{device.Name} holds the data of node {marker.Node}, not of {node}: left alone (put it back in that machine, or name it with wipe: true to reuse it)";
            }

            if (cluster is not null && marker.Cluster is not null && !string.Equals(marker.Cluster, cluster, StringComparison.OrdinalIgnoreCase))
            {
                return $"{device.Name} holds node {node}'s data from another cluster (root {marker.Cluster[..16]}…, this one's is {cluster[..16]}…): left alone (name it with wipe: true to reuse it)";
            }

            return null;
        }
        catch (Exception ex) when (ex is JsonException or IOException)
        {
            return $"{device.Name}: {file} cannot be read ({ex.Message}): left alone";
        }
    }

    private void WriteMarker(string root, BlockDevice device)
    {
        var marker = new DiskMarker(1, node, cluster, device.Path, device.Serial, DateTime.UtcNow);
        var file = Path.Combine(root, MarkerFile);
        File.WriteAllText(file + ".new", JsonSerializer.Serialize(marker, DiskJsonContext.Default.DiskMarker) + "\n");
        File.Move(file + ".new", file, overwrite: true);
    }

    private void SetMounted(BlockDevice device, string how)
    {
        _mounted = true;
        _summary = $"{device.Name}: {BlockDevice.Size(device.SizeBytes)} ext4 \"{BlockDevices.Label}\" at {_data}";
        log.LogInformation("data disk {Device} {How} on {Data}", device.Path, how, _data);
    }

    private async Task FormatAsync(BlockDevice device, string reason, CancellationToken ct)
    {
        // Looked at again just before: nothing may have started using it since the scan.
        var now = BlockDevices.Scan([device.Path]).FirstOrDefault();
        if (now is null || now.Use is not null || (!now.Blank && !device.Blank && now.Content != device.Content))
        {
            NoDisk(new DiskDecision(DiskAction.None, null, $"{device.Name} changed while it was being claimed ({now?.Use ?? now?.Content ?? "gone"}): left alone", []));
            return;
        }

        log.LogWarning("formatting {Device} ({Size}) as this node's data disk: {Reason}", device.Path, BlockDevice.Size(device.SizeBytes), reason);
        if (!device.Blank)
        {
            // wipe: true — the partition tables (GPT keeps a copy at the end) and signatures go first.
            await using var stream = new FileStream(device.Path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
            var zeros = new byte[1 << 20];
            await stream.WriteAsync(zeros.AsMemory(0, (int)Math.Min(zeros.Length, device.SizeBytes)), ct).ConfigureAwait(false);
            stream.Position = Math.Max(0, device.SizeBytes - zeros.Length);
            await stream.WriteAsync(zeros.AsMemory(0, (int)Math.Min(zeros.Length, device.SizeBytes)), ct).ConfigureAwait(false);
            await stream.FlushAsync(ct).ConfigureAwait(false);
        }

        var mkfs = Mkfs();
        if (mkfs is null)
        {
            NoDisk(new DiskDecision(DiskAction.None, null, $"{device.Name} cannot be formatted: mkfs.ext4 is not on this machine (the node image carries it; apt-get install e2fsprogs on a host)", []));
            return;
        }

        var info = new ProcessStartInfo(mkfs) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "-F", "-q", "-L", BlockDevices.Label, "-m", "1", "-E", "nodiscard,lazy_itable_init=1,lazy_journal_init=1", device.Path })
        {
            info.ArgumentList.Add(arg);
        }

        using (var process = Children.Start(info))
        {
            var output = process.StandardOutput.ReadToEndAsync(ct);
            var errors = await process.StandardError.ReadToEndAsync(ct).ConfigureAwait(false);
            await process.WaitForExitAsync(ct).ConfigureAwait(false);
            if (process.ExitCode != 0)
            {
                NoDisk(new DiskDecision(DiskAction.None, null, $"mkfs.ext4 {device.Path} failed (exit {process.ExitCode}): {(await output.ConfigureAwait(false) + errors).Trim()}", []));
                return;
            }
        }

        // What the folder holds already (the node's key, its certificate) goes onto the disk, then the disk replaces it.
        var side = $"{_data}.disk";
        Directory.CreateDirectory(side);
        Linux.MountDevice(device.Path, side, "ext4");
        try
        {
            WriteMarker(side, device);
            Copy(_data, side);
        }
        finally
        {
            Linux.Unmount(side);
            Directory.Delete(side);
        }

        foreach (var entry in new DirectoryInfo(_data).EnumerateFileSystemInfos())
        {
            if (entry is DirectoryInfo folder)
            {
                folder.Delete(recursive: true);
            }
            else
            {
                entry.Delete();
            }
        }

        Linux.MountDevice(device.Path, _data, "ext4");
        SetMounted(device, "formatted and mounted");
        Scan();
    }

    private static void Copy(string from, string to)
    {
        foreach (var dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        }

        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            File.Copy(file, target, overwrite: true);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(target, File.GetUnixFileMode(file));
            }
        }
    }

    private static readonly string[] MkfsPlaces = ["/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"];

    private static string? Mkfs() =>
        MkfsPlaces
            .Concat((Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Select(p => Path.Combine(p, "mkfs.ext4")))
            .FirstOrDefault(File.Exists);

    /// <summary>Whether a folder lives in memory: tmpfs, or ramfs (the initramfs a booted machine runs from).</summary>
    public static bool InMemory(string folder)
    {
        try
        {
            Directory.CreateDirectory(folder);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        return Linux.FileSystemType(folder) is Linux.TmpfsMagic or Linux.RamfsMagic;
    }
}
