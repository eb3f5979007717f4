using System.Buffers;
using System.Threading.Channels;
using DotNext.IO;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;
using Microsoft.Extensions.Logging;
using ZeroCloud.Cluster.Store;

namespace ZeroCloud.Cluster.Raft;

/// <summary>Carries a proposal's outcome from the apply loop back to the request that proposed it (leader only).</summary>
internal sealed class ApplyContext
{
    public TxnResult? Result { get; set; }
}

/// <summary>
/// The replicated state machine: committed Raft entries (encoded <see cref="KvTxn"/>s) applied to a
/// <see cref="KvStore"/> in log order, snapshots every <c>snapshotEvery</c> entries (DotNext's WAL then drops the
/// entries before it, and a follower that fell behind is sent the snapshot), and watches fed from the apply loop.
/// Readers take <see cref="Read"/>; the apply loop is the only writer.
/// </summary>
internal sealed partial class KvStateMachine : SimpleStateMachine
{
    private readonly Lock _gate = new();
    private readonly List<Watcher> _watchers = [];
    private readonly int _snapshotEvery;
    private readonly int _historyLimit;
    private readonly ILogger _logger;
    private KvStore _store;
    private long _lastSnapshotIndex;

    public KvStateMachine(DirectoryInfo location, int snapshotEvery, int historyLimit, ILogger logger)
        : base(location)
    {
        _snapshotEvery = snapshotEvery;
        _historyLimit = historyLimit;
        _logger = logger;
        _store = new KvStore { HistoryLimit = historyLimit };
    }

    /// <summary>Raft index of the last entry applied here.</summary>
    public long AppliedIndex { get; private set; }

    public long SnapshotIndex => Volatile.Read(ref _lastSnapshotIndex);

    /// <summary>Runs <paramref name="read"/> against the current state, consistently with the apply loop.</summary>
    public T Read<T>(Func<KvStore, T> read)
    {
        lock (_gate)
        {
            return read(_store);
        }
    }

    protected override ValueTask<bool> ApplyAsync(LogEntry entry, CancellationToken token)
    {
        if (entry.Index <= AppliedIndex)
        {
            // A log reopened on this machine (after a write failure) replays from its snapshot: what is applied
            // already is not applied twice.
            return ValueTask.FromResult(false);
        }

        AppliedIndex = entry.Index;
        if (entry.IsConfiguration || !entry.TryGetPayload(out var payload) || payload.IsEmpty)
        {
            // Membership changes carry no data (DotNext's WAL does not pass entries without a payload, such as a new
            // leader's empty entry, to the state machine at all).
            return ValueTask.FromResult(false);
        }

        // Proposals are validated before they enter the log, so an undecodable entry is a bug or came from outside;
        // every member skips it alike, reports it, and goes on.
        if (KvTxn.TryDecode(payload.IsSingleSegment ? payload.FirstSpan : payload.ToArray(), out var problem) is not { } txn)
        {
            LogUndecodable(entry.Index, problem ?? "undecodable");
            return ValueTask.FromResult(false);
        }

        TxnResult result;
        lock (_gate)
        {
            result = _store.Apply(txn);
            if (result.Events.Count > 0)
            {
                Deliver(result.Events);
            }
        }

        if (entry.Context is ApplyContext context)
        {
            context.Result = result;
        }

        var snapshot = entry.Index - _lastSnapshotIndex >= _snapshotEvery;
        if (snapshot)
        {
            Volatile.Write(ref _lastSnapshotIndex, entry.Index);
        }

        return ValueTask.FromResult(snapshot);
    }

    protected override ValueTask PersistAsync(IAsyncBinaryWriter writer, CancellationToken token)
    {
        byte[] bytes;
        lock (_gate)
        {
            bytes = _store.Snapshot();
        }

        return writer.Invoke(bytes, token);
    }

