using System.Buffers;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;

namespace ZeroCloud.Storage;

/// <summary>Why a local chunk could not be read.</summary>
public enum ChunkReadOutcome
{
    Ok,
    Missing,

    /// <summary>The bytes on disk do not hash to the chunk's name (bit rot, a bad sector, someone's editor): moved aside.</summary>
    Corrupt,
}

/// <summary>
/// The chunks one storage instance holds, as files named by their SHA-256 under <c>&lt;data&gt;/chunks/ab/&lt;hex&gt;</c>.
/// A chunk is written to a temporary file, fsynced, renamed into place and the folder fsynced: once
/// <see cref="WriteAsync"/> returns it survives a power cut, and a crash never leaves a partial chunk under its name.
/// Every read hashes the whole chunk before the caller sees a byte; a chunk that does not match is moved to
/// <c>corrupt/</c> (kept for the operator, never served) and reported.
/// </summary>
public sealed class ChunkStore
{
    /// <summary>
    /// 4 MiB: a 256 MiB image is 64 chunks and a 1 GiB one 256, small enough to list in the Raft store; large enough
    /// that hashing and an fsync per chunk cost little against the bytes, and one pooled buffer per stream holds it.
    /// </summary>
    public const int ChunkSize = 4 << 20;

    private readonly string _chunks;
    private readonly string _corrupt;
    private readonly string _incoming;

    public ChunkStore(string dataDirectory)
    {
        Root = dataDirectory;
        _chunks = Path.Combine(dataDirectory, "chunks");
        _corrupt = Path.Combine(dataDirectory, "corrupt");
        _incoming = Path.Combine(dataDirectory, "incoming");
        Directory.CreateDirectory(_chunks);
        Directory.CreateDirectory(_corrupt);
        Directory.CreateDirectory(_incoming);
        // Whatever a crash left half-written is not a chunk.
        foreach (var stale in Directory.EnumerateFiles(_incoming))
        {
            File.Delete(stale);
        }
    }

    public string Root { get; }

    /// <summary>Chunks found corrupt (by reads and scrubs) since start.</summary>
    public long CorruptFound => Interlocked.Read(ref _corruptFound);

    private long _corruptFound;

    public static bool IsHex(string? hex) => hex is { Length: 64 } && hex.All(char.IsAsciiHexDigitLower);

    public string PathOf(string hex) => Path.Combine(_chunks, hex[..2], hex);

    public bool Has(string hex) => File.Exists(PathOf(hex));

    /// <summary>Free bytes on the filesystem that holds the chunks.</summary>
    public long FreeBytes => new DriveInfo(_chunks).AvailableFreeSpace;

    /// <summary>Every chunk held, with its size.</summary>
    public IEnumerable<(string Hex, long Size, DateTime Written)> Enumerate()
    {
        foreach (var folder in Directory.EnumerateDirectories(_chunks))
        {
            foreach (var file in Directory.EnumerateFiles(folder))
            {
                var name = Path.GetFileName(file);
                if (IsHex(name))
                {
                    var info = new FileInfo(file);
                    if (info.Exists)
                    {
                        yield return (name, info.Length, info.LastWriteTimeUtc);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Stores <paramref name="data"/> as chunk <paramref name="hex"/>, durably. False when the bytes do not hash to
    /// <paramref name="hex"/> (nothing is written). Throws <see cref="IOException"/> when the disk is full.
    /// </summary>
    public async Task<bool> WriteAsync(string hex, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        if (!Verify(hex, data.Span))
        {
            return false;
        }

        var path = PathOf(hex);
        if (File.Exists(path))
        {
            return true; // content-addressed: the same name is the same bytes (a bad copy is found by reads and scrubs)
        }

        var folder = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(folder);
        var temporary = Path.Combine(_incoming, $"{hex}.{Environment.CurrentManagedThreadId}.{Guid.NewGuid():N}");
        try
        {
            using (var handle = File.OpenHandle(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.None, data.Length))
            {
                await RandomAccess.WriteAsync(handle, data, 0, ct).ConfigureAwait(false);
                RandomAccess.FlushToDisk(handle);
            }

            File.Move(temporary, path, overwrite: true);
            SyncFolder(folder);
            return true;
        }
        finally
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }
        }
    }

    /// <summary>
    /// Reads chunk <paramref name="hex"/> into <paramref name="buffer"/> (at least <see cref="ChunkSize"/> long) and
    /// checks its hash; a copy that does not match is moved aside and reported as <see cref="ChunkReadOutcome.Corrupt"/>.
    /// </summary>
    public ChunkReadOutcome Read(string hex, byte[] buffer, out int length)
    {
        length = 0;
        var path = PathOf(hex);
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, FileOptions.SequentialScan);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return ChunkReadOutcome.Missing;
        }

        using (handle)
        {
            var size = RandomAccess.GetLength(handle);
            if (size > buffer.Length)
            {
                Quarantine(hex);
                return ChunkReadOutcome.Corrupt;
            }

            var total = 0;
            while (total < size)
            {
                var read = RandomAccess.Read(handle, buffer.AsSpan(total, (int)size - total), total);
                if (read == 0)
                {
                    break;
                }

                total += read;
            }

            length = total;
        }

        if (!Verify(hex, buffer.AsSpan(0, length)))
        {
            Quarantine(hex);
            length = 0;
            return ChunkReadOutcome.Corrupt;
        }

        return ChunkReadOutcome.Ok;
    }

    /// <summary>Removes chunk <paramref name="hex"/> (no longer wanted here); true when there was one.</summary>
    public bool Delete(string hex)
    {
        var path = PathOf(hex);
        if (!File.Exists(path))
        {
            return false;
        }

        File.Delete(path);
        return true;
    }

    /// <summary>Moves a bad copy aside: never served again, kept for the operator to look at.</summary>
    public void Quarantine(string hex)
    {
        Interlocked.Increment(ref _corruptFound);
        try
        {
            File.Move(PathOf(hex), Path.Combine(_corrupt, $"{hex}.{DateTime.UtcNow:yyyyMMddHHmmss}"), overwrite: true);
        }
        catch (IOException)
        {
            // already moved by a concurrent reader
        }
    }

    public static bool Verify(string hex, ReadOnlySpan<byte> data)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(data, hash);
        Span<byte> want = stackalloc byte[32];
        return Convert.FromHexString(hex, want, out _, out var written) == System.Buffers.OperationStatus.Done && written == 32 && hash.SequenceEqual(want);
    }

    public static string Hex(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>A buffer that holds one chunk, from the shared pool.</summary>
    public static byte[] RentBuffer() => ArrayPool<byte>.Shared.Rent(ChunkSize);

    public static void Return(byte[] buffer) => ArrayPool<byte>.Shared.Return(buffer);

    /// <summary>fsync of a folder, so that a rename in it survives a power cut (Linux; elsewhere a no-op).</summary>
    private static void SyncFolder(string folder)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        // .NET will not open a folder as a file: open(2) with O_RDONLY|O_DIRECTORY, fsync(2), close(2).
        var fd = Native.Open(folder, 0x10000);
        if (fd >= 0)
        {
            _ = Native.Fsync(fd);
            _ = Native.Close(fd);
        }
    }
}

internal static partial class Native
{
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    internal static partial int Open(string path, int flags);

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    internal static partial int Fsync(int fd);

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);
}
