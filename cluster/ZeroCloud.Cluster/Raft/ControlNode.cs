using System.Net;
using DotNext.Buffers;
using DotNext.Net;
using DotNext.Net.Cluster;
using DotNext.Net.Cluster.Consensus.Raft;
using DotNext.Net.Cluster.Consensus.Raft.Membership;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;
using Microsoft.Extensions.Logging;
using ZeroCloud.Cluster.Store;

namespace ZeroCloud.Cluster.Raft;

/// <summary>How one control-plane member runs.</summary>
public sealed record ControlNodeOptions
{
    /// <summary>Folder for the write-ahead log, snapshots and the membership file; the member's identity lives here.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>Where Raft peers reach this member (TCP).</summary>
    public required IPEndPoint RaftEndPoint { get; init; }

    /// <summary>The base URL of this member's HTTP API, as other members and clients reach it.</summary>
    public required string ApiUrl { get; init; }

    public string Name { get; init; } = "";

    /// <summary>Cold-start a one-member cluster when this member has no membership yet.</summary>
    public bool Bootstrap { get; init; }

    /// <summary>Lower and upper bounds of the randomised election timeout, in milliseconds.</summary>
    public int ElectionTimeoutLow { get; init; } = 150;

    public int ElectionTimeoutHigh { get; init; } = 300;

    /// <summary>Applied entries between snapshots; older log entries are dropped once a snapshot covers them.</summary>
    public int SnapshotEvery { get; init; } = 100_000;

    public int HistoryLimit { get; init; } = KvStore.DefaultHistoryLimit;

    /// <summary>The cluster's root, which other members' API certificates must chain to; null: plain HTTP (tests of the store alone).</summary>
    public ZeroCloud.Model.Pki.ClusterTrust? Trust { get; init; }

    /// <summary>
    /// This member's certificate for Raft's mutual TLS (looked up per handshake: it is renewed while running); null:
    /// Raft over plain TCP (tests of the store alone).
    /// </summary>
    public Func<System.Security.Cryptography.X509Certificates.X509Certificate2?>? Certificate { get; init; }

    /// <summary>Whether a Raft peer's certificate is a member certificate of this cluster (the check the silos use too).</summary>
    public Func<System.Security.Cryptography.X509Certificates.X509Certificate2, System.Security.Cryptography.X509Certificates.X509Chain?, bool>? IsMember { get; init; }

    /// <summary>An HTTP handler for this member's calls to other members: trusting only the cluster's root when there is one, presenting this member's certificate.</summary>
    public HttpMessageHandler PeerHandler() => Trust?.Handler(Certificate) ?? new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30), UseProxy = false, UseCookies = false, AllowAutoRedirect = false, ConnectTimeout = TimeSpan.FromSeconds(5) };

    /// <summary>Bytes the store's keys and values may take; a write that would add past this is refused (deletes always pass).</summary>
    public long QuotaBytes { get; init; } = KvStore.DefaultQuotaBytes;
}

/// <summary>Why a proposal could not be committed here: this member is not the leader (the caller forwards).</summary>
public sealed class NotLeaderException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A proposal was handed to Raft and its fate is not known here: the next leader may or may not commit it.</summary>
public sealed class OutcomeUnknownException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// This member's log could not be written (<see cref="NoSpace"/>: its disk is full). The write was not acknowledged; in
/// a cluster of several members another may still commit it. The member stays up and reopens its log once it can.
/// </summary>
public sealed class LogWriteException(string message, bool noSpace, Exception? inner = null) : Exception(message, inner)
{
    public bool NoSpace { get; } = noSpace;
}

/// <summary>A linearizable read point could not be had: no leader, or it did not answer or confirm its leadership.</summary>
public sealed class ReadBarrierException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A member of the cluster as the API lists it.</summary>
public sealed record MemberView(string Id, string? Name, string? Api, ZeroCloud.Model.Api.MemberStatus Status, bool IsLeader, bool IsSelf);

/// <summary>
/// One control-plane member: DotNext's Raft (TCP transport, pre-vote, persistent write-ahead log and membership)
/// around the <see cref="KvStateMachine"/>. Proposals are committed on a majority, applied, and flushed to this
/// member's disk before they are acknowledged.
/// </summary>
public sealed partial class ControlNode : IAsyncDisposable
{
    private readonly ControlNodeOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _membership = new(1, 1);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, IReadOnlyDictionary<string, string>> _metadata = new(StringComparer.Ordinal);
    private KvStateMachine? _machine;
    private WriteAheadLog? _wal;
    private RaftCluster? _cluster;
    private readonly HttpClient _http;

