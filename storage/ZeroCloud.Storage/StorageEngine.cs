using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Storage;

/// <summary>Fewer nodes than the wanted copies had room (or answered) for a chunk: the write fails with 507, nothing is committed.</summary>
public sealed class InsufficientStorageException(string message) : Exception(message);

/// <summary>A chunk no live copy could be read of (every holder down, or every copy corrupt).</summary>
public sealed class ChunkUnavailableException(string message) : Exception(message);

/// <summary>
/// One storage instance's work on the store: ingesting uploads (chunk, hash, place on distinct nodes, commit the
/// locations), reading verified chunks (its own copy, else a peer's), and what runs in the background: repair of
/// under-replicated chunks, collection of copies and blobs nobody needs, and the scrub.
/// </summary>
public sealed partial class StorageEngine(ChunkStore chunks, Catalog catalog, Peers peers, ILogger logger, TimeProvider time)
{
    /// <summary>Where an upload's chunk is: its size, the nodes holding it, whether this upload stored it, and its record as read before (null: none).</summary>
    private readonly record struct Placement(long Size, HashSet<string> Nodes, bool New, Versioned<ChunkDto>? Read);

    /// <summary>Chunks of one upload placed at once (each holds a 4 MiB buffer until its copies are on disk).</summary>
    public const int InFlight = 4;

    /// <summary>Room a node keeps free: a chunk that would leave less is refused there (507) and goes to another node.</summary>
    public const long Reserve = 1 << 20;

    private long _repaired;
    private long _repairedBytes;
    private long _scrubbed;
    private long _collected;
    private DateTime? _lastScrub;

    public ChunkStore Chunks => chunks;

    public Catalog Catalog => catalog;

    public string Self => catalog.Self;

    public long Repaired => Interlocked.Read(ref _repaired);

    public long RepairedBytes => Interlocked.Read(ref _repairedBytes);

    /// <summary>Whether a chunk of <paramref name="length"/> bytes fits on this node's disk.</summary>
    public bool HasRoomFor(long length) => chunks.FreeBytes - length >= Reserve;

    /// <summary>Stores a chunk here for a peer (or for itself): verified, fsynced. 507 when there is no room.</summary>
    public async Task<(int Status, string? Problem)> AcceptChunkAsync(string hex, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        if (chunks.Has(hex))
        {
            return (204, null);
        }

        if (!HasRoomFor(data.Length))
        {
            return (507, $"node {Self} has {chunks.FreeBytes} bytes free, and keeps {Reserve} free");
        }

        try
        {
            return await chunks.WriteAsync(hex, data, ct).ConfigureAwait(false) ? (204, null) : (400, $"the bytes do not hash to {hex}");
        }
        catch (IOException ex) when (IsDiskFull(ex))
        {
            return (507, $"node {Self}: the disk is full ({ex.Message})");
        }
    }

