namespace ZeroCloud.Model.Api;

/// <summary>
/// The control API's error codes, one set for the server and every client (<see cref="ControlApiException.Code"/>,
/// <see cref="ErrorResponse.Code"/>): code compares against these, never against message text.
/// </summary>
public static class ErrorCodes
{
    public const string BodyTooLarge = "body_too_large";

    public const string Compacted = "compacted";

    public const string GrainUnavailable = "grain_unavailable";

    public const string InvalidArgument = "invalid_argument";

    public const string InvalidJson = "invalid_json";

    public const string InvalidKey = "invalid_key";

    public const string InvalidName = "invalid_name";

    public const string InvalidRequest = "invalid_request";

    public const string InvalidToken = "invalid_token";

    /// <summary>No credential, or one this cluster does not know (401).</summary>
    public const string Unauthenticated = "unauthenticated";

    /// <summary>A known credential whose role may not do this (403).</summary>
    public const string Forbidden = "forbidden";

    public const string InvalidTxn = "invalid_txn";

    public const string KeyNotFound = "key_not_found";

    public const string LastMember = "last_member";

    /// <summary>Leadership moved before the request was proposed: nothing was written; retry.</summary>
    public const string LeaderChanged = "leader_changed";

    /// <summary>The leader could not be connected to: nothing was sent to it; retry.</summary>
    public const string LeaderUnreachable = "leader_unreachable";

    public const string MemberNotAdded = "member_not_added";

    public const string MemberNotFound = "member_not_found";

    public const string MemberNotRemoved = "member_not_removed";

    /// <summary>No leader is elected: nothing was written; retry.</summary>
    public const string NoLeader = "no_leader";

    /// <summary>A linearizable read could not be served (no leader or majority confirmed it); retry, or read with ?stale=true.</summary>
    public const string NoQuorum = "no_quorum";

    public const string NotEnrolled = "not_enrolled";

    public const string NotFound = "not_found";

    /// <summary>A forwarded request reached a member that is not the leader either: nothing was written; retry.</summary>
    public const string NotLeader = "not_leader";

    public const string RevisionMismatch = "revision_mismatch";

    public const string SiloNotReady = "silo_not_ready";

    /// <summary>The client's own deadline passed waiting for an answer: for a write, its outcome is unknown.</summary>
    public const string Timeout = "timeout";

    public const string TokenExists = "token_exists";

    /// <summary>The client could not reach the member at all.</summary>
    public const string Unreachable = "unreachable";

    public const string ValueTooLarge = "value_too_large";

    public const string WatchLagging = "watch_lagging";

    public const string InvalidSpec = "invalid_spec";

    public const string Empty = "empty";

    /// <summary>The write may or may not have been committed (the leader was lost or did not answer after the write was sent): read before retrying.</summary>
    public const string OutcomeUnknown = "outcome_unknown";

    /// <summary>The store's byte quota would be exceeded (etcd's "database space exceeded"): nothing was written; delete keys first.</summary>
    public const string QuotaExceeded = "quota_exceeded";

    /// <summary>The member's cap on watches (per client address or in all) is reached.</summary>
    public const string TooManyWatches = "too_many_watches";

    /// <summary>Only a Pending node (enroll: approve) can be approved.</summary>
    public const string NotPending = "not_pending";

    /// <summary>A rate limit for this identity (a node's heartbeats, a credential's tickets) is reached; retry after a second.</summary>
    public const string TooManyRequests = "too_many_requests";

    /// <summary>The member failed in a way it did not expect; the message names the exception (and the member's log has it whole).</summary>
    public const string Internal = "internal";

    /// <summary>A stored secret does not open with this cluster's key (altered, or sealed under another CA).</summary>
    public const string SecretUnreadable = "secret_unreadable";

    /// <summary>The store: fewer nodes than the wanted copies had room for a chunk (HTTP 507).</summary>
    public const string InsufficientStorage = "insufficient_storage";

    /// <summary>
    /// A member could not write its log (its disk is full: HTTP 507; another write error: 503). It stays up and reopens
    /// its log once it can; the write was not acknowledged and may or may not be committed by another member.
    /// </summary>
    public const string LogWriteFailed = "log_write_failed";

    /// <summary>The store: no live, verified copy of a chunk could be read.</summary>
    public const string ChunkUnavailable = "chunk_unavailable";

    /// <summary>The store: the upload ended before its declared length, or its digest was not the one it was sent as.</summary>
    public const string UploadIncomplete = "upload_incomplete";

    /// <summary>Nothing was written and asking again (the same or another member) may succeed.</summary>
    public static bool IsSafeToRetry(string code) => IsRefusedNothingDone(code) || code == GrainUnavailable;

    /// <summary>
    /// A refusal that says the request was not acted on at all and may be sent again as it is: no leader, the
    /// leadership moving, no quorum for a read, the silo not up yet (not a grain that did not answer in time, which
    /// may have acted).
    /// </summary>
    public static bool IsRefusedNothingDone(string code) =>
        code is LeaderChanged or LeaderUnreachable or NoLeader or NotLeader or NoQuorum or SiloNotReady;

    /// <summary>A write that may have happened: read what is there before trying it again.</summary>
    public static bool IsOutcomeUnknown(string code) => code is OutcomeUnknown or Timeout;
}