    public ControlNode(ControlNodeOptions options, ILoggerFactory loggerFactory)
    {
        _options = options;
        _http = new HttpClient(options.PeerHandler()) { Timeout = TimeSpan.FromSeconds(5) };
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<ControlNode>();
    }

    public ControlNodeOptions Options => _options;

    /// <summary>
    /// Mutual TLS 1.3 between members: each side presents its member certificate and accepts only a member
    /// certificate of this cluster (chained to its root, <c>urn:zerocloud:member:…</c>). A peer of another cluster, or
    /// anything that is not a member, fails the handshake before a Raft message is read; the handshake must finish
    /// within the request timeout, so an idle connection holds nothing for long. Null without a certificate.
    /// </summary>
    private DotNext.Net.Security.SslOptions? RaftTls()
    {
        if (_options.IsMember is not { } isMember || _options.Certificate is not { } certificate)
        {
            return null;
        }

        bool IsMember(System.Security.Cryptography.X509Certificates.X509Certificate? presented, System.Security.Cryptography.X509Certificates.X509Chain? chain)
        {
            if (presented is null)
            {
                return false;
            }

            using var leaf = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(presented.GetRawCertData());
            if (!isMember(leaf, chain))
            {
                LogRaftPeerRefused($"{leaf.Subject} (issued by {leaf.Issuer}) is not a member certificate of this cluster");
                return false;
            }

            if (InConfiguration(ZeroCloud.Model.Pki.ClusterPki.RaftEndpointOf(leaf)) is { } outside)
            {
                LogRaftPeerRefused($"{leaf.Subject}: {outside}");
                return false;
            }

            return true;
        }

        return new DotNext.Net.Security.SslOptions
        {
            ServerOptions = new System.Net.Security.SslServerAuthenticationOptions
            {
                ServerCertificateSelectionCallback = (_, _) => certificate()!,
                ClientCertificateRequired = true,
                EnabledSslProtocols = ZeroCloud.Model.Pki.ClusterTrust.Protocols,
                RemoteCertificateValidationCallback = (_, presented, chain, _) => IsMember(presented, chain),
            },
            ClientOptions = new System.Net.Security.SslClientAuthenticationOptions
            {
                // Raft dials addresses, not names; the peer is checked by its cluster and its member identity.
                TargetHost = "",
                LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate()!,
                EnabledSslProtocols = ZeroCloud.Model.Pki.ClusterTrust.Protocols,
                RemoteCertificateValidationCallback = (_, presented, chain, _) => IsMember(presented, chain),
            },
        };
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "raft: refused a TLS peer: {Problem}")]
    private partial void LogRaftPeerRefused(string problem);

    /// <summary>
    /// The credential this member's own calls to other members carry (the read index, writes forwarded to the leader,
    /// asking to join): the admin credential a bootstrapped member made, or what it was started with (--token-file: the
    /// key of the node it runs on). Null until known.
    /// </summary>
    public string? Credential { get; set; }

    internal KvStateMachine Machine => _machine ?? throw new InvalidOperationException("the member is not started");

    private RaftCluster Cluster => _cluster ?? throw (_logProblem is { } problem
        ? new NotLeaderException($"this member is reopening its log after a write failure ({problem})")
        : new InvalidOperationException("the member is not started"));

    public string Id => Format(_options.RaftEndPoint);

    public bool IsLeader => _cluster is { } c && !c.LeadershipToken.IsCancellationRequested;

    /// <summary>
    /// True when this member is not in the configuration it holds: a fresh member waiting to be added, or one whose add
    /// caught it up (the log it received carries the others' configuration) but was never committed, e.g. because the
    /// leader changed during the add. Such a member asks again; before, the second kind counted as joined and stopped asking.
    /// </summary>
    public bool IsUnjoined => _cluster is { } c ? !c.Members.Any(m => Equals(m.EndPoint, _options.RaftEndPoint)) : _logProblem is null && !Cluster.Members.Any(m => Equals(m.EndPoint, _options.RaftEndPoint));

    public long Term => _cluster?.Term ?? (_logProblem is null ? Cluster.Term : 0);

    /// <summary>Why this member's log is being reopened (a write to it failed); null while it works.</summary>
    public string? LogProblem => _logProblem;

    public long CommitIndex => _wal?.LastCommittedEntryIndex ?? 0;

    public long LastIndex => _wal?.LastEntryIndex ?? 0;

    public long SnapshotIndex => Machine.SnapshotIndex;

    public string Role => _cluster switch
    {
        null when _logProblem is not null => "log-failed",
        null => "stopped",
        { Standby: true } => "standby",
        var c when !c.LeadershipToken.IsCancellationRequested => "leader",
        { Members.Count: 0 } => "unjoined",
        var c when c.Leader is not null => "follower",
        _ => "candidate",
    };

    /// <summary>Whether <paramref name="dataDirectory"/> holds a log (its format is recorded when one is made): false for a new or wiped member.</summary>
    public static bool HasLog(string dataDirectory) => File.Exists(Path.Combine(Path.GetFullPath(dataDirectory), WalFormat.FileName));

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var root = Path.GetFullPath(_options.DataDirectory);
        // The log and snapshots hold every secret of the cluster: the folder is the owner's only (0700), also
        // when it existed before with wider rights.
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(root);
        }
        else
        {
            Directory.CreateDirectory(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            File.SetUnixFileMode(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        // The log's options cannot change under an existing log: checked (or recorded, for a new one) before it is opened.
        var walOptions = _walOptions = WalFormat.Check(root);
        _root = root;
        _machine = new KvStateMachine(new DirectoryInfo(Path.Combine(root, "snapshots")), _options.SnapshotEvery, _options.HistoryLimit, _loggerFactory.CreateLogger<KvStateMachine>());
        try
        {
            await _machine.RestoreAsync(cancellationToken).ConfigureAwait(false);
            // DotNext 6.12's WAL flushes entries to disk before it advances the commit index (a checkpoint on every
            // commit), so a proposal that has been applied on the leader is on a majority's logs and on the leader's disk.
            _wal = new VoteRecordingLog(walOptions, _machine, root);
            // With an integrity hash, InitializeAsync re-hashes every entry after the snapshot before it applies them.
            await _wal.InitializeAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (WalFormat.Damage(ex, root) is { } damage)
        {
            throw new DamagedStateException(damage, ex);
        }

        await StartRaftAsync(cancellationToken).ConfigureAwait(false);
        LogStarted(Id, _options.ApiUrl, Cluster.Members.Count, _machine.Read(s => s.Revision));
        _watchdog = Task.Run(() => WatchLogAsync(_stopping.Token), CancellationToken.None);
    }

    /// <summary>DotNext's Raft node over the current log (at start, and again after the log was reopened).</summary>
    private async Task StartRaftAsync(CancellationToken cancellationToken)
    {
        var configuration = new RaftCluster.TcpConfiguration(_options.RaftEndPoint)
        {
            ColdStart = _options.Bootstrap,
            ConfigurationStorage = new MembershipFile(Path.Combine(_root, "members")),
            LowerElectionTimeout = _options.ElectionTimeoutLow,
            UpperElectionTimeout = _options.ElectionTimeoutHigh,
            // Long enough for a snapshot to be sent and installed on a busy machine: when an InstallSnapshot request
            // times out on the leader after the follower has installed it, DotNext 6.12 never gets that follower
            // back (every retry is refused and the follower campaigns forever), seen under CPU load in tests.
            RequestTimeout = TimeSpan.FromSeconds(5),
            // DotNext's connect timeout covers the TCP connect and the TLS handshake. At the lower election timeout
            // (150 ms) a handshake with a member that has just started (cold code, a loaded machine) was cut short
            // again and again (seen in CI: the new member's side logged "unexpected EOF" and the two-member cluster
            // had no leader for over 20 s). The leader's replication to each member runs on its own and a round
            // completes at a majority, and votes are cut at the candidate's timeout, so a longer connect only delays
            // the member it is for.
            ConnectTimeout = TimeSpan.FromMilliseconds(Math.Max(_options.ElectionTimeoutLow, ConnectTimeoutFloorMs)),
            TransmissionBlockSize = 65536,
            // Reads confirm the leadership by the lease (a majority answered within the lower election timeout)
            // instead of a replication round per read; see ReadIndexAsync.
            IsLeaderLeaseEnabled = true,
            LoggerFactory = _loggerFactory,
            SslOptions = RaftTls(),
        };
        configuration.Metadata[MetadataApi] = _options.ApiUrl;
        configuration.Metadata[MetadataName] = _options.Name;
        var cluster = new RaftCluster(configuration) { AuditTrail = _wal ?? throw new InvalidOperationException("the log is not open") };
        cluster.LeaderChanged += OnLeaderChanged;
        _cluster = cluster;
        await cluster.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The least time a Raft connection (TCP and TLS) gets, whatever the election timeout.</summary>
    public const int ConnectTimeoutFloorMs = 1000;

    private WriteAheadLog.Options? _walOptions;
    private string _root = "";
    private volatile string? _logProblem;
    private int _reopening;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _watchdog;

    /// <summary>Free bytes the log's filesystem needs before a failed log is reopened: two chunks and a margin.</summary>
    private long RoomToReopen => (2L * (_walOptions?.ChunkSize ?? WalFormat.Current.ChunkSize)) + (1L << 20);

    /// <summary>
    /// Every second: has this member's log failed (a flush that hit a full disk, an I/O error)? DotNext's log stays
    /// failed once a background write failed, also when the disk has room again; a follower's failure shows nowhere
    /// else (the leader only sees it stop answering). A failed log is reopened (<see cref="ReopenLogAsync"/>).
    /// </summary>
    private async Task WatchLogAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), stopping).ConfigureAwait(false);
                if (_wal is { } wal && Volatile.Read(ref _reopening) == 0)
                {
                    // Index 0 is always applied: this returns at once, or throws the log's failure.
                    await wal.WaitForApplyAsync(0, stopping).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (LogFailure(ex) is { } cause)
            {
                await ReopenLogAsync(cause).ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                // reopened or stopped meanwhile
            }
        }
    }

    /// <summary>
    /// The log's own failure behind <paramref name="ex"/> (thrown by a write, or by a wait the log interrupted when its
    /// background flush failed), or null when <paramref name="ex"/> is not one.
    /// </summary>
    private static Exception? LogFailure(Exception ex) => ex switch
    {
        DotNext.Threading.PendingTaskInterruptedException { Reason: Exception reason } => LogFailure(reason),
        WriteAheadLog.InternalException { InnerException: { } inner } => inner,
        WriteAheadLog.InternalException or IOException => ex,
        _ => null,
    };

    private static bool IsNoSpace(Exception ex) =>
        ex is IOException io && (io.HResult == 28 || io.HResult == unchecked((int)0x80070070) || io.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase))
        || (ex.InnerException is { } inner && IsNoSpace(inner));

    private static string Describe(Exception ex) => IsNoSpace(ex) ? $"the disk is full ({ex.Message})" : ex.Message;

    /// <summary>
    /// The log failed: Raft stops here (no vote, no append reaches the failed log), the log is closed, and once its
    /// filesystem has <see cref="RoomToReopen"/> free the log is opened again from disk and Raft starts again with the
    /// same identity and membership. Meanwhile writes through this member get 507 (a full disk) or 503, reads that
    /// need the leader 503; stale reads go on from the state machine, which keeps what it applied (entries the
    /// reopened log replays are not applied twice). One reopen at a time.
    /// </summary>
    private async Task ReopenLogAsync(Exception cause)
    {
        if (Interlocked.Exchange(ref _reopening, 1) == 1)
        {
            return;
        }

        try
        {
            _logProblem = Describe(cause);
            LogLogFailed(Id, _logProblem);
            await CloseRaftAsync().ConfigureAwait(false);
            var waited = System.Diagnostics.Stopwatch.StartNew();
            for (var attempt = 1; !_stopping.IsCancellationRequested; attempt++)
            {
                if (new DriveInfo(_walOptions!.Location).AvailableFreeSpace < RoomToReopen)
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), _stopping.Token).ConfigureAwait(false);
                    continue;
                }

                try
                {
                    var wal = new VoteRecordingLog(_walOptions, Machine, _root);
                    _wal = wal;
                    await wal.InitializeAsync(_stopping.Token).ConfigureAwait(false);
                    await StartRaftAsync(_stopping.Token).ConfigureAwait(false);
                    LogLogReopened(Id, attempt, waited.Elapsed.TotalSeconds, wal.LastCommittedEntryIndex);
                    _logProblem = null;
                    return;
                }