    private static bool IsDiskFull(IOException ex) => (ex.HResult & 0xFFFF) == 28 || ex.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Reads an upload to its end in chunks of <see cref="ChunkStore.ChunkSize"/>; each new chunk goes to the
    /// best-ranked storage nodes with room (this one first) until the wanted copies are on disk; then one transaction
    /// commits the chunk locations, the blob and (with <paramref name="name"/>) the object. A body that ends early, a
    /// digest that differs from <paramref name="expected"/>, or too few nodes with room commit nothing.
    /// </summary>
    public async Task<PutBlobResponse> IngestAsync(Stream body, string? name, string? expected, CancellationToken ct)
    {
        var (nodes, storage) = await catalog.NodesAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        var spec = await catalog.SpecAsync().ConfigureAwait(false);
        var replicas = StoragePlan.Replicas(spec, nodes.Values);
        using var total = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var order = new List<string>();
        var placed = new Dictionary<string, Placement>(StringComparer.Ordinal);
        // Up to InFlight chunks are being placed while the next is read from the body: each holds its own buffer
        // until its copies are on disk.
        var placing = new Queue<(string Hex, Task<Placement> Task, byte[] Buffer)>();
        var queued = new HashSet<string>(StringComparer.Ordinal);
        long size = 0;
        try
        {
            while (true)
            {
                var buffer = ChunkStore.RentBuffer();
                int n;
                try
                {
                    n = await body.ReadAtLeastAsync(buffer.AsMemory(0, ChunkStore.ChunkSize), ChunkStore.ChunkSize, throwOnEndOfStream: false, ct).ConfigureAwait(false);
                }
                catch
                {
                    ChunkStore.Return(buffer);
                    throw;
                }

                var data = buffer.AsMemory(0, n);
                var hex = n == 0 ? null : ChunkStore.Hex(data.Span);
                if (hex is null || placed.ContainsKey(hex) || !queued.Add(hex))
                {
                    ChunkStore.Return(buffer);
                }
                else
                {
                    placing.Enqueue((hex, PlaceAsync(hex, data, nodes, storage, replicas, ct), buffer));
                }

                if (hex is not null)
                {
                    total.AppendData(data.Span);
                    size += n;
                    order.Add(hex);
                }

                while (placing.Count >= (hex is null || n < ChunkStore.ChunkSize ? 1 : InFlight))
                {
                    var (done, task, used) = placing.Dequeue();
                    try
                    {
                        placed[done] = await task.ConfigureAwait(false);
                    }
                    finally
                    {
                        ChunkStore.Return(used);
                    }
                }

                if (hex is null || n < ChunkStore.ChunkSize)
                {
                    break;
                }
            }
        }
        finally
        {
            // On a failure, the chunks still being placed finish (or fail) before their buffers go back to the pool.
            while (placing.TryDequeue(out var left))
            {
                try
                {
                    await left.Task.ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is InsufficientStorageException or OperationCanceledException or HttpRequestException or ControlApiException or IOException)
                {
                    // the first failure is the one reported
                }
                finally
                {
                    ChunkStore.Return(left.Buffer);
                }
            }
        }

        var digest = "sha256:" + Convert.ToHexStringLower(total.GetHashAndReset());
        if (expected is not null && expected != digest)
        {
            throw new ArgumentException($"the upload's digest is {digest}, not the {expected} it was sent as: nothing stored");
        }

        await CommitAsync(digest, size, order, placed, name, ct).ConfigureAwait(false);
        var newChunks = placed.Values.Count(p => p.New);
        return new PutBlobResponse(digest, size, order.Count, newChunks, [.. placed.Values.SelectMany(p => p.Nodes).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)], name);
    }

    /// <summary>
    /// Where chunk <paramref name="hex"/> is once this returns: the live holders it had when enough of them, else new
    /// copies on the best-ranked storage nodes with room, written in parallel and each fsynced before it answers.
    /// </summary>
    private async Task<Placement> PlaceAsync(string hex, ReadOnlyMemory<byte> data, IReadOnlyDictionary<string, StorageNode> nodes, IReadOnlyList<InstanceDto> storage, int replicas, CancellationToken ct)
    {
        var known = await catalog.GetAsync(StoreKeys.StorageChunk(hex), ControlJsonContext.Default.ChunkDto, stale: true).ConfigureAwait(false);
        var holders = known is { } k ? StoragePlan.Readable(k.Value, nodes).ToHashSet(StringComparer.Ordinal) : [];
        if (holders.Count >= replicas)
        {
            return new Placement(data.Length, holders, false, known); // dedup: the store has it
        }

        var candidates = StoragePlan.Rank(hex, nodes.Values.Where(n => n.RunsStorage && n.Status == NodeStatus.Ready && !holders.Contains(n.Name)).Select(n => n.Name), Self);
        var problems = new List<string>();
        var next = 0;
        while (holders.Count < replicas && next < candidates.Count)
        {
            var wave = candidates.Skip(next).Take(replicas - holders.Count).ToList();
            next += wave.Count;
            var results = await Task.WhenAll(wave.Select(async node =>
            {
                if (node == Self)
                {
                    var (status, problem) = await AcceptChunkAsync(hex, data, ct).ConfigureAwait(false);
                    return (node, status == 204 ? null : problem);
                }

                if (Catalog.Endpoint(node, nodes, storage) is not { } url)
                {
                    return (node, (string?)$"node {node}: no address for its storage instance");
                }

                var refused = await peers.PutAsync(url, hex, data, ct).ConfigureAwait(false);
                return (node, refused is { } r ? $"node {node}: {(r.Status == 0 ? "unreachable" : r.Status.ToString(System.Globalization.CultureInfo.InvariantCulture))} {r.Problem.Trim()}" : null);
            })).ConfigureAwait(false);
            foreach (var (node, problem) in results)
            {
                if (problem is null)
                {
                    holders.Add(node);
                }
                else
                {
                    problems.Add(problem);
                }
            }
        }

        if (holders.Count < replicas)
        {
            throw new InsufficientStorageException($"chunk {hex[..12]}…: only {holders.Count} of the {replicas} copies could be stored on distinct nodes ({candidates.Count} Ready storage nodes tried){(problems.Count > 0 ? ": " + string.Join("; ", problems) : "")}");
        }

        return new Placement(data.Length, holders, true, known);
    }

    /// <summary>
    /// One transaction: every chunk's location (merged with what its record says by then; retried when another
    /// writer changed a record meanwhile), the blob, the object.
    /// </summary>
    private async Task CommitAsync(string digest, long size, List<string> order, Dictionary<string, Placement> placed, string? name, CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        for (var attempt = 0; ; attempt++)
        {
            var compares = new List<CompareDto>();
            var puts = new List<OpDto>();
            foreach (var (hex, (chunkSize, nodes, _, read)) in placed)
            {
                // The first try compares against the record as placement read it; a retry reads it again, linearizably.
                var key = StoreKeys.StorageChunk(hex);
                var current = attempt == 0 ? read : await catalog.GetAsync(key, ControlJsonContext.Default.ChunkDto).ConfigureAwait(false);
                compares.Add(Catalog.Unchanged(key, current?.ModRevision ?? 0));
                // Written even when unchanged: its new revision is what makes a collector that decided the chunk was
                // unused fail its compare.
                var merged = (current?.Value.Nodes ?? []).Union(nodes, StringComparer.Ordinal).ToList();
                puts.Add(Catalog.Put(key, new ChunkDto(hex, chunkSize, merged, current?.Value.RepairBy, current?.Value.RepairUntil), ControlJsonContext.Default.ChunkDto));
            }

            // Not compared: rewriting the blob makes it young again, and a collector that decided it was unreferenced
            // compares the revision it read, so it fails.
            var blobKey = StoreKeys.StorageBlob(digest);
            puts.Add(Catalog.Put(blobKey, new BlobDto(digest, size, ChunkStore.ChunkSize, order, now), ControlJsonContext.Default.BlobDto));
            if (name is not null)
            {
                puts.Add(Catalog.Put(StoreKeys.StorageObject(name), new StorageObjectDto(name, digest, size, now), ControlJsonContext.Default.StorageObjectDto));
            }

            var result = await catalog.TxnAsync(new TxnRequest(compares, puts, [])).ConfigureAwait(false);
            if (result.Succeeded)
            {
                return;
            }

            if (attempt >= 5)
            {
                throw new InvalidOperationException($"blob {digest}: the chunk records kept changing under this upload (5 tries); try again");
            }

            ct.ThrowIfCancellationRequested();
        }
    }

    /// <summary>
    /// Chunk <paramref name="hex"/> into <paramref name="buffer"/>, verified: this node's copy when it is good, else a
    /// live holder's. A bad local copy is moved aside, reported, and replaced from a good one in the background.
    /// </summary>
    public async Task<int> ReadChunkAsync(string hex, byte[] buffer, CancellationToken ct)
    {
        switch (chunks.Read(hex, buffer, out var length))
        {
            case ChunkReadOutcome.Ok:
                return length;
            case ChunkReadOutcome.Corrupt:
                LogCorrupt(logger, hex, Self);
                RestoreLater(hex);
                break;
        }

        var read = await FromPeersAsync(hex, buffer, ct, restoreIfListed: true).ConfigureAwait(false);
        return read >= 0 ? read : throw new ChunkUnavailableException($"chunk {hex}: no live copy could be read");
    }

    /// <summary>Reads a verified copy from another live holder; -1 when none has one.</summary>
    private async Task<int> FromPeersAsync(string hex, byte[] buffer, CancellationToken ct, bool restoreIfListed = false)
    {
        var record = await catalog.GetAsync(StoreKeys.StorageChunk(hex), ControlJsonContext.Default.ChunkDto, stale: true).ConfigureAwait(false)
            ?? await catalog.GetAsync(StoreKeys.StorageChunk(hex), ControlJsonContext.Default.ChunkDto).ConfigureAwait(false);
        if (record is null)
        {
            return -1;
        }

        if (restoreIfListed && record.Value.Value.Nodes.Contains(Self, StringComparer.Ordinal) && !chunks.Has(hex))
        {
            RestoreLater(hex); // listed here, yet not on this disk
        }

        for (var pass = 0; pass < 2; pass++)
        {
            var (nodes, storage) = await catalog.NodesAsync(pass == 0 ? TimeSpan.FromSeconds(2) : TimeSpan.Zero).ConfigureAwait(false);
            foreach (var holder in StoragePlan.Readable(record.Value.Value, nodes).Where(n => n != Self))
            {
                if (Catalog.Endpoint(holder, nodes, storage) is { } url)
                {
                    var read = await peers.GetAsync(url, hex, buffer, ct).ConfigureAwait(false);
                    if (read >= 0)
                    {
                        return read;
                    }

                    LogPeerCopyBad(logger, hex, holder);
                }
            }
        }

        return -1;
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _restoring = new(StringComparer.Ordinal);

    /// <summary>
    /// A read here (this node's own, or a peer's GET) found no good local copy of <paramref name="hex"/>: when the
    /// record lists this node for it (its copy was corrupt, or vanished: a replaced disk, a deleted file), a good copy
    /// is put back in the background, once at a time per chunk. A chunk this node was never listed for is left alone.
    /// </summary>
    public void RestoreLater(string hex)
    {
        if (!ChunkStore.IsHex(hex) || !_restoring.TryAdd(hex, true))
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                var record = await catalog.GetAsync(StoreKeys.StorageChunk(hex), ControlJsonContext.Default.ChunkDto, stale: true).ConfigureAwait(false);
                if (record?.Value.Nodes.Contains(Self, StringComparer.Ordinal) == true && !chunks.Has(hex))
                {
                    LogMissingOnRead(logger, hex, Self);
                    await RestoreAsync(hex, CancellationToken.None).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or ControlApiException or IOException or InvalidOperationException)
            {
                LogRestoreFailed(logger, hex, ex.Message);
            }
            finally
            {
                _restoring.TryRemove(hex, out _);
            }
        }, CancellationToken.None);
    }

    [LoggerMessage(EventId = 7005, Level = LogLevel.Warning, Message = "chunk {Hex} is listed on node {Node} but has no good copy on its disk: restoring it from a good copy")]
    private static partial void LogMissingOnRead(ILogger logger, string hex, string node);

    [LoggerMessage(EventId = 7006, Level = LogLevel.Warning, Message = "chunk {Hex}: restoring the local copy failed: {Problem} (the scrub tries again)")]
    private static partial void LogRestoreFailed(ILogger logger, string hex, string problem);

    /// <summary>Replaces a bad or missing local copy of a chunk this node is listed for with a good one from a peer.</summary>
    public async Task<bool> RestoreAsync(string hex, CancellationToken ct)
    {
        var buffer = ChunkStore.RentBuffer();
        try
        {
            var read = await FromPeersAsync(hex, buffer, ct).ConfigureAwait(false);
            if (read < 0)
            {
                LogUnrepaired(logger, hex);
                return false;
            }

            if (!await chunks.WriteAsync(hex, buffer.AsMemory(0, read), ct).ConfigureAwait(false))
            {
                return false;
            }

            Interlocked.Increment(ref _repaired);
            LogRestored(logger, hex);
            return true;
        }
        finally
        {
            ChunkStore.Return(buffer);
        }
    }

    /// <summary>This instance's figures.</summary>
    public StorageLocalDto Local()
    {
        long count = 0, used = 0;
        foreach (var (_, size, _) in chunks.Enumerate())
        {
            count++;
            used += size;
        }

        return new StorageLocalDto(Self, count, used, chunks.FreeBytes, chunks.CorruptFound, Repaired, Interlocked.Read(ref _scrubbed), _lastScrub, Interlocked.Read(ref _collected));
    }

    [LoggerMessage(EventId = 7001, Level = LogLevel.Warning, Message = "chunk {Hex} on node {Node} is corrupt: moved aside, served from another copy, restored in the background")]
    private static partial void LogCorrupt(ILogger logger, string hex, string node);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Warning, Message = "chunk {Hex}: the copy on {Holder} could not be read or did not verify")]
    private static partial void LogPeerCopyBad(ILogger logger, string hex, string holder);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Error, Message = "chunk {Hex}: no good copy anywhere to restore it from")]
    private static partial void LogUnrepaired(ILogger logger, string hex);

    [LoggerMessage(EventId = 7004, Level = LogLevel.Information, Message = "chunk {Hex} restored from a good copy")]
    private static partial void LogRestored(ILogger logger, string hex);
}
