using ZeroCloud.Model.Api;

namespace ZeroCloud.Storage;

public sealed partial class StorageEngine
{
    /// <summary>The whole store's state from the records, with every storage node's own figures (asked in parallel, 3 s each).</summary>
    public async Task<StorageStatusResponse> StatusAsync(CancellationToken ct)
    {
        var (nodes, storage) = await catalog.NodesAsync(TimeSpan.Zero).ConfigureAwait(false);
        var spec = await catalog.SpecAsync().ConfigureAwait(false);
        var objects = (await catalog.ListAsync(StoreKeys.StorageObjects, ControlJsonContext.Default.StorageObjectDto).ConfigureAwait(false)).Select(o => o.Value).ToList();
        var blobs = (await catalog.ListAsync(StoreKeys.StorageBlobs, ControlJsonContext.Default.BlobDto).ConfigureAwait(false)).Select(b => b.Value).ToDictionary(b => b.Digest, StringComparer.Ordinal);
        var chunkRecords = (await catalog.ListAsync(StoreKeys.StorageChunks, ControlJsonContext.Default.ChunkDto).ConfigureAwait(false)).Select(c => c.Value).ToDictionary(c => c.Digest, StringComparer.Ordinal);
        var replicas = StoragePlan.Replicas(spec, nodes.Values);
        var now = time.GetUtcNow().UtcDateTime;
        int Copies(ChunkDto c) => c.Nodes.Count(n => StoragePlan.StateOf(nodes.GetValueOrDefault(n), spec.RepairAfter, now) != CopyState.Lost);
        var under = chunkRecords.Values.Count(c => Copies(c) < replicas);
        var lost = chunkRecords.Values.Count(c => StoragePlan.Readable(c, nodes).Count == 0);
        var repairing = chunkRecords.Values.Count(c => c.RepairBy is not null && c.RepairUntil > now);
        var storageNodes = storage.Select(i => i.Node).Concat(chunkRecords.Values.SelectMany(c => c.Nodes)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var perNode = await Task.WhenAll(storageNodes.Select(async name =>
        {
            var node = nodes.GetValueOrDefault(name);
            var listed = chunkRecords.Values.LongCount(c => c.Nodes.Contains(name));
            if (name == Self)
            {
                return new StorageNodeStatusDto(name, node?.Address, node?.Status ?? NodeStatus.Unknown, listed, Local(), null);
            }

            if (Catalog.Endpoint(name, nodes, storage) is not { } url)
            {
                return new StorageNodeStatusDto(name, node?.Address, node?.Status ?? NodeStatus.Unknown, listed, null, "no storage instance runs there now");
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(3));
            var local = await peers.LocalAsync(url, timeout.Token).ConfigureAwait(false);
            return new StorageNodeStatusDto(name, node?.Address, node?.Status ?? NodeStatus.Unknown, listed, local, local is null ? "did not answer" : null);
        })).ConfigureAwait(false);
        var objectList = objects.OrderBy(o => o.Name, StringComparer.Ordinal).Select(o =>
        {
            var chunkList = blobs.GetValueOrDefault(o.Digest)?.Chunks ?? [];
            var min = chunkList.Count == 0 ? replicas : chunkList.Select(c => chunkRecords.TryGetValue(c, out var r) ? Copies(r) : 0).Min();
            return new StorageObjectStatusDto(o.Name, o.Digest, o.Size, chunkList.Count, min);
        }).ToList();
        return new StorageStatusResponse(
            objects.Count,
            blobs.Count,
            chunkRecords.Count,
            blobs.Values.Sum(b => b.Size),
            chunkRecords.Values.Sum(c => c.Size * c.Nodes.Count),
            replicas,
            under,
            repairing,
            lost,
            perNode,
            objectList);
    }
}
