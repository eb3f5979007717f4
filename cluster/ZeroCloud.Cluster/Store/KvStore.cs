using System.Text;

namespace ZeroCloud.Cluster.Store;

/// <summary>A key's current value and its revisions (etcd's mvccpb.KeyValue, kept small).</summary>
public sealed record KeyValue(string Key, byte[] Value, long CreateRevision, long ModRevision, long Version);

public enum EventType : byte
{
    Put = 1,
    Delete = 2,
}

/// <summary>A change, as watches deliver it: for a delete, <see cref="Value"/> is the last value.</summary>
public sealed record KvEvent(long Revision, EventType Type, string Key, byte[] Value);

/// <summary>The outcome of a transaction: which branch ran and the revision the store is at afterwards.</summary>
public sealed record TxnResult(bool Succeeded, long Revision, IReadOnlyList<KvEvent> Events);

/// <summary>Why a watch cannot start: the history it asks for has been compacted away.</summary>
public sealed class CompactedException(long requested, long compacted)
    : Exception($"revision {requested} has been compacted (history starts after {compacted}); watch from {compacted + 1} or later, after reading the current state")
{
    public long CompactedRevision { get; } = compacted;
}

/// <summary>
/// The replicated state machine's data: a revisioned key/value store in the etcd model. Every transaction that
/// changes something bumps the global revision once; keys keep create/mod revisions and a version; the change
/// history feeds watches from any revision after the last compaction. Deterministic: the same transactions in
/// the same order give the same state and history on every member. Not thread-safe: the Raft apply loop owns it.
/// </summary>
public sealed class KvStore
{
    public const int MaxKeyBytes = 1024;
    public const int MaxValueBytes = 1 << 20;

    /// <summary>How many events of history are kept by default; beyond that the oldest half is compacted away.</summary>
    public const int DefaultHistoryLimit = 100_000;

    /// <summary>Bytes of history kept by default (keys and values of the kept events); beyond that the oldest half goes.</summary>
    public const long DefaultHistoryBytes = 64L << 20;

    /// <summary>Bytes the keys and values may take by default before writes that add to them are refused (etcd's --quota-backend-bytes is 2 GiB; this store is in memory).</summary>
    public const long DefaultQuotaBytes = 1L << 30;

    private readonly SortedDictionary<string, KeyValue> _keys = new(StringComparer.Ordinal);
    private readonly List<KvEvent> _history = [];
    private long _historyBytes;

    public long Revision { get; private set; }

    /// <summary>History at or below this revision is gone.</summary>
    public long CompactedRevision { get; private set; }

    public int Count => _keys.Count;

    /// <summary>
    /// Events of history kept: when the history grows past this, the oldest revisions are compacted so that half of
    /// it remains. The rule depends only on the applied transactions, so every member compacts at the same revision.
    /// </summary>
    public int HistoryLimit { get; init; } = DefaultHistoryLimit;

    /// <summary>The same bound in bytes (each event counts its key, its value and 32 bytes), so large values cannot hold gigabytes of history.</summary>
    public long HistoryBytesLimit { get; init; } = DefaultHistoryBytes;

    /// <summary>Bytes of history kept now.</summary>
    public long HistoryBytes => _historyBytes;

    /// <summary>Bytes the current keys and values take (each key counts its key, its value and 32 bytes).</summary>
    public long Bytes { get; private set; }

    /// <summary>What the store would take after <paramref name="txn"/> applied its success branch: for the quota check before a proposal.</summary>
    public long BytesAfter(KvTxn txn)
    {
        var bytes = Bytes;
        foreach (var op in txn.Success)
        {
            if (op is PutOp put)
            {
                bytes += Size(put.Key, put.Value) - (_keys.TryGetValue(put.Key, out var old) ? Size(old.Key, old.Value) : 0);
            }
        }

        return bytes;
    }

    private static long Size(string key, byte[] value) => key.Length + value.Length + 32;

