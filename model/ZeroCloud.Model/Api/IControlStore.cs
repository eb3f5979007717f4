namespace ZeroCloud.Model.Api;

/// <summary>
/// The control plane's store and membership as its users inside and outside a member see them: get, range,
/// transactions, watches, members, status. <see cref="ControlClient"/> is the HTTP implementation (agents, dhcp,
/// the CLI); a control member's own grains, membership table and grain storage use an in-process one that reads
/// and proposes through the member itself and never calls its own process over HTTP. Failures are
/// <see cref="ControlApiException"/>s with the same status and code either way.
/// </summary>
public interface IControlStore
{
    /// <summary>A key's value, or null when there is no such key. Linearizable unless <paramref name="stale"/>.</summary>
    Task<KvDto?> GetAsync(string key, bool stale = false, CancellationToken ct = default);

    Task<RangeResponse> RangeAsync(string prefix, bool stale = false, int limit = 0, CancellationToken ct = default);

    Task<WriteResponse> PutAsync(string key, string value, long? ifModRevision = null, CancellationToken ct = default);

    Task<WriteResponse> DeleteAsync(string key, bool prefix = false, CancellationToken ct = default);

    Task<TxnResponse> TxnAsync(TxnRequest txn, CancellationToken ct = default);

    /// <summary>Changes under <paramref name="prefix"/> from <paramref name="fromRevision"/> (0: from now on).</summary>
    IAsyncEnumerable<EventDto> WatchAsync(string prefix, long fromRevision, CancellationToken ct = default);

    Task<MembersResponse> MembersAsync(CancellationToken ct = default);

    Task<MembersResponse> RemoveMemberAsync(string id, CancellationToken ct = default);

    Task<StatusResponse> StatusAsync(CancellationToken ct = default);
}
