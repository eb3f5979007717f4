using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ZeroCloud.Cluster.Store;

/// <summary>What a backup file says about itself (its second line).</summary>
public sealed record BackupHeader(
    [property: JsonPropertyName("format")] int Format,
    [property: JsonPropertyName("revision")] long Revision,
    [property: JsonPropertyName("keys")] int Keys,
    [property: JsonPropertyName("bytes")] long Bytes,
    [property: JsonPropertyName("sha256")] string Sha256,
    [property: JsonPropertyName("taken")] DateTimeOffset Taken,
    [property: JsonPropertyName("member")] string Member,
    [property: JsonPropertyName("linearizable")] bool Linearizable);

/// <summary>
/// <c>zc backup</c>'s file: a magic line, a JSON header (format, revision, key count, length and SHA-256 of the body,
/// when, from which member, whether it was taken at a linearizable read point), then the store's snapshot (the bytes
/// a member's snapshot file holds: every key with its revisions and the kept history). <c>zc restore</c> checks all of
/// it before it writes anything.
/// </summary>
public static class Backup
{
    public const string Magic = "ZCBACKUP";

    public const int Format = 1;

    public static byte[] Write(byte[] snapshot, long revision, int keys, string member, bool linearizable, DateTimeOffset taken)
    {
        var header = new BackupHeader(Format, revision, keys, snapshot.Length, Convert.ToHexStringLower(SHA256.HashData(snapshot)), taken, member, linearizable);
        var head = Encoding.UTF8.GetBytes($"{Magic}\n{JsonSerializer.Serialize(header, BackupJson.Default.BackupHeader)}\n");
        return [.. head, .. snapshot];
    }

    /// <summary>The header and the snapshot of a backup file's bytes, checked (magic, format, length, SHA-256, and that the snapshot reads); null with the problem otherwise.</summary>
    public static (BackupHeader Header, byte[] Snapshot)? Read(byte[] file, out string? problem)
    {
        problem = null;
        var first = Array.IndexOf(file, (byte)'\n');
        var second = first < 0 ? -1 : Array.IndexOf(file, (byte)'\n', first + 1);
        if (first < 0 || second < 0 || Encoding.UTF8.GetString(file, 0, first) != Magic)
        {
            problem = $"not a ZeroCloud backup (it does not start with {Magic})";
            return null;
        }

        BackupHeader? header;
        try
        {
            header = JsonSerializer.Deserialize(file.AsSpan(first + 1, second - first - 1), BackupJson.Default.BackupHeader);
        }
        catch (JsonException ex)
        {
            problem = $"its header is not readable: {ex.Message}";
            return null;
        }

        var body = file[(second + 1)..];
        problem = header switch
        {
            null => "its header is empty",
            { Format: > Format } h => $"it is in backup format {h.Format}, made by a newer ZeroCloud; this one reads format {Format}",
            { Format: < 1 } h => $"unknown backup format {h.Format}",
            { Bytes: var n } when n != body.Length => $"it is cut short or padded: the header says {header.Bytes} bytes of state, the file holds {body.Length}",
            { Sha256: var sum } when !string.Equals(sum, Convert.ToHexStringLower(SHA256.HashData(body)), StringComparison.Ordinal) => "its state does not match the SHA-256 in its header (damaged)",
            _ => null,
        };
        if (problem is not null)
        {
            return null;
        }

        try
        {
            var store = KvStore.Restore(body);
            if (store.Revision != header!.Revision || store.Count != header.Keys)
            {
                problem = $"its state is at revision {store.Revision} with {store.Count} keys, the header says {header.Revision} and {header.Keys}";
                return null;
            }
        }
        catch (Exception ex) when (ex is EndOfStreamException or InvalidDataException or IOException or ArgumentException)
        {
            problem = $"its state does not read: {ex.Message}";
            return null;
        }

        return (header!, body);
    }
}

[JsonSerializable(typeof(BackupHeader))]
internal sealed partial class BackupJson : JsonSerializerContext;