    protected override async ValueTask RestoreAsync(FileInfo snapshotFile, CancellationToken token)
    {
        var bytes = await File.ReadAllBytesAsync(snapshotFile.FullName, token).ConfigureAwait(false);
        var restored = KvStore.Restore(bytes, _historyLimit);
        lock (_gate)
        {
            _store = restored;

            // Watches go on from the restored history where it still holds their next revision.
            foreach (var watcher in _watchers.ToArray())
            {
                if (watcher.LastRevision >= restored.Revision)
                {
                    continue;
                }

                try
                {
                    foreach (var e in restored.History(watcher.Prefix, watcher.LastRevision + 1))
                    {
                        watcher.Offer(e);
                    }
                }
                catch (CompactedException ex)
                {
                    watcher.Fail(ex);
                    _watchers.Remove(watcher);
                }
            }
        }

        if (long.TryParse(Path.GetFileNameWithoutExtension(snapshotFile.Name).Split('-')[0], out var index))
        {
            Volatile.Write(ref _lastSnapshotIndex, index);
        }

        LogRestored(snapshotFile.Name, restored.Revision, restored.Count);
    }

    /// <summary>
    /// Starts a watch on keys under <paramref name="prefix"/> from <paramref name="fromRevision"/> (0: from the next
    /// change). The history since then is queued first, under the same lock as the apply loop, so nothing is missed
    /// or repeated. Throws <see cref="CompactedException"/> when that history is gone.
    /// </summary>
    public Watcher Watch(string prefix, long fromRevision)
    {
        lock (_gate)
        {
            var from = fromRevision <= 0 ? _store.Revision + 1 : fromRevision;
            var backlog = from <= _store.Revision ? _store.History(prefix, from) : [];
            var watcher = new Watcher(this, prefix, from);
            foreach (var e in backlog)
            {
                watcher.Offer(e);
            }

            _watchers.Add(watcher);
            return watcher;
        }
    }

    private void Deliver(IReadOnlyList<KvEvent> events)
    {
        for (var i = _watchers.Count - 1; i >= 0; i--)
        {
            var watcher = _watchers[i];
            foreach (var e in events)
            {
                if (e.Key.StartsWith(watcher.Prefix, StringComparison.Ordinal) && !watcher.Offer(e))
                {
                    _watchers.RemoveAt(i);
                    break;
                }
            }
        }
    }

    private void Remove(Watcher watcher)
    {
        lock (_gate)
        {
            _watchers.Remove(watcher);
        }
    }

    /// <summary>One watch: its events in revision order; ends with an error when it falls too far behind.</summary>
    public sealed class Watcher : IDisposable
    {
        /// <summary>Events a watch may have queued before it is cut off as too slow.</summary>
        public const int MaxQueued = 100_000;

        private readonly KvStateMachine _owner;
        private readonly Channel<KvEvent> _channel = Channel.CreateUnbounded<KvEvent>(new() { SingleReader = false, SingleWriter = true }); // the multi-reader kind can count

        internal Watcher(KvStateMachine owner, string prefix, long from)
        {
            _owner = owner;
            Prefix = prefix;
            LastRevision = from - 1;
        }

        public string Prefix { get; }

        /// <summary>The revision of the last event queued (a transaction's events are always queued together).</summary>
        public long LastRevision { get; private set; }

        public ChannelReader<KvEvent> Events => _channel.Reader;

        internal bool Offer(KvEvent e)
        {
            if (_channel.Reader.Count >= MaxQueued)
            {
                Fail(new InvalidOperationException($"the watch fell more than {MaxQueued} events behind; watch again from revision {LastRevision}"));
                return false;
            }

            LastRevision = e.Revision;
            return _channel.Writer.TryWrite(e);
        }

        internal void Fail(Exception ex) => _channel.Writer.TryComplete(ex);

        public void Dispose()
        {
            _channel.Writer.TryComplete();
            _owner.Remove(this);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "log entry {Index} cannot be decoded and is skipped: {Problem}")]
    private partial void LogUndecodable(long index, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "restored snapshot {File}: revision {Revision}, {Keys} keys")]
    private partial void LogRestored(string file, long revision, int keys);
}
