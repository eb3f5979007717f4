using System.Text;
using System.Text.Json;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Config;

namespace ZeroCloud.Storage;

/// <summary>A record of the store's metadata with the revision a compare-and-swap checks.</summary>
public readonly record struct Versioned<T>(T Value, long ModRevision);

/// <summary>
/// The store's metadata in the control plane's Raft store (objects, blobs, chunk locations), and what the storage
/// instances need to know of the cluster (nodes, where storage runs, spec.storage). Every member is tried in turn; a
/// write is a transaction whose compares make concurrent writers retry instead of losing each other's copies.
/// </summary>
public sealed class Catalog(IReadOnlyList<ControlClient> members, string self)
{
    private int _current;
    private (long Revision, StorageSpec Spec) _spec = (-1, StorageSpec.Default);
    private readonly Lock _gate = new();
    private (long Began, Task<NodeList> Read)? _reading; // Began and NodeList.At: Environment.TickCount64 (monotonic: a stepped wall clock never keeps a stale list)
    private NodeList _nodes = new(long.MinValue / 2, new Dictionary<string, StorageNode>(), []);

    public string Self => self;

    /// <summary>The storage port when a placement names none.</summary>
    public const int DefaultPort = 8890;

    private async Task<T> CallAsync<T>(Func<ControlClient, Task<T>> call)
    {
        Exception? last = null;
        for (var i = 0; i < members.Count; i++)
        {
            var index = (Volatile.Read(ref _current) + i) % members.Count;
            try
            {
                var result = await call(members[index]).ConfigureAwait(false);
                Volatile.Write(ref _current, index);
                return result;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or ControlApiException { Status: 0 or 502 or 503 or 504 })
            {
                last = ex;
            }
        }

        throw new HttpRequestException($"no control-plane member answered ({last?.Message})", last);
    }

    /// <summary>The control plane's own client (the first member that answers), for callers that need one.</summary>
    public Task<T> WithClientAsync<T>(Func<ControlClient, Task<T>> call) => CallAsync(call);

    public async Task<Versioned<T>?> GetAsync<T>(string key, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, bool stale = false)
        where T : class
    {
        var kv = await CallAsync(c => c.GetAsync(key, stale)).ConfigureAwait(false);
        return kv is null || TypedValues.Read(kv.Key, kv.Value, type, new List<string>()) is not { } value ? null : new Versioned<T>(value, kv.ModRevision);
    }

    public async Task<List<Versioned<T>>> ListAsync<T>(string prefix, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, bool stale = false)
        where T : class
    {
        var range = await CallAsync(c => c.RangeAsync(prefix, stale)).ConfigureAwait(false);
        var skipped = new List<string>();
        return [.. range.Kvs.Select(kv => TypedValues.Read(kv.Key, kv.Value, type, skipped) is { } v ? new Versioned<T>(v, kv.ModRevision) : (Versioned<T>?)null).OfType<Versioned<T>>()];
    }

    public Task<TxnResponse> TxnAsync(TxnRequest txn) => CallAsync(c => c.TxnAsync(txn));

    public static OpDto Put<T>(string key, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) => new("put", key, JsonSerializer.Serialize(value, type));

    /// <summary>The compare that holds while <paramref name="key"/> is as read at <paramref name="modRevision"/> (0: absent).</summary>
    public static CompareDto Unchanged(string key, long modRevision) =>
        modRevision == 0 ? new CompareDto(key, "version", "=", Number: 0) : new CompareDto(key, "mod", "=", Number: modRevision);

    /// <summary>spec.storage of the applied cluster.yaml (re-read when it changes).</summary>
    public async Task<StorageSpec> SpecAsync()
    {
        var kv = await CallAsync(c => c.GetAsync(StoreKeys.Spec, stale: true)).ConfigureAwait(false);
        if (kv is null)
        {
            return StorageSpec.Default;
        }

        if (kv.ModRevision != _spec.Revision)
        {
            var loaded = ClusterConfigLoader.Load(Encoding.UTF8.GetBytes(kv.Value), "the applied spec");
            _spec = (kv.ModRevision, loaded.Config?.Spec.Storage ?? StorageSpec.Default);
        }

        return _spec.Spec;
    }