    /// <summary>What is wrong with a transaction before it is proposed, or null: bad keys, oversized values, bad comparisons.</summary>
    public static string? Validate(KvTxn txn)
    {
        foreach (var c in txn.Compares)
        {
            if (KeyProblem(c.Key) is { } problem)
            {
                return $"compare: {problem}";
            }

            if (!Enum.IsDefined(c.Target) || !Enum.IsDefined(c.Op))
            {
                return $"compare on \"{c.Key}\": unknown target or operator";
            }

            if (c.Target == CompareTarget.Value && c.Value is null)
            {
                return $"compare on \"{c.Key}\": a value comparison needs a value";
            }

            if (c.Target == CompareTarget.Value && c.Op is CompareOp.Less or CompareOp.Greater)
            {
                return $"compare on \"{c.Key}\": values compare with = or != only";
            }
        }

        foreach (var op in txn.Success.Concat(txn.Failure))
        {
            if (KeyProblem(op.Key) is { } problem && !(op is DeleteOp { Prefix: true } && op.Key.Length == 0))
            {
                return problem;
            }

            if (op is PutOp put && put.Value.Length > MaxValueBytes)
            {
                return $"the value of \"{op.Key}\" is {put.Value.Length} bytes; at most {MaxValueBytes} are allowed";
            }

            if (op is PutOp typed && ZeroCloud.Model.Api.TypedValues.Check(typed.Key, typed.Value) is { } bad)
            {
                return bad;
            }
        }

        return null;
    }

    /// <summary>True when a value of the transaction is over <see cref="MaxValueBytes"/> (the API answers 413).</summary>
    public static bool IsTooLarge(KvTxn txn) =>
        txn.Success.Concat(txn.Failure).Any(op => op is PutOp put && put.Value.Length > MaxValueBytes);

    public static string? KeyProblem(string key)
    {
        if (key.Length == 0)
        {
            return "the key is empty";
        }

        if (Encoding.UTF8.GetByteCount(key) > MaxKeyBytes)
        {
            return $"the key is longer than {MaxKeyBytes} bytes";
        }

        return key.Any(char.IsControl) ? $"the key \"{key.Replace("\0", "\\0", StringComparison.Ordinal)}\" holds a control character" : null;
    }

    public KeyValue? Get(string key) => _keys.GetValueOrDefault(key);

    /// <summary>Keys starting with <paramref name="prefix"/>, in key order, at most <paramref name="limit"/> (0: all).</summary>
    public IReadOnlyList<KeyValue> Range(string prefix, int limit = 0)
    {
        var result = new List<KeyValue>();
        foreach (var (key, value) in _keys)
        {
            if (string.CompareOrdinal(key, prefix) < 0)
            {
                continue;
            }

            if (!key.StartsWith(prefix, StringComparison.Ordinal) || (limit > 0 && result.Count == limit))
            {
                break;
            }

            result.Add(value);
        }

        return result;
    }

    public TxnResult Apply(KvTxn txn)
    {
        var succeeded = txn.Compares.All(Holds);
        var ops = succeeded ? txn.Success : txn.Failure;
        var next = Revision + 1;
        var events = new List<KvEvent>();
        foreach (var op in ops)
        {
            switch (op)
            {
                case PutOp put:
                    {
                        var old = _keys.GetValueOrDefault(put.Key);
                        Bytes += Size(put.Key, put.Value) - (old is null ? 0 : Size(old.Key, old.Value));
                        _keys[put.Key] = new KeyValue(put.Key, put.Value, old?.CreateRevision ?? next, next, (old?.Version ?? 0) + 1);
                        events.Add(new KvEvent(next, EventType.Put, put.Key, put.Value));
                        break;
                    }

                case DeleteOp { Prefix: false } delete:
                    if (_keys.Remove(delete.Key, out var removed))
                    {
                        Bytes -= Size(removed.Key, removed.Value);
                        events.Add(new KvEvent(next, EventType.Delete, delete.Key, removed.Value));
                    }

                    break;
                case DeleteOp delete:
                    foreach (var kv in Range(delete.Key))
                    {
                        _keys.Remove(kv.Key);
                        Bytes -= Size(kv.Key, kv.Value);
                        events.Add(new KvEvent(next, EventType.Delete, kv.Key, kv.Value));
                    }

                    break;
            }
        }

        if (events.Count > 0)
        {
            Revision = next;
            _history.AddRange(events);
            foreach (var e in events)
            {
                _historyBytes += Size(e.Key, e.Value);
            }

            if (_history.Count > HistoryLimit || _historyBytes > HistoryBytesLimit)
            {
                // Compact whole revisions only: up to the revision of the newest event that must go for half of each
                // limit to remain. Depends only on the applied transactions, so every member compacts alike.
                var firstKept = _history.Count;
                long kept = 0;
                while (firstKept > 1 && _history.Count - firstKept + 1 <= HistoryLimit / 2 && kept + Size(_history[firstKept - 1].Key, _history[firstKept - 1].Value) <= HistoryBytesLimit / 2)
                {
                    firstKept--;
                    kept += Size(_history[firstKept].Key, _history[firstKept].Value);
                }

                Compact(_history[firstKept - 1].Revision);
            }
        }

        return new TxnResult(succeeded, Revision, events);
    }

