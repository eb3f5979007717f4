using System.Net;
using System.Runtime.CompilerServices;
using System.Text;
using ZeroCloud.Cluster.Api;
using ZeroCloud.Cluster.Raft;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Cluster.Store;

/// <summary>
/// The store as code inside a control member sees it (grains, the Orleans membership table, grain storage, the
/// bootstrap token): reads through the member's own read barrier and copy, writes proposed on the member itself
/// when it leads, and sent in one hop to the leader's API when it follows (DotNext's TCP transport carries only
/// Raft messages). Never a request to its own process.
/// </summary>
public sealed class LocalStore : IControlStore, IDisposable
{
    private static readonly TimeSpan ProposalTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan BarrierTimeout = TimeSpan.FromSeconds(5);
    private readonly ControlNode _node;
    private HttpClient? _leaderHttp;

    private HttpClient LeaderHttp => _leaderHttp ??= new HttpClient(_node.Options.PeerHandler()) { Timeout = TimeSpan.FromSeconds(30) };

    public LocalStore(ControlNode node) => _node = node;

    /// <summary>The status this member reports, built by the API (it knows the silos' rows).</summary>
    internal Func<CancellationToken, Task<StatusResponse>>? Status { get; set; }

    public async Task<KvDto?> GetAsync(string key, bool stale = false, CancellationToken ct = default)
    {
        if (KvStore.KeyProblem(key) is { } problem)
        {
            throw new ControlApiException(400, ErrorCodes.InvalidKey, problem);
        }

        await BarrierAsync(stale, ct).ConfigureAwait(false);
        return _node.Read(s => s.Get(key)) is { } kv ? ToDto(kv) : null;
    }

    public async Task<RangeResponse> RangeAsync(string prefix, bool stale = false, int limit = 0, CancellationToken ct = default)
    {
        await BarrierAsync(stale, ct).ConfigureAwait(false);
        var (revision, kvs) = _node.Read(s => (s.Revision, s.Range(prefix, limit)));
        return new RangeResponse(revision, [.. kvs.Select(ToDto)]);
    }

    public async Task<WriteResponse> PutAsync(string key, string value, long? ifModRevision = null, CancellationToken ct = default)
    {
        List<Compare> compares = ifModRevision is { } rev ? [new Compare(key, CompareTarget.ModRevision, CompareOp.Equal, rev)] : [];
        var txn = new KvTxn(compares, [new PutOp(key, Encoding.UTF8.GetBytes(value))], []);
        var result = await CommitAsync(txn, leader => leader.PutAsync(key, value, ifModRevision, ct), ct).ConfigureAwait(false);
        if (result.Forwarded is { } forwarded)
        {
            return forwarded;
        }

        if (!result.Local!.Succeeded)
        {
            throw new ControlApiException(409, ErrorCodes.RevisionMismatch, $"\"{key}\" is not at revision {ifModRevision}; nothing was written (store at revision {result.Local.Revision})");
        }

        return new WriteResponse(result.Local.Revision, true, result.Local.Events.Count);
    }

    public async Task<WriteResponse> DeleteAsync(string key, bool prefix = false, CancellationToken ct = default)
    {
        var result = await CommitAsync(KvTxn.Delete(key, prefix), leader => leader.DeleteAsync(key, prefix, ct), ct).ConfigureAwait(false);
        return result.Forwarded ?? new WriteResponse(result.Local!.Revision, true, result.Local.Events.Count);
    }

    public async Task<TxnResponse> TxnAsync(TxnRequest txn, CancellationToken ct = default)
    {
        if (TxnMapper.ToTxn(txn, out var problem) is not { } mapped)
        {
            throw new ControlApiException(400, ErrorCodes.InvalidTxn, problem);
        }

        var result = await CommitAsync(mapped, leader => leader.TxnAsync(txn, ct), ct).ConfigureAwait(false);
        return result.Forwarded ?? new TxnResponse(result.Local!.Succeeded, result.Local.Revision, [.. result.Local.Events.Select(ControlApi.ToDto)]);
    }

    public async IAsyncEnumerable<EventDto> WatchAsync(string prefix, long fromRevision, [EnumeratorCancellation] CancellationToken ct = default)
    {
        KvStateMachine.Watcher watcher;
        try
        {
            watcher = _node.Machine.Watch(prefix, fromRevision);
        }
        catch (CompactedException ex)
        {
            throw new ControlApiException(410, ErrorCodes.Compacted, ex.Message);
        }

        using (watcher)
        {
            var reader = watcher.Events;
            while (true)
            {
                try
                {
                    if (!await reader.WaitToReadAsync(ct).ConfigureAwait(false))
                    {
                        yield break;
                    }
                }
                catch (Exception ex) when (ex is InvalidOperationException or CompactedException)
                {
                    throw new ControlApiException(200, ex is CompactedException ? ErrorCodes.Compacted : ErrorCodes.WatchLagging, ex.Message);
                }

                while (reader.TryRead(out var e))
                {
                    yield return ControlApi.ToDto(e);
                }
            }
        }
    }

    public async Task<MembersResponse> MembersAsync(CancellationToken ct = default) =>
        new([.. (await _node.MembersAsync(ct).ConfigureAwait(false)).Select(ControlApi.ToDto)]);