    /// <summary>Every node with its status, and which run storage; cached for <paramref name="maxAge"/>.</summary>
    public async Task<(IReadOnlyDictionary<string, StorageNode> Nodes, IReadOnlyList<InstanceDto> Storage)> NodesAsync(TimeSpan maxAge)
    {
        var cached = _nodes;
        if (Environment.TickCount64 - cached.At < (long)maxAge.TotalMilliseconds)
        {
            return (cached.Nodes, cached.Storage);
        }

        // Callers that find the list too old at the same moment share one read (a node that just joined makes every
        // request of its first image fetch ask for a fresh list); a read begun too long ago for this caller is
        // waited for, and another begun after it.
        var asked = Environment.TickCount64;
        while (true)
        {
            (long Began, Task<NodeList> Read) reading;
            lock (_gate)
            {
                if (_reading is not { Read.IsCompleted: false })
                {
                    _reading = (Environment.TickCount64, ReadNodesAsync());
                }

                reading = _reading.Value;
            }

            var list = await reading.Read.ConfigureAwait(false);
            if (asked - reading.Began <= (long)maxAge.TotalMilliseconds)
            {
                return (list.Nodes, list.Storage);
            }
        }
    }

    private async Task<NodeList> ReadNodesAsync()
    {
        var began = Environment.TickCount64;
        var nodes = await CallAsync(c => c.NodesAsync()).ConfigureAwait(false);
        var instances = await CallAsync(c => c.InstancesAsync()).ConfigureAwait(false);
        var storage = instances.Instances.Select(v => v.Instance).Where(i => i.Image == "builtin/storage").ToList();
        var runs = storage.Select(i => i.Node).ToHashSet(StringComparer.Ordinal);
        var map = nodes.Nodes.ToDictionary(n => n.Name, n => new StorageNode(n.Name, n.Status, n.Since, n.Address, runs.Contains(n.Name)), StringComparer.Ordinal);
        return _nodes = new NodeList(began, map, storage);
    }

    /// <summary>
    /// The nodes, re-read when <paramref name="satisfied"/> does not hold for the cached list and it is older than
    /// <see cref="FreshEnough"/>: a node that joined or was given storage a moment ago is known without waiting for the
    /// cache to age, and a caller the control plane does not know cannot make every request a read.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, StorageNode>> NodesAsync(TimeSpan maxAge, Func<IReadOnlyDictionary<string, StorageNode>, bool> satisfied)
    {
        var (nodes, _) = await NodesAsync(maxAge).ConfigureAwait(false);
        return satisfied(nodes) ? nodes : (await NodesAsync(FreshEnough).ConfigureAwait(false)).Nodes;
    }

    /// <summary>How old a list of nodes may be when a caller missed what it looked for in it.</summary>
    public static readonly TimeSpan FreshEnough = TimeSpan.FromMilliseconds(250);

    /// <summary>Forgets the cached nodes (after a peer could not be reached, say).</summary>
    public void Invalidate() => _nodes = _nodes with { At = long.MinValue / 2 };

    /// <summary>The base URL of the storage instance on <paramref name="node"/>; null when none runs there or its address is unknown.</summary>
    public static Uri? Endpoint(string node, IReadOnlyDictionary<string, StorageNode> nodes, IReadOnlyList<InstanceDto> storage)
    {
        var instance = storage.FirstOrDefault(i => i.Node == node);
        return instance is null || nodes.GetValueOrDefault(node)?.Address is not { } address
            ? null
            : new Uri($"https://{address}:{(instance.Ports is { Count: > 0 } p ? p[0] : DefaultPort)}");
    }

    /// <summary>One read of the nodes, replaced whole (readers never see half of two).</summary>
    private sealed record NodeList(long At, IReadOnlyDictionary<string, StorageNode> Nodes, IReadOnlyList<InstanceDto> Storage);
}