#pragma warning disable CA1031 // whatever the reopen throws, the member stays up and tries again
                catch (Exception ex) when (ex is not OperationCanceledException)
#pragma warning restore CA1031
                {
                    await CloseRaftAsync().ConfigureAwait(false);
                    if (WalFormat.Damage(ex, _root) is { } damage)
                    {
                        // Damage found in the log as it was opened again: never served from. Raft stays stopped here
                        // and the host ends the member (exit 3), which recovers as at any start with damage.
                        _logProblem = damage;
                        LogLogDamaged(Id, damage);
                        Damaged?.Invoke(damage);
                        return;
                    }

                    _logProblem = Describe(ex);
                    LogLogReopenFailed(Id, _logProblem);
                    await Task.Delay(TimeSpan.FromSeconds(1), _stopping.Token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // stopping
        }
        finally
        {
            Volatile.Write(ref _reopening, 0);
        }
    }

    private async Task CloseRaftAsync()
    {
        if (Interlocked.Exchange(ref _cluster, null) is { } cluster)
        {
            cluster.LeaderChanged -= OnLeaderChanged;
            try
            {
                await cluster.StopAsync(CancellationToken.None).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // a Raft node over a failed log may fail to stop cleanly; it is dropped either way
            catch (Exception ex) when (ex is not OperationCanceledException)
#pragma warning restore CA1031
            {
                LogLogReopenFailed(Id, $"stopping Raft: {ex.Message}");
            }

            await cluster.DisposeAsync().ConfigureAwait(false);
        }

        if (Interlocked.Exchange(ref _wal, null) is { } wal)
        {
            try
            {
                await wal.DisposeAsync().ConfigureAwait(false);
            }
#pragma warning disable CA1031 // a failed log may fail to close cleanly; it is reopened from disk either way
            catch (Exception ex) when (ex is not OperationCanceledException)
#pragma warning restore CA1031
            {
                LogLogReopenFailed(Id, $"closing the log: {ex.Message}");
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "member {Id}: its log could not be written: {Problem}; Raft stops here until the log is reopened (writes get 507/503 meanwhile)")]
    private partial void LogLogFailed(string id, string problem);

    /// <summary>Raised when the log, opened again after a write failure, turned out damaged: the member must not serve from it.</summary>
    public event Action<string>? Damaged;

    [LoggerMessage(Level = LogLevel.Critical, Message = "member {Id}: its log is damaged: {Problem}; it stops serving")]
    private partial void LogLogDamaged(string id, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "member {Id}: reopening the log failed: {Problem}; trying again")]
    private partial void LogLogReopenFailed(string id, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "member {Id}: log reopened (attempt {Attempt}, {Seconds:0.0} s after the failure), committed to {Index}; Raft runs again")]
    private partial void LogLogReopened(string id, int attempt, double seconds, long index);

    private const string MetadataApi = "zc.api";
    private const string MetadataName = "zc.name";

    private void OnLeaderChanged(ICluster cluster, IClusterMember? leader)
    {
        if (leader is null)
        {
            LogNoLeader(Id);
        }
        else
        {
            LogLeader(Format(leader.EndPoint), Term);
        }
    }

    /// <summary>
    /// Commits <paramref name="txn"/> through Raft and returns its outcome once it is committed (on a majority's logs,
    /// and flushed to this member's disk by the WAL before it commits) and applied here. Throws <see cref="NotLeaderException"/> when this member is not (or stops being) the leader.
    /// </summary>
    public async Task<TxnResult> ProposeAsync(KvTxn txn, CancellationToken cancellationToken)
    {
        var cluster = Cluster;
        if (cluster.LeadershipToken.IsCancellationRequested)
        {
            throw new NotLeaderException("this member is not the leader");
        }

        var context = new ApplyContext();
        var payload = txn.Encode();
        try
        {
            await cluster.ReplicateAsync(new BinaryLogEntry { Content = payload, Term = cluster.Term, Context = context }, cancellationToken).ConfigureAwait(false);
        }
        catch (DotNext.Net.Cluster.Consensus.Raft.NotLeaderException ex)
        {
            throw new OutcomeUnknownException("leadership was lost while the write was being replicated; it may or may not have been committed", ex);
        }
        catch (Exception ex) when (LogFailure(ex) is { } cause)
        {
            _ = Task.Run(() => ReopenLogAsync(cause), CancellationToken.None);
            throw new LogWriteException($"member {Id} could not write its log: {Describe(cause)}", IsNoSpace(cause), ex);
        }

        return context.Result ?? throw new InvalidOperationException("the entry was committed but its result was not recorded");
    }

    /// <summary>
    /// Waits until this member has applied everything committed before the call: a linearizable read point.
    /// On the leader: its read index (<see cref="ReadIndexAsync"/>). On a follower: the leader's read index, asked over
    /// its API (<c>GET /v1/read-index</c>), then until this member has applied that far. DotNext's own follower barrier
    /// takes the leader's commit index even before that leader has committed an entry of its own term, which can be
    /// older than a write an earlier leader already acknowledged (seen by the linearizability checker); this one cannot.
    /// Throws <see cref="ReadBarrierException"/> when there is no read point (no leader, no quorum, no answer), so
    /// the API answers 503, never 500.
    /// </summary>
    public async Task ReadBarrierAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (IsLeader)
            {
                try
                {
                    await ReadIndexAsync(cancellationToken).ConfigureAwait(false);
                    return;
                }
                catch (NotLeaderException) when (attempt < 3)
                {
                    continue;
                }
                catch (NotLeaderException ex)
                {
                    throw new ReadBarrierException($"the leadership moved during the read ({ex.Message})", ex);
                }
            }

            var leader = await LeaderApiAsync(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false)
                ?? throw new ReadBarrierException("no leader is known to this member");
            if (leader == _options.ApiUrl)
            {
                // This member was elected between the two checks (or just lost it): look again once the transition
                // has had a moment to settle (up to about 2 s in all; seen failing a `zc get` right after a voter moved).
                if (attempt < 8)
                {
                    await Task.Delay(50 * (attempt + 1), cancellationToken).ConfigureAwait(false);
                    continue;
                }

                throw new ReadBarrierException("this member's own leadership is not settled");
            }

            long index;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, leader.TrimEnd('/') + "/v1/read-index");
                request.Headers.TryAddWithoutValidation(ZeroCloud.Model.Api.ControlClient.ForwardedHeader, Id);
                if (Credential is { } credential && _options.Certificate?.Invoke() is null)
                {
                    request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", credential);
                }

                using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
                var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode || !long.TryParse(body.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out index))
                {
                    if (attempt < 3)
                    {
                        await Task.Delay(50, cancellationToken).ConfigureAwait(false);
                        continue;
                    }

                    throw new ReadBarrierException($"the leader at {leader} gave no read index ({(int)response.StatusCode})");
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                throw new ReadBarrierException($"the leader at {leader} did not answer ({ex.Message})", ex);
            }

            await Wal.WaitForApplyAsync(index, cancellationToken).ConfigureAwait(false);
            return;
        }
    }

    /// <summary>
    /// The leader's read index (<c>GET /v1/read-index</c>): its commit index once
    /// <list type="bullet">
    /// <item>an entry of its own term is committed and applied (DotNext's weak barrier waits for the empty entry a new
    /// leader appends, so the index covers every write an earlier leader acknowledged), and</item>
    /// <item>its leadership is confirmed by DotNext's leader lease (a majority answered within the last lower election
    /// timeout divided by the clock-drift bound, so no other leader can have been elected since), unless it is the
    /// only member.</item>
    /// </list>
    /// No replication round is started per read: a round waits on every member, dead ones to their request timeout.
    /// Throws <see cref="NotLeaderException"/> on a member that does not lead, <see cref="ReadBarrierException"/> when
    /// the leadership cannot be confirmed.
    /// </summary>
    public async Task<long> ReadIndexAsync(CancellationToken cancellationToken)
    {
        if (!IsLeader)
        {
            throw new NotLeaderException("this member is not the leader");
        }

        var term = Term;
        try
        {
            await ((IRaftCluster)Cluster).ApplyReadBarrierAsync(ReadBarrierType.Weak, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is QuorumUnreachableException or DotNext.Net.Cluster.Consensus.Raft.NotLeaderException or InvalidOperationException)
        {
            throw new ReadBarrierException($"this member could not commit an entry of its term ({ex.Message})", ex);
        }

        // The lease is renewed on every heartbeat round a majority answers. On a busy machine a round can take longer
        // than an election timeout (seen: a 300 ms wait refused `zc storage status` while two test suites ran), so wait
        // for one up to a few election timeouts and at least 2 s; a leader cut off from its majority steps down before
        // that (DotNext downgrades it when a round fails), which ends the wait as lost leadership, not as a refusal.
        // A member that is the only voter is its own majority.
        var wait = Math.Max(2000, 4 * _options.ElectionTimeoutHigh);
        var deadline = Environment.TickCount64 + wait;
        while (Cluster.Members.Count > 1 && !(Cluster.TryGetLeaseToken(out var lease) && !lease.IsCancellationRequested))
        {
            if (!IsLeader || Term != term)
            {
                throw new NotLeaderException("leadership was lost during the read");
            }

            if (Environment.TickCount64 > deadline)
            {
                throw new ReadBarrierException($"this leader has not heard from a majority within {wait} ms");
            }

            await Task.Delay(5, cancellationToken).ConfigureAwait(false);
        }

        var index = CommitIndex;
        if (!IsLeader || Term != term)
        {
            throw new NotLeaderException("leadership was lost during the read");
        }

        return index;
    }

    /// <summary>Why <paramref name="txn"/> may not be proposed because of the store's byte quota, or null.</summary>
    public string? QuotaProblem(KvTxn txn)
    {
        var (now, after) = Machine.Read(s => (s.Bytes, s.BytesAfter(txn)));
        return after > _options.QuotaBytes && after > now
            ? $"the store's quota of {_options.QuotaBytes} bytes would be exceeded ({now} bytes used, {after} after this write); delete keys to make room"
            : null;
    }

    private WriteAheadLog Wal => _wal ?? throw new InvalidOperationException("the member is not started");

    public T Read<T>(Func<KvStore, T> read) => Machine.Read(read);

    /// <summary>The leader's API URL, waiting up to <paramref name="wait"/> for one to be elected; null when none.</summary>
    public async Task<string?> LeaderApiAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        var cluster = Cluster;
        var leader = cluster.Leader;
        if (leader is null)
        {
            try
            {
                leader = await cluster.WaitForLeaderAsync(wait, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return null;
            }
        }

        if (!leader.IsRemote)
        {
            return _options.ApiUrl;
        }

        try
        {
            var metadata = await ((IClusterMember)leader).GetMetadataAsync(false, cancellationToken).ConfigureAwait(false);
            return metadata.GetValueOrDefault(MetadataApi);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    public async Task<IReadOnlyList<MemberView>> MembersAsync(CancellationToken cancellationToken)
    {
        if (_cluster is null && _logProblem is not null)
        {
            return []; // Raft is stopped here while the log is reopened: this member knows of no one now
        }

        var cluster = Cluster;
        var leader = cluster.Leader;
        var views = new List<MemberView>();
        foreach (var member in cluster.Members)
        {
            IReadOnlyDictionary<string, string>? metadata = null;
            if (!member.IsRemote)
            {
                metadata = new Dictionary<string, string> { [MetadataApi] = _options.ApiUrl, [MetadataName] = _options.Name };
            }
            else if (member.Status != ClusterMemberStatus.Unavailable)
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(1));
                try
                {
                    metadata = await ((IClusterMember)member).GetMetadataAsync(false, timeout.Token).ConfigureAwait(false);
                    _metadata[Format(member.EndPoint)] = metadata;
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    metadata = null;
                }
            }

            // A member that is down keeps the name and API it had when it was last seen.
            metadata ??= _metadata.GetValueOrDefault(Format(member.EndPoint));

            views.Add(new MemberView(
                Format(member.EndPoint),
                metadata?.GetValueOrDefault(MetadataName) is { Length: > 0 } name ? name : null,
                metadata?.GetValueOrDefault(MetadataApi),
                member.IsRemote ? member.Status switch { ClusterMemberStatus.Available => ZeroCloud.Model.Api.MemberStatus.Available, ClusterMemberStatus.Unavailable => ZeroCloud.Model.Api.MemberStatus.Unavailable, _ => ZeroCloud.Model.Api.MemberStatus.Unknown } : ZeroCloud.Model.Api.MemberStatus.Available,
                leader is not null && Equals(leader.EndPoint, member.EndPoint),
                !member.IsRemote));
        }

        return [.. views.OrderBy(v => v.Id, StringComparer.Ordinal)];
    }

    /// <summary>
    /// Adds a member (leader only): DotNext catches it up, then commits the new membership. One change at a time. While
    /// it is caught up the new member is pending: its Raft connections are accepted before it is in the configuration.
    /// </summary>
    public async Task<bool> AddMemberAsync(IPEndPoint address, CancellationToken cancellationToken)
    {
        var pending = Format(address);
        _pendingPeers[pending] = 0;
        try
        {
            return await ChangeMembershipAsync(c => c.AddMemberAsync(address, cancellationToken), () => HasMember(address), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _pendingPeers.TryRemove(pending, out _);
        }
    }

    /// <summary>The members being added by this leader, by Raft endpoint.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _pendingPeers = new(StringComparer.Ordinal);

    /// <summary>
    /// Null when a Raft peer whose member certificate names <paramref name="raft"/> may talk to this member: it is in
    /// the current configuration or being added by this leader, or this member has not joined any configuration yet
    /// (it accepts any member of its cluster, which is how it is caught up). Else why not: a removed member, or a
    /// certificate of this cluster for a member that never joined, is refused at the handshake.
    /// </summary>
    private string? InConfiguration(string? raft)
    {
        var members = _cluster?.Members;
        if (members is null || members.Count == 0)
        {
            return null;
        }

        if (raft is null)
        {
            return "its certificate names no Raft endpoint";
        }

        return _pendingPeers.ContainsKey(raft) || members.Any(m => Format(m.EndPoint) == raft)
            ? null
            : $"raft {raft} is not in this cluster's configuration ({string.Join(", ", members.Select(m => Format(m.EndPoint)).Order(StringComparer.Ordinal))})";
    }

    public Task<bool> RemoveMemberAsync(IPEndPoint address, CancellationToken cancellationToken) =>
        ChangeMembershipAsync(c => c.RemoveMemberAsync(address, cancellationToken), () => !HasMember(address), cancellationToken);

    private async Task<bool> ChangeMembershipAsync(Func<RaftCluster, Task<bool>> change, Func<bool> visible, CancellationToken cancellationToken)
    {
        await _membership.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!await change(Cluster).ConfigureAwait(false))
            {
                return false;
            }

            // DotNext applies a committed membership to its member list from a background loop: wait for it, so
            // the caller (and the next change) sees the new membership.
            for (var i = 0; i < 100 && !visible(); i++)
            {
                await Task.Delay(20, cancellationToken).ConfigureAwait(false);
            }

            return true;
        }
        catch (DotNext.Net.Cluster.Consensus.Raft.NotLeaderException ex)
        {
            throw new NotLeaderException("this member is not the leader", ex);
        }
        finally
        {
            _membership.Release();
        }
    }

    public bool HasMember(IPEndPoint address) => Cluster.Members.Any(m => Equals(m.EndPoint, address));

    private int _disposed;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return; // the host disposes its services more than once
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_watchdog is { } watchdog)
        {
            await watchdog.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        if (_cluster is { } cluster)
        {
            cluster.LeaderChanged -= OnLeaderChanged;
            await cluster.StopAsync(CancellationToken.None).ConfigureAwait(false);
            await cluster.DisposeAsync().ConfigureAwait(false);
            _cluster = null;
        }

        if (_wal is { } wal)
        {
            await wal.DisposeAsync().ConfigureAwait(false);
            _wal = null;
        }

        if (_machine is { } machine)
        {
            await machine.DisposeAsync().ConfigureAwait(false);
        }

        _membership.Dispose();
        _http.Dispose();
        _stopping.Dispose();

    }

    public static string Format(EndPoint endPoint) => endPoint switch
    {
        IPEndPoint ip => $"{ip.Address}:{ip.Port}",
        _ => endPoint.ToString() ?? "",
    };

    /// <summary>The membership, kept in a file so a restarted member knows its cluster.</summary>
    private sealed class MembershipFile(string path) : PersistentClusterConfigurationStorage<EndPoint>(path)
    {
        protected override void Encode(EndPoint address, ref BufferWriterSlim<byte> writer) => writer.WriteEndPoint(address);

        protected override EndPoint Decode(ref SequenceReader reader) => reader.ReadEndPoint();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "member {Id} started (api {Api}); {Members} members known; revision {Revision}")]
    private partial void LogStarted(string id, string api, int members, long revision);

    [LoggerMessage(Level = LogLevel.Information, Message = "leader is {Leader} (term {Term})")]
    private partial void LogLeader(string leader, long term);

    [LoggerMessage(Level = LogLevel.Warning, Message = "member {Id} sees no leader")]
    private partial void LogNoLeader(string id);
}