    public async Task<MembersResponse> RemoveMemberAsync(string id, CancellationToken ct = default)
    {
        if (!_node.IsLeader)
        {
            using var leader = await LeaderAsync(ct).ConfigureAwait(false);
            return await leader.RemoveMemberAsync(id, ct).ConfigureAwait(false);
        }

        var members = await _node.MembersAsync(ct).ConfigureAwait(false);
        var member = members.FirstOrDefault(m => m.Id == id) ?? members.FirstOrDefault(m => m.Name == id);
        if (member is null || !IPEndPoint.TryParse(member.Id, out var address))
        {
            throw new ControlApiException(404, ErrorCodes.MemberNotFound, $"no member \"{id}\" (members: {string.Join(", ", members.Select(m => m.Id))})");
        }

        if (members.Count == 1)
        {
            throw new ControlApiException(409, ErrorCodes.LastMember, "the last member cannot be removed");
        }

        bool removed;
        try
        {
            removed = await _node.RemoveMemberAsync(address, ct).ConfigureAwait(false);
        }
        catch (NotLeaderException ex)
        {
            throw new ControlApiException(503, ErrorCodes.LeaderChanged, $"{ex.Message}; retry");
        }

        if (!removed)
        {
            throw new ControlApiException(503, ErrorCodes.MemberNotRemoved, $"the removal of {member.Id} could not be committed; retry");
        }

        return await MembersAsync(ct).ConfigureAwait(false);
    }

    public Task<StatusResponse> StatusAsync(CancellationToken ct = default) =>
        (Status ?? throw new InvalidOperationException("the member's status is not wired"))(ct);

    public void Dispose() => _leaderHttp?.Dispose();

    private async Task BarrierAsync(bool stale, CancellationToken ct)
    {
        if (stale)
        {
            return;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(BarrierTimeout);
        try
        {
            await _node.ReadBarrierAsync(timeout.Token).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // whatever stops the barrier, the read is refused the same way
        catch (Exception ex) when (!ct.IsCancellationRequested)
#pragma warning restore CA1031
        {
            throw new ControlApiException(503, ErrorCodes.NoQuorum, $"a linearizable read needs the leader and a majority ({(ex is OperationCanceledException ? "none answered within 5s" : ex.Message)})");
        }
    }

    /// <summary>Proposes <paramref name="txn"/> here when this member leads, else sends it to the leader's API once.</summary>
    private async Task<(TxnResult? Local, T? Forwarded)> CommitAsync<T>(KvTxn txn, Func<ControlClient, Task<T>> forward, CancellationToken ct)
        where T : class
    {
        if (KvStore.Validate(txn) is { } problem)
        {
            throw KvStore.IsTooLarge(txn) ? new ControlApiException(413, ErrorCodes.ValueTooLarge, problem) : new ControlApiException(400, ErrorCodes.InvalidRequest, problem);
        }

        if (_node.IsLeader)
        {
            if (_node.QuotaProblem(txn) is { } quota)
            {
                throw new ControlApiException(507, ErrorCodes.QuotaExceeded, quota);
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(ProposalTimeout);
            try
            {
                return (await _node.ProposeAsync(txn, timeout.Token).ConfigureAwait(false), null);
            }
            catch (NotLeaderException)
            {
                // lost the lead before proposing: nothing was written, the new leader takes it
            }
            catch (OutcomeUnknownException ex)
            {
                throw new ControlApiException(503, ErrorCodes.OutcomeUnknown, $"{ex.Message}; read before retrying");
            }
            catch (LogWriteException ex)
            {
                throw new ControlApiException(ex.NoSpace ? 507 : 503, ErrorCodes.LogWriteFailed, $"{ex.Message}; the write was not acknowledged: read before retrying");
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new ControlApiException(504, ErrorCodes.OutcomeUnknown, $"the write did not commit within {ProposalTimeout.TotalSeconds:0}s (is a majority of members up?); it may or may not be committed later: read before retrying");
            }
        }

        using var leader = await LeaderAsync(ct).ConfigureAwait(false);
        return (null, await forward(leader).ConfigureAwait(false));
    }

    private async Task<ControlClient> LeaderAsync(CancellationToken ct)
    {
        var leader = await _node.LeaderApiAsync(TimeSpan.FromSeconds(5), ct).ConfigureAwait(false);
        if (leader is null || leader == _node.Options.ApiUrl)
        {
            throw new ControlApiException(503, ErrorCodes.NoLeader, "no leader has been elected within 5s (is a majority of members up?); retry");
        }

        // A member with a certificate speaks as itself (a member of the configuration); its bearer credential (the key
        // of the node it runs on) would put it under that node's key rules, which refuse compares on credentials.
        return new ControlClient(new Uri(leader), LeaderHttp) { ForwardedBy = _node.Id, Token = _node.Options.Certificate?.Invoke() is null ? _node.Credential : null };
    }

    private static KvDto ToDto(KeyValue kv) => new(kv.Key, Encoding.UTF8.GetString(kv.Value), kv.CreateRevision, kv.ModRevision, kv.Version);
}
