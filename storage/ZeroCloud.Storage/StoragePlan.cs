using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using ZeroCloud.Model;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Config;

namespace ZeroCloud.Storage;

/// <summary>A node as the store's decisions see it: its control-plane status, since when, and whether it runs storage.</summary>
public sealed record StorageNode(string Name, NodeStatus Status, DateTime Since, string? Address, bool RunsStorage);

/// <summary>How a listed copy of a chunk counts.</summary>
public enum CopyState
{
    /// <summary>Its node is Ready.</summary>
    Live,

    /// <summary>Its node is Suspect, or Down for less than spec.storage.repairAfter: still counted, not read from, not yet replaced.</summary>
    Away,

    /// <summary>Its node has been Down for spec.storage.repairAfter, or is gone: replaced by a new copy.</summary>
    Lost,
}

/// <summary>
/// One repair of one chunk: the copies that stay listed (<see cref="Keep"/>), where new copies go (<see cref="Targets"/>,
/// read from one of <see cref="Sources"/>), which listed copies are dropped (lost ones, or surplus once settled), and
/// which storage node does it (<see cref="Actor"/>: the first target, else the first live holder).
/// </summary>
public sealed record RepairAction(string Hex, IReadOnlyList<string> Keep, IReadOnlyList<string> Sources, IReadOnlyList<string> Targets, IReadOnlyList<string> Drop, string? Actor)
{
    /// <summary>The node list once done.</summary>
    public IReadOnlyList<string> Nodes => [.. Keep, .. Targets];

    /// <summary>No live copy to read from: nothing can be done until a holder comes back.</summary>
    public bool Unrecoverable => Targets.Count > 0 && Sources.Count == 0;
}

/// <summary>
/// The store's decisions, pure (nodes, records and the time in; choices out): where a chunk's copies go, when a chunk
/// is under-replicated and who repairs it, what a node may collect. The storage instances act on them.
/// </summary>
public static class StoragePlan
{
    /// <summary>
    /// Storage nodes in the order a chunk prefers them: rendezvous (highest-random-weight) hashing of chunk and node,
    /// so that every instance ranks alike without talking, and a node that leaves moves only its own chunks;
    /// <paramref name="preferred"/> (the node that received the upload) first when it is among them.
    /// </summary>
    public static List<string> Rank(string hex, IEnumerable<string> nodes, string? preferred = null)
    {
        var ranked = nodes.Distinct(StringComparer.Ordinal).OrderByDescending(n => Weight(hex, n)).ThenBy(n => n, StringComparer.Ordinal).ToList();
        if (preferred is not null && ranked.Remove(preferred))
        {
            ranked.Insert(0, preferred);
        }

        return ranked;
    }

