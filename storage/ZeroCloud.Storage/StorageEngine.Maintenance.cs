using System.Diagnostics;
using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Storage;

/// <summary>The background half: repair, collection, scrub. Level-triggered: each pass compares the records with the nodes and converges.</summary>
public sealed partial class StorageEngine
{
    /// <summary>How long a repairer's claim on a chunk holds; a repairer that dies leaves it to another after this.</summary>
    public static readonly TimeSpan ClaimFor = TimeSpan.FromMinutes(2);

    /// <summary>A local copy no record lists is kept this long (an upload in flight commits its chunks after writing them).</summary>
    public static readonly TimeSpan CopyGrace = TimeSpan.FromMinutes(10);

    /// <summary>A blob no object names is kept this long after its upload.</summary>
    public TimeSpan BlobGrace { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Repair copies at most this many bytes a second from this node, so boots in progress keep their bandwidth.</summary>
    public long RepairBytesPerSecond { get; init; } = 200L << 20;

    /// <summary>
    /// One repair pass: every chunk whose decision names this node as its actor, not claimed by another, is claimed,
    /// copied from a live holder to its targets, and its record rewritten; returns how many were repaired and how many
    /// still need work (for the next pass).
    /// </summary>
    public async Task<(int Repaired, int Pending)> RepairPassAsync(CancellationToken ct)
    {
        // The background loop has just read the nodes: a second's view is fresh enough, and not read twice.
        var (nodes, storage) = await catalog.NodesAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        if (nodes.GetValueOrDefault(Self) is not { Status: NodeStatus.Ready, RunsStorage: true })
        {
            return (0, 0); // a node that is not Ready (or no longer runs storage) repairs nothing
        }

        var spec = await catalog.SpecAsync().ConfigureAwait(false);
        var replicas = StoragePlan.Replicas(spec, nodes.Values);
        var now = time.GetUtcNow().UtcDateTime;
        var records = await catalog.ListAsync(StoreKeys.StorageChunks, ControlJsonContext.Default.ChunkDto, stale: true).ConfigureAwait(false);
        var mine = new List<(Versioned<ChunkDto> Record, RepairAction Action)>();
        var pending = 0;
        foreach (var record in records)
        {
            if (StoragePlan.Decide(record.Value, nodes, replicas, spec.RepairAfter, now) is not { } action)
            {
                continue;
            }

            pending++;
            if (action.Actor == Self && !action.Unrecoverable && !StoragePlan.ClaimedByOther(record.Value, Self, now))
            {
                mine.Add((record, action));
            }
        }

        var repaired = 0;
        var started = Stopwatch.GetTimestamp();
        long bytes = 0;
        var buffer = ChunkStore.RentBuffer();
        try
        {
            foreach (var (record, action) in mine)
            {
                ct.ThrowIfCancellationRequested();
                var copied = await RepairAsync(record, action, nodes, storage, buffer, ct).ConfigureAwait(false);
                if (copied < 0)
                {
                    continue;
                }

                repaired++;
                bytes += copied;
                // The throttle: no faster than RepairBytesPerSecond on average since the pass began.
                var ahead = TimeSpan.FromSeconds((double)bytes / RepairBytesPerSecond) - Stopwatch.GetElapsedTime(started);
                if (ahead > TimeSpan.Zero)
                {
                    await Task.Delay(ahead, ct).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            ChunkStore.Return(buffer);
        }

        if (repaired > 0)
        {
            LogRepairPass(logger, repaired, bytes, Stopwatch.GetElapsedTime(started).TotalSeconds);
        }

        return (repaired, pending - repaired);
    }

    /// <summary>Claims, copies and commits one chunk's repair; the bytes copied, or -1 when it was not done (claimed meanwhile, no source).</summary>
    private async Task<long> RepairAsync(Versioned<ChunkDto> record, RepairAction action, IReadOnlyDictionary<string, StorageNode> nodes, IReadOnlyList<InstanceDto> storage, byte[] buffer, CancellationToken ct)
    {
        var key = StoreKeys.StorageChunk(action.Hex);
        var now = time.GetUtcNow().UtcDateTime;
        var claimed = record.Value with { RepairBy = Self, RepairUntil = now + ClaimFor };
        var claim = await catalog.TxnAsync(new TxnRequest([Catalog.Unchanged(key, record.ModRevision)], [Catalog.Put(key, claimed, ControlJsonContext.Default.ChunkDto)], [])).ConfigureAwait(false);
        if (!claim.Succeeded)
        {
            return -1;
        }

        var claimRevision = claim.Revision;
        var stored = new List<string>();
        long copied = 0;
        if (action.Targets.Count > 0)
        {
            var length = -1;
            if (chunks.Read(action.Hex, buffer, out var local) == ChunkReadOutcome.Ok)
            {
                length = local;
            }
            else
            {
                foreach (var source in action.Sources)
                {
                    if (Catalog.Endpoint(source, nodes, storage) is { } url && (length = await peers.GetAsync(url, action.Hex, buffer, ct).ConfigureAwait(false)) >= 0)
                    {
                        break;
                    }
                }
            }

            if (length < 0)
            {
                LogUnrepaired(logger, action.Hex);
                await ReleaseAsync(key, claimed, claimRevision).ConfigureAwait(false);
                return -1;
            }

            foreach (var target in action.Targets)
            {
                var ok = target == Self
                    ? (await AcceptChunkAsync(action.Hex, buffer.AsMemory(0, length), ct).ConfigureAwait(false)).Status == 204
                    : Catalog.Endpoint(target, nodes, storage) is { } url && await peers.PutAsync(url, action.Hex, buffer.AsMemory(0, length), ct).ConfigureAwait(false) is null;
                if (ok)
                {
                    stored.Add(target);
                    copied += length;
                }
            }
        }

        var done = claimed with { Nodes = [.. action.Keep, .. stored], RepairBy = null, RepairUntil = null };
        var commit = await catalog.TxnAsync(new TxnRequest([new CompareDto(key, "mod", "=", Number: claimRevision)], [Catalog.Put(key, done, ControlJsonContext.Default.ChunkDto)], [])).ConfigureAwait(false);
        if (!commit.Succeeded)
        {
            return -1;
        }

        Interlocked.Add(ref _repaired, stored.Count);
        Interlocked.Add(ref _repairedBytes, copied);
        return copied;
    }

    private async Task ReleaseAsync(string key, ChunkDto claimed, long revision)
    {
        var released = claimed with { RepairBy = null, RepairUntil = null };
        await catalog.TxnAsync(new TxnRequest([new CompareDto(key, "mod", "=", Number: revision)], [Catalog.Put(key, released, ControlJsonContext.Default.ChunkDto)], [])).ConfigureAwait(false);
    }

    /// <summary>
    /// Collection: this node's copies no record lists any more (after <see cref="CopyGrace"/>), and, on one node (the
    /// first Ready storage node by name), blobs no object names (after <see cref="BlobGrace"/>) with the chunk records
    /// only they used. Returns what was removed.
    /// </summary>
    public async Task<(int Copies, int Blobs)> CollectAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var listed = await catalog.ListAsync(StoreKeys.StorageChunks, ControlJsonContext.Default.ChunkDto).ConfigureAwait(false);
        var records = listed.ToDictionary(r => r.Value.Digest, r => r.Value, StringComparer.Ordinal);
        var revisions = listed.ToDictionary(r => r.Value.Digest, r => r.ModRevision, StringComparer.Ordinal);
        var copies = 0;
        foreach (var hex in StoragePlan.Collectable(chunks.Enumerate().Select(c => (c.Hex, c.Written)), records, Self, now, CopyGrace))
        {
            ct.ThrowIfCancellationRequested();
            if (chunks.Delete(hex))
            {
                copies++;
            }
        }

        Interlocked.Add(ref _collected, copies);
        var (nodes, _) = await catalog.NodesAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        var collector = nodes.Values.Where(n => n.RunsStorage && n.Status == NodeStatus.Ready).Select(n => n.Name).Order(StringComparer.Ordinal).FirstOrDefault();
        if (collector != Self)
        {
            return (copies, 0);
        }

        var objects = (await catalog.ListAsync(StoreKeys.StorageObjects, ControlJsonContext.Default.StorageObjectDto).ConfigureAwait(false)).Select(o => o.Value).ToList();
        var blobs = await catalog.ListAsync(StoreKeys.StorageBlobs, ControlJsonContext.Default.BlobDto).ConfigureAwait(false);
        var (dead, deadChunks) = StoragePlan.Unreferenced(objects, [.. blobs.Select(b => b.Value)], now, BlobGrace);
        var unused = deadChunks.ToHashSet(StringComparer.Ordinal);
        var blobRevisions = blobs.ToDictionary(b => b.Value.Digest, b => b.ModRevision, StringComparer.Ordinal);
        var removed = 0;
        foreach (var blob in dead)
        {
            // Only while the blob record is as read: every upload that names a blob rewrites its record, so an object
            // made meanwhile fails this compare. Its chunks go with it when no other blob uses them.
            var revision = blobRevisions[blob.Digest];
            // The chunk records compare too: an upload that shared a chunk meanwhile rewrote its record.
            var ops = new List<OpDto> { new("delete", StoreKeys.StorageBlob(blob.Digest)) };
            var gone = blob.Chunks.Where(unused.Contains).Distinct(StringComparer.Ordinal).ToList();
            ops.AddRange(gone.Select(c => new OpDto("delete", StoreKeys.StorageChunk(c))));
            List<CompareDto> compares = [new CompareDto(StoreKeys.StorageBlob(blob.Digest), "mod", "=", Number: revision), .. gone.Select(c => Catalog.Unchanged(StoreKeys.StorageChunk(c), revisions.GetValueOrDefault(c)))];
            var result = await catalog.TxnAsync(new TxnRequest(compares, ops, [])).ConfigureAwait(false);
            removed += result.Succeeded ? 1 : 0;
        }

        return (copies, removed);
    }

    /// <summary>
    /// The scrub: re-reads and re-hashes every local chunk; a bad copy is moved aside and, when this node is listed
    /// for it, replaced from a good copy. At most <paramref name="bytesPerSecond"/> (0: as fast as the disk goes).
    /// </summary>
    public async Task<ScrubReport> ScrubAsync(long bytesPerSecond, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        long scanned = 0, corrupt = 0, repaired = 0, unrepaired = 0, bytes = 0;
        var buffer = ChunkStore.RentBuffer();
        try
        {
            foreach (var (hex, _, _) in chunks.Enumerate().ToList())
            {
                ct.ThrowIfCancellationRequested();
                var outcome = chunks.Read(hex, buffer, out var length);
                scanned++;
                bytes += length;
                Interlocked.Increment(ref _scrubbed);
                if (outcome == ChunkReadOutcome.Corrupt)
                {
                    corrupt++;
                    LogCorrupt(logger, hex, Self);
                    if (await RestoreAsync(hex, ct).ConfigureAwait(false))
                    {
                        repaired++;
                    }
                    else
                    {
                        unrepaired++;
                    }
                }

                if (bytesPerSecond > 0)
                {
                    var ahead = TimeSpan.FromSeconds((double)bytes / bytesPerSecond) - Stopwatch.GetElapsedTime(started);
                    if (ahead > TimeSpan.Zero)
                    {
                        await Task.Delay(ahead, ct).ConfigureAwait(false);
                    }
                }
            }
        }
        finally
        {
            ChunkStore.Return(buffer);
        }

        // Copies the records list for this node that are not on its disk (a replaced disk, a deleted file): nothing
        // else notices them until the other copies are lost too.
        long missing = 0;
        var listed = await catalog.ListAsync(StoreKeys.StorageChunks, ControlJsonContext.Default.ChunkDto, stale: true).ConfigureAwait(false);
        foreach (var record in listed.Where(r => r.Value.Nodes.Contains(Self, StringComparer.Ordinal) && !chunks.Has(r.Value.Digest)))
        {
            ct.ThrowIfCancellationRequested();
            missing++;
            LogMissing(logger, record.Value.Digest, Self);
            if (await RestoreAsync(record.Value.Digest, ct).ConfigureAwait(false))
            {
                repaired++;
            }
            else
            {
                unrepaired++;
            }
        }

        _lastScrub = time.GetUtcNow().UtcDateTime;
        var report = new ScrubReport(Self, scanned, corrupt, repaired, unrepaired, Stopwatch.GetElapsedTime(started).TotalSeconds, missing);
        LogScrub(logger, scanned, corrupt, missing, repaired, unrepaired);
        return report;
    }

    [LoggerMessage(EventId = 7010, Level = LogLevel.Information, Message = "repair: {Chunks} chunks re-replicated, {Bytes} bytes in {Seconds:0.0} s")]
    private static partial void LogRepairPass(ILogger logger, int chunks, long bytes, double seconds);

    [LoggerMessage(EventId = 7011, Level = LogLevel.Information, Message = "scrub: {Scanned} chunks re-hashed, {Corrupt} corrupt, {Missing} missing, {Repaired} repaired, {Unrepaired} without a good copy")]
    private static partial void LogScrub(ILogger logger, long scanned, long corrupt, long missing, long repaired, long unrepaired);

    [LoggerMessage(EventId = 7012, Level = LogLevel.Warning, Message = "chunk {Hex} is listed on node {Node} but not on its disk: restoring it from a good copy")]
    private static partial void LogMissing(ILogger logger, string hex, string node);
}