    private bool Holds(Compare c)
    {
        var kv = _keys.GetValueOrDefault(c.Key);
        if (c.Target == CompareTarget.Value)
        {
            var equal = kv is not null && kv.Value.AsSpan().SequenceEqual(c.Value);
            return c.Op == CompareOp.Equal ? equal : !equal;
        }

        var actual = c.Target switch
        {
            CompareTarget.Version => kv?.Version ?? 0,
            CompareTarget.CreateRevision => kv?.CreateRevision ?? 0,
            _ => kv?.ModRevision ?? 0,
        };
        return c.Op switch
        {
            CompareOp.Equal => actual == c.Number,
            CompareOp.NotEqual => actual != c.Number,
            CompareOp.Less => actual < c.Number,
            _ => actual > c.Number,
        };
    }

    /// <summary>Changes under <paramref name="prefix"/> from <paramref name="fromRevision"/> on, in order.</summary>
    public IReadOnlyList<KvEvent> History(string prefix, long fromRevision)
    {
        if (fromRevision <= CompactedRevision && CompactedRevision > 0)
        {
            throw new CompactedException(fromRevision, CompactedRevision);
        }

        // The history is ordered by revision: find the first event at or after fromRevision.
        int lo = 0, hi = _history.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (_history[mid].Revision < fromRevision)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return [.. _history.Skip(lo).Where(e => e.Key.StartsWith(prefix, StringComparison.Ordinal))];
    }

    /// <summary>Drops the history at and below <paramref name="revision"/> (the current values stay).</summary>
    public void Compact(long revision)
    {
        revision = Math.Min(revision, Revision);
        if (revision <= CompactedRevision)
        {
            return;
        }

        foreach (var e in _history)
        {
            if (e.Revision > revision)
            {
                break;
            }

            _historyBytes -= Size(e.Key, e.Value);
        }

        _history.RemoveAll(e => e.Revision <= revision);
        CompactedRevision = revision;
    }

    /// <summary>
    /// The whole state as bytes (a Raft snapshot): the revision, the compaction point, every key and the kept history,
    /// so a member restored from it serves the same watches and history as the one that wrote it.
    /// </summary>
    public byte[] Snapshot()
    {
        using var stream = new MemoryStream();
        using var w = new BinaryWriter(stream, Encoding.UTF8);
        w.Write((byte)2);
        w.Write(Revision);
        w.Write(CompactedRevision);
        w.Write7BitEncodedInt(_keys.Count);
        foreach (var kv in _keys.Values)
        {
            w.Write(kv.Key);
            w.Write7BitEncodedInt(kv.Value.Length);
            w.Write(kv.Value);
            w.Write(kv.CreateRevision);
            w.Write(kv.ModRevision);
            w.Write(kv.Version);
        }

        w.Write7BitEncodedInt(_history.Count);
        foreach (var e in _history)
        {
            w.Write(e.Revision);
            w.Write((byte)e.Type);
            w.Write(e.Key);
            w.Write7BitEncodedInt(e.Value.Length);
            w.Write(e.Value);
        }

        w.Flush();
        return stream.ToArray();
    }

    public static KvStore Restore(ReadOnlySpan<byte> snapshot, int historyLimit = DefaultHistoryLimit)
    {
        using var r = new BinaryReader(new MemoryStream(snapshot.ToArray()), Encoding.UTF8);
        var format = r.ReadByte();
        if (format is not (1 or 2))
        {
            throw new InvalidDataException($"unknown snapshot format {format}");
        }

        var store = new KvStore { Revision = r.ReadInt64(), CompactedRevision = r.ReadInt64(), HistoryLimit = historyLimit };
        for (var n = r.Read7BitEncodedInt(); n > 0; n--)
        {
            var key = r.ReadString();
            var value = r.ReadBytes(r.Read7BitEncodedInt());
            store._keys[key] = new KeyValue(key, value, r.ReadInt64(), r.ReadInt64(), r.ReadInt64());
            store.Bytes += Size(key, value);
        }

        if (format == 1)
        {
            // Format 1 kept no history: it starts after the snapshot's revision.
            store.CompactedRevision = store.Revision;
            return store;
        }

        for (var n = r.Read7BitEncodedInt(); n > 0; n--)
        {
            var revision = r.ReadInt64();
            var type = (EventType)r.ReadByte();
            var key = r.ReadString();
            var e = new KvEvent(revision, type, key, r.ReadBytes(r.Read7BitEncodedInt()));
            store._history.Add(e);
            store._historyBytes += Size(e.Key, e.Value);
        }

        return store;
    }
}
