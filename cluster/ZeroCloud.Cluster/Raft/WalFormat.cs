using System.Text.Json;
using System.Text.Json.Serialization;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;

namespace ZeroCloud.Cluster.Raft;

/// <summary>A member's log or snapshot is damaged (a flipped byte, a missing page, a cut file): it refuses to serve from it.</summary>
public sealed class DamagedStateException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// How a member's write-ahead log is written, recorded next to it in <c>wal-format.json</c>: DotNext cannot change
/// the chunk size or the integrity hash of an existing log, and does not record them itself (a log opened with other
/// options is misread, not refused). Production options: entries in private memory flushed with ordinary writes (a
/// full disk is an <see cref="IOException"/>, not SIGBUS from a mapped page, and no descriptor stays open per page),
/// 2 MiB chunks (the size of a transparent huge page), and an XxHash3 of every entry checked when the log is opened.
/// </summary>
public sealed record WalFormat(
    [property: JsonPropertyName("version")] int Version,
    [property: JsonPropertyName("chunkSize")] int ChunkSize,
    [property: JsonPropertyName("hash")] string Hash,
    [property: JsonPropertyName("memory")] string Memory)
{
    public const string FileName = "wal-format.json";

    private static readonly string[] PageFolders = ["data", "metadata"];

    /// <summary>The format this build writes.</summary>
    public static WalFormat Current { get; } = new(1, 2 << 20, nameof(WriteAheadLog.IntegrityHashAlgorithm.XxHash3), nameof(WriteAheadLog.MemoryManagementStrategy.PrivateMemory));

    /// <summary>The options to open the log under <paramref name="root"/> with.</summary>
    public WriteAheadLog.Options Options(string root) => new()
    {
        Location = Path.Combine(root, "wal"),
        ChunkSize = ChunkSize,
        HashAlgorithm = Enum.Parse<WriteAheadLog.IntegrityHashAlgorithm>(Hash),
        MemoryManagement = Enum.Parse<WriteAheadLog.MemoryManagementStrategy>(Memory),
    };

    /// <summary>
    /// The options for the member whose folder is <paramref name="root"/>: a new log gets <see cref="Current"/>
    /// (recorded before the log's first byte); an existing one must have been written with it. Throws
    /// <see cref="DamagedStateException"/> with what differs and the way out when it was not.
    /// </summary>
    public static WriteAheadLog.Options Check(string root)
    {
        var file = Path.Combine(root, FileName);
        var wal = Path.Combine(root, "wal");
        var hasLog = Directory.Exists(wal) && Directory.EnumerateFileSystemEntries(wal, "*", SearchOption.AllDirectories).Any(f => File.Exists(f));
        if (!File.Exists(file))
        {
            if (hasLog)
            {
                throw new DamagedStateException(
                    $"{wal} was written without {FileName}: by a ZeroCloud before this one, with DotNext's defaults (4 KiB memory-mapped chunks, no integrity hash), which this version cannot read in place. " +
                    "Move the member's folder aside and start it again empty: it rejoins and the leader sends it the state (one member at a time, while the others keep a quorum).");
            }

            Directory.CreateDirectory(root);
            var temp = file + ".tmp";
            File.WriteAllText(temp, JsonSerializer.Serialize(Current, WalFormatJson.Default.WalFormat));
            File.Move(temp, file, overwrite: true);
            return Current.Options(root);
        }

        WalFormat? recorded;
        try
        {
            recorded = JsonSerializer.Deserialize(File.ReadAllText(file), WalFormatJson.Default.WalFormat);
        }
        catch (JsonException ex)
        {
            throw new DamagedStateException($"{file}: not a log format record ({ex.Message}); the log next to it cannot be read safely", ex);
        }

        if (recorded is null || recorded.Version < 1)
        {
            throw new DamagedStateException($"{file}: not a log format record; the log next to it cannot be read safely");
        }

        if (recorded.Version > Current.Version)
        {
            throw new DamagedStateException($"{wal} was written in log format {recorded.Version} by a newer ZeroCloud; this one reads format {Current.Version} and older: run the newer binary");
        }

        if (recorded.ChunkSize != Current.ChunkSize || recorded.Hash != Current.Hash || recorded.Memory != Current.Memory)
        {
            // An older format this build still reads: opened with the options it was written with.
            try
            {
                return recorded.Options(root);
            }
            catch (Exception ex) when (ex is ArgumentException or OverflowException)
            {
                throw new DamagedStateException($"{file}: chunk size {recorded.ChunkSize}, hash {recorded.Hash}, memory {recorded.Memory}: not options this ZeroCloud can open a log with", ex);
            }
        }

        return Current.Options(root);
    }

    /// <summary>
    /// Page files missing from the log under <paramref name="wal"/>: a folder (data, metadata) without any while the
    /// other has some, or a gap in a folder's numbered pages; null when none is seen missing.
    /// </summary>
    public static string? MissingPages(string wal)
    {
        var folders = PageFolders.Select(f => (Folder: Path.Combine(wal, f), Pages: Pages(Path.Combine(wal, f)))).ToList();
        if (folders.All(f => f.Pages.Count == 0))
        {
            return null;
        }

        foreach (var (folder, pages) in folders)
        {
            if (pages.Count == 0)
            {
                return $"{folder} holds no page";
            }

            var gap = Enumerable.Range((int)pages[0], (int)(pages[^1] - pages[0] + 1)).Select(i => (uint)i).Except(pages).FirstOrDefault(uint.MaxValue);
            if (gap != uint.MaxValue)
            {
                return $"{Path.Combine(folder, gap.ToString(System.Globalization.CultureInfo.InvariantCulture))} is gone";
            }
        }

        return null;

        static List<uint> Pages(string folder) => Directory.Exists(folder)
            ? [.. Directory.EnumerateFiles(folder).Select(f => uint.TryParse(Path.GetFileName(f), out var n) ? n : uint.MaxValue).Where(n => n != uint.MaxValue).Order()]
            : [];
    }

    /// <summary>
    /// What <paramref name="ex"/>, thrown while a member restored its snapshot or opened its log, says about damage on
    /// disk (naming the file when it can), or null when it is not damage.
    /// </summary>
    public static string? Damage(Exception ex, string root)
    {
        var inner = ex is WriteAheadLog.InternalException { InnerException: { } cause } ? cause : ex;
        var wal = Path.Combine(root, "wal");
        if (inner is WriteAheadLog.HashMismatchException or WriteAheadLog.MissingPageException && MissingPages(wal) is { } missing)
        {
            // A page file gone reads as zeroes (DotNext starts an empty page for it), which then fails the hash.
            return $"{wal}: a page of the log is missing ({missing})";
        }

        return inner switch
        {
            WriteAheadLog.HashMismatchException => $"{wal}: an entry after the last snapshot does not match its XxHash3 (a flipped or zeroed byte in {Path.Combine(wal, "data")} or {Path.Combine(wal, "metadata")})",
            WriteAheadLog.MissingPageException m => $"{wal}: a page of the log is missing ({m.Message})",
            EndOfStreamException or InvalidDataException => $"{Path.Combine(root, "snapshots")}: the snapshot is cut short or unreadable ({inner.Message})",
            _ => null,
        };
    }
}

[JsonSerializable(typeof(WalFormat))]
internal sealed partial class WalFormatJson : JsonSerializerContext;