    private static ulong Weight(string hex, string node)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(hex + "/" + node), hash);
        return BinaryPrimitives.ReadUInt64BigEndian(hash);
    }

    /// <summary>How the copy on <paramref name="node"/> counts at <paramref name="now"/>.</summary>
    public static CopyState StateOf(StorageNode? node, TimeSpan repairAfter, DateTime now) => node switch
    {
        null => CopyState.Lost,
        { Status: NodeStatus.Ready } => CopyState.Live,
        { Status: NodeStatus.Down } when now - node.Since >= repairAfter => CopyState.Lost,
        _ => CopyState.Away,
    };

    /// <summary>
    /// What <paramref name="chunk"/> needs, or null when it is fine: new copies on the best-ranked storage nodes that
    /// hold none (Ready, running storage) until <paramref name="replicas"/> copies count, lost copies dropped from its
    /// list, and once no copy is away, live copies past <paramref name="replicas"/> dropped (the worst-ranked).
    /// </summary>
    public static RepairAction? Decide(ChunkDto chunk, IReadOnlyDictionary<string, StorageNode> nodes, int replicas, TimeSpan repairAfter, DateTime now)
    {
        var states = chunk.Nodes.ToDictionary(n => n, n => StateOf(nodes.GetValueOrDefault(n), repairAfter, now), StringComparer.Ordinal);
        var live = Rank(chunk.Digest, states.Where(s => s.Value == CopyState.Live).Select(s => s.Key));
        var away = states.Where(s => s.Value == CopyState.Away).Select(s => s.Key).Order(StringComparer.Ordinal).ToList();
        var lost = states.Where(s => s.Value == CopyState.Lost).Select(s => s.Key).Order(StringComparer.Ordinal).ToList();
        var counted = live.Count + away.Count;
        if (counted >= replicas)
        {
            if (away.Count == 0 && live.Count > replicas)
            {
                // Settled with a copy too many (a holder came back after it was replaced, or replicas went down).
                return new RepairAction(chunk.Digest, live[..replicas], [], [], [.. live[replicas..], .. lost], live[0]);
            }

            return lost.Count == 0 ? null : new RepairAction(chunk.Digest, [.. live, .. away], live, [], lost, live.FirstOrDefault() ?? away[0]);
        }

        var candidates = nodes.Values.Where(n => n.RunsStorage && n.Status == NodeStatus.Ready && !states.ContainsKey(n.Name)).Select(n => n.Name);
        var targets = Rank(chunk.Digest, candidates).Take(replicas - counted).ToList();
        if (targets.Count == 0 && lost.Count == 0)
        {
            return null; // under-replicated, but there is no node to put a copy on
        }

        return new RepairAction(chunk.Digest, [.. live, .. away], live, targets, lost, targets.FirstOrDefault() ?? live.FirstOrDefault() ?? away.FirstOrDefault());
    }

    /// <summary>Whether <paramref name="chunk"/> is claimed by a repairer other than <paramref name="me"/> at <paramref name="now"/>.</summary>
    public static bool ClaimedByOther(ChunkDto chunk, string me, DateTime now) =>
        chunk.RepairBy is { } by && by != me && chunk.RepairUntil is { } until && until > now;

    /// <summary>Live copies of a chunk (the ones a read may use), best-ranked first.</summary>
    public static List<string> Readable(ChunkDto chunk, IReadOnlyDictionary<string, StorageNode> nodes) =>
        Rank(chunk.Digest, chunk.Nodes.Where(n => nodes.GetValueOrDefault(n) is { Status: NodeStatus.Ready or NodeStatus.Suspect }));

    /// <summary>
    /// The local copies <paramref name="me"/> may delete: chunks whose record does not list it (replaced while it was
    /// away, surplus, or never committed: an upload cut in the middle), once older than <paramref name="grace"/> so an
    /// upload in flight keeps its chunks.
    /// </summary>
    public static List<string> Collectable(IEnumerable<(string Hex, DateTime Written)> local, IReadOnlyDictionary<string, ChunkDto> chunks, string me, DateTime now, TimeSpan grace) =>
        [.. local.Where(l => WallClock.Expired(l.Written + grace, now) && !(chunks.TryGetValue(l.Hex, out var c) && (c.Nodes.Contains(me) || c.RepairBy == me))).Select(l => l.Hex)];

    /// <summary>
    /// Blobs no object names, created more than <paramref name="grace"/> ago (and <see cref="WallClock.Tolerance"/>: the
    /// time is the writer's clock), and the chunks only they use: what the
    /// store collects. (Images will reference blobs too, once they live in the store.)
    /// </summary>
    public static (List<BlobDto> Blobs, List<string> Chunks) Unreferenced(IReadOnlyCollection<StorageObjectDto> objects, IReadOnlyCollection<BlobDto> blobs, DateTime now, TimeSpan grace)
    {
        var named = objects.Select(o => o.Digest).ToHashSet(StringComparer.Ordinal);
        var dead = blobs.Where(b => !named.Contains(b.Digest) && WallClock.Expired(b.Created + grace, now)).ToList();
        var kept = blobs.Except(dead).SelectMany(b => b.Chunks).ToHashSet(StringComparer.Ordinal);
        return (dead, [.. dead.SelectMany(b => b.Chunks).Where(c => !kept.Contains(c)).Distinct(StringComparer.Ordinal)]);
    }

    /// <summary>The copies wanted for every chunk, from the spec and the number of storage nodes.</summary>
    public static int Replicas(StorageSpec spec, IEnumerable<StorageNode> nodes) => spec.ReplicasFor(nodes.Count(n => n.RunsStorage));
}
