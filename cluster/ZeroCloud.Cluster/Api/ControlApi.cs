using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;
using ZeroCloud.Cluster.Raft;
using ZeroCloud.Cluster.Store;
using ZeroCloud.Model.Api;
using static ZeroCloud.Cluster.Api.ApiResults;
namespace ZeroCloud.Cluster.Api;

/// <summary>
/// The control plane's HTTP/JSON API, served by every member, one endpoint group per resource (a partial file each):
/// kv and watch, members and status, spec (apply), nodes/instances/services, tokens; the node endpoints that go to
/// grains are mapped by the host that runs the silo (<c>ZeroCloud.Control</c>). Writes are leader-only: an endpoint
/// filter forwards them from a follower to the leader once (YARP's <see cref="IHttpForwarder"/>). Errors are JSON,
/// <c>{"code","message"}</c>, with a code from <see cref="ErrorCodes"/>.
/// </summary>
public sealed partial class ControlApi : IDisposable
{
    /// <summary>Set on forwarded requests, so a request is forwarded at most once.</summary>
    public const string ForwardedHeader = ControlClient.ForwardedHeader;

    /// <summary>The node a forwarding member vouches for (a caller it knew by its node certificate); believed from members only.</summary>
    public const string ForwardedNodeHeader = "X-ZC-Forwarded-Node";

    /// <summary>The key the applied cluster.yaml is stored under.</summary>
    public const string SpecKey = StoreKeys.Spec;

    /// <summary>The largest request body the API reads (Kestrel's limit is set to it).</summary>
    public const int MaxBodyBytes = ApiResults.MaxBodyBytes;

    private static readonly TimeSpan ProposalTimeout = TimeSpan.FromSeconds(15);

    private readonly ControlNode _node;
    private readonly IServiceProvider _services;
    private readonly ILogger _logger;
    private readonly IHttpForwarder _forwarder;
    private readonly HttpMessageInvoker _leaderClient;

    public ControlApi(ControlNode node, IServiceProvider services, IHttpForwarder forwarder, ILogger<ControlApi> logger)
    {
        _node = node;
        _leaderClient = new HttpMessageInvoker(node.Options.PeerHandler());
        _services = services;
        _forwarder = forwarder;
        _logger = logger;
    }

    /// <summary>Maps the API's endpoint groups onto the member's web application.</summary>
    public void Map(IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1");
        var kv = v1.MapGroup("/kv");
        kv.MapGet("/{**key}", GetKvAsync).Allow(Access.Read);
        kv.MapPut("/{**key}", PutKvAsync).AddEndpointFilter(LeaderOnlyAsync).Allow(Access.Write);
        kv.MapDelete("/{**key}", DeleteKvAsync).AddEndpointFilter(LeaderOnlyAsync).Allow(Access.Write);
        v1.MapPost("/txn", TxnAsync).AddEndpointFilter(LeaderOnlyAsync).Allow(Access.Write);
        v1.MapGet("/watch", WatchAsync).Allow(Access.Read);

        var members = v1.MapGroup("/members");
        members.MapGet("", GetMembersAsync).Allow(Access.Read);
        members.MapPost("", AddMemberAsync).AddEndpointFilter(LeaderOnlyAsync).Allow(Access.Member);
        members.MapDelete("/{id}", RemoveMemberAsync).AddEndpointFilter(LeaderOnlyAsync).Allow(Access.Member);
        v1.MapGet("/status", StatusAsync).Allow(Access.Public);
        v1.MapGet("/whoami", WhoAmIAsync).Allow(Access.Read);
        v1.MapGet("/read-index", ReadIndexAsync).Allow(Access.Read);
        v1.MapGet("/metrics", ctx => JsonAsync(ctx, 200, _services.GetRequiredService<ApiMetrics>().Snapshot(), ControlJsonContext.Default.MetricsResponse)).Allow(Access.Read);

        v1.MapPost("/apply", ApplyAsync).AddEndpointFilter(LeaderOnlyAsync).Allow(Access.Admin);
        v1.MapGet("/nodes", NodesAsync).Allow(Access.Read);
        v1.MapGet("/instances", InstancesAsync).Allow(Access.Read);
        v1.MapGet("/services", ServicesAsync).Allow(Access.Read);

        var tokens = v1.MapGroup("/tokens");
        tokens.MapGet("", TokensAsync).Allow(Access.Admin);
        tokens.MapPost("", CreateTokenAsync).AddEndpointFilter(LeaderOnlyAsync).Allow(Access.Admin);
        var operators = v1.MapGroup("/operators");
        operators.MapGet("", OperatorsAsync).Allow(Access.Admin);
        operators.MapPost("", CreateOperatorAsync).AddEndpointFilter(LeaderOnlyAsync).Allow(Access.Admin);
        operators.MapDelete("/{id}", RevokeOperatorAsync).AddEndpointFilter(LeaderOnlyAsync).Allow(Access.Admin);
        v1.MapPost("/tickets", CreateTicketAsync).AddEndpointFilter(LeaderOnlyAsync).RequireRateLimiting(NodeRateLimits.Tickets).Allow(Access.Enroll);
        v1.MapGet("/audit", AuditLogAsync).Allow(Access.Admin);
        v1.MapGet("/backup", BackupAsync).Allow(Access.Admin);
        var secrets = v1.MapGroup("/secrets");
        secrets.MapGet("", SecretsAsync).Allow(Access.Read);
        // Who may read a value depends on the secret: the route lets any operator or node in, the handler decides.
        secrets.MapGet("/{name}", SecretAsync).Allow(Access.Read);
        secrets.MapPut("/{name}", SetSecretAsync).AddEndpointFilter(LeaderOnlyAsync).Allow(Access.Admin);
        secrets.MapDelete("/{name}", RemoveSecretAsync).AddEndpointFilter(LeaderOnlyAsync).Allow(Access.Admin);
        var images = v1.MapGroup("/images");
        images.MapGet("", ImagesAsync).Allow(Access.Read);
        images.MapPost("", PushImageAsync).AddEndpointFilter(LeaderOnlyAsync).Allow(Access.Admin);
        images.MapGet("/{name}", ImageAsync).Allow(Access.Read);
        v1.MapPost("/nodes/{name}/power", PowerAsync).AddEndpointFilter(LeaderOnlyAsync).Allow(Access.Admin);
        v1.MapGet("/nodes/{name}/power/jobs", PowerJobsAsync).Allow(Access.Admin);
        v1.MapGet("/pki/root", RootAsync).Allow(Access.Public);
        v1.MapPost("/pki/member", SignMemberAsync).Allow(Access.Member);
        // A node (or one pending approval) renews its certificate; the handler checks who, as the heartbeat does.
        v1.MapPost("/pki/node", SignNodeAsync).RequireRateLimiting(NodeRateLimits.Tickets).Allow(Access.Public);
        app.MapFallback(ctx => ErrorAsync(ctx, 404, ErrorCodes.NotFound, $"no such endpoint: {ctx.Request.Method} {ctx.Request.Path}")).Allow(Access.Public);
    }

    public void Dispose() => _leaderClient.Dispose();

    /// <summary>The leader filter: a write that reaches a follower is forwarded to the leader, once, and answered from there.</summary>
    private async ValueTask<object?> LeaderOnlyAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        if (_node.IsLeader)
        {
            return await next(context).ConfigureAwait(false);
        }

        await ForwardAsync(context.HttpContext).ConfigureAwait(false);
        return Results.Empty;
    }

    /// <summary>Commits on the leader (the leader filter sent it here); null when a response has been written already.</summary>
    private async Task<TxnResult?> CommitAsync(HttpContext ctx, KvTxn txn)
    {
        if (KvStore.Validate(txn) is { } problem)
        {
            var tooLarge = KvStore.IsTooLarge(txn);
            await ErrorAsync(ctx, tooLarge ? 413 : 400, tooLarge ? ErrorCodes.ValueTooLarge : ErrorCodes.InvalidRequest, problem).ConfigureAwait(false);
            return null;
        }

        if (!_node.IsLeader)
        {
            await ErrorAsync(ctx, 503, ErrorCodes.LeaderChanged, "the leadership moved while the request was handled; nothing was written; retry").ConfigureAwait(false);
            return null;
        }

        if (_node.QuotaProblem(txn) is { } quota)
        {
            await ErrorAsync(ctx, 507, ErrorCodes.QuotaExceeded, quota).ConfigureAwait(false);
            return null;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted);
        timeout.CancelAfter(ProposalTimeout);
        try
        {
            return await _node.ProposeAsync(txn, timeout.Token).ConfigureAwait(false);
        }
        catch (Raft.NotLeaderException ex)
        {
            await ErrorAsync(ctx, 503, ErrorCodes.LeaderChanged, $"{ex.Message}; nothing was written; retry").ConfigureAwait(false);
        }
        catch (Raft.OutcomeUnknownException ex)
        {
            await ErrorAsync(ctx, 503, ErrorCodes.OutcomeUnknown, $"{ex.Message}; read before retrying").ConfigureAwait(false);
        }
        catch (Raft.LogWriteException ex)
        {
            // The member stays up and reopens its log once it can; in a larger cluster another member may still commit it.
            await ErrorAsync(ctx, ex.NoSpace ? 507 : 503, ErrorCodes.LogWriteFailed, $"{ex.Message}; the write was not acknowledged: read before retrying").ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ctx.RequestAborted.IsCancellationRequested)
        {
            await ErrorAsync(ctx, 504, ErrorCodes.OutcomeUnknown, $"the write did not commit within {ProposalTimeout.TotalSeconds:0}s (is a majority of members up?); it may or may not be committed later: read before retrying").ConfigureAwait(false);
        }

        return null;
    }

    /// <summary>
    /// Waits (up to 5 s) until this member has applied everything committed before the call; false when it cannot
    /// (no leader, no quorum). For a credential this member does not know yet: a ticket or node key written through
    /// another member a moment ago may not have reached this one.
    /// </summary>
    public async Task<bool> CaughtUpAsync(CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            await _node.ReadBarrierAsync(timeout.Token).ConfigureAwait(false);
            return true;
        }
#pragma warning disable CA1031 // whatever stops the barrier, the caller answers with what it has
        catch (Exception) when (!ct.IsCancellationRequested)
#pragma warning restore CA1031
        {
            return false;
        }
    }

    private async Task<bool> BarrierAsync(HttpContext ctx)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            await _node.ReadBarrierAsync(timeout.Token).ConfigureAwait(false);
            return true;
        }
#pragma warning disable CA1031 // whatever stops the barrier, the read is refused with 503, never a bare 500
        catch (Exception ex) when (!ctx.RequestAborted.IsCancellationRequested)
#pragma warning restore CA1031
        {
            var why = ex is OperationCanceledException ? "none answered within 5s" : ex.Message;
            await ErrorAsync(ctx, 503, ErrorCodes.NoQuorum, $"a linearizable read needs the leader and a majority ({why}); retry, or add ?stale=true to read this member's copy").ConfigureAwait(false);
            return false;
        }
    }

    /// <summary>Sends the request to the leader with YARP's forwarder (body streamed both ways), marked so it is never forwarded again.</summary>
    private async Task ForwardAsync(HttpContext ctx)
    {
        if (ctx.Request.Headers.TryGetValue(ForwardedHeader, out var forwardedBy))
        {
            await ErrorAsync(ctx, 503, ErrorCodes.NotLeader, $"forwarded here by {forwardedBy}, but this member is not the leader either (an election is under way); retry").ConfigureAwait(false);
            return;
        }

        var leader = await _node.LeaderApiAsync(TimeSpan.FromSeconds(5), ctx.RequestAborted).ConfigureAwait(false);
        if (leader is null || leader == _node.Options.ApiUrl)
        {
            await ErrorAsync(ctx, 503, ErrorCodes.NoLeader, "no leader has been elected within 5s (is a majority of members up?); retry").ConfigureAwait(false);
            return;
        }

        var error = await _forwarder.SendAsync(ctx, leader, _leaderClient, new ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromSeconds(30) }, new MarkForwarded(_node.Id)).ConfigureAwait(false);
        if (error == ForwarderError.None || ctx.Response.HasStarted || ctx.RequestAborted.IsCancellationRequested)
        {
            return;
        }

        var problem = ctx.GetForwarderErrorFeature()?.Exception;
        ctx.Response.Clear();
        if (error == ForwarderError.Request && problem is HttpRequestException sending && NothingSent(sending))
        {
            await ErrorAsync(ctx, 503, ErrorCodes.LeaderUnreachable, $"the leader at {leader} could not be reached ({sending.Message}{(sending.InnerException is { } inner ? $": {inner.Message}" : "")}); nothing was sent; retry").ConfigureAwait(false);
            return;
        }

        await ErrorAsync(ctx, error == ForwarderError.RequestTimedOut ? 504 : 503, ErrorCodes.OutcomeUnknown, $"the leader at {leader} was sent the request and gave no answer ({error}{(problem is null ? "" : $": {problem.Message}")}); it may or may not have been applied: read before retrying").ConfigureAwait(false);
    }

    /// <summary>Adds <see cref="ForwardedHeader"/> to what YARP sends the leader.</summary>
    private sealed class MarkForwarded(string self) : HttpTransformer
    {
        public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
        {
            await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
            proxyRequest.Headers.TryAddWithoutValidation(ForwardedHeader, self);

            // A caller known by its node certificate has no header to carry along: this member, presenting its member
            // certificate, vouches for it by name (the leader believes this header from members only).
            // Without a bearer the header is always set ("-" for no node), so the leader never takes a forwarded
            // request for this member's own.
            proxyRequest.Headers.Remove(ForwardedNodeHeader);
            if (Bearer(httpContext) is null)
            {
                proxyRequest.Headers.TryAddWithoutValidation(ForwardedNodeHeader, NodeOfCertificate(httpContext) ?? "-");
            }

            // The leader's own host, not the client's Host header: the TLS client checks the leader's certificate
            // against the name in Host, and the follower's address is not in it.
            proxyRequest.Headers.Host = null;
        }
    }

    /// <summary>A connection that was never made (no TCP connection, or no TLS session on it): the request cannot have reached the leader.</summary>
    internal static bool NothingSent(HttpRequestException ex) =>
        ex.HttpRequestError is HttpRequestError.SecureConnectionError or HttpRequestError.NameResolutionError ||
        ex.InnerException is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused or System.Net.Sockets.SocketError.HostUnreachable or System.Net.Sockets.SocketError.NetworkUnreachable or System.Net.Sockets.SocketError.AddressNotAvailable or System.Net.Sockets.SocketError.TimedOut };

    internal static KvDto ToDto(KeyValue kv) => new(kv.Key, Encoding.UTF8.GetString(kv.Value), kv.CreateRevision, kv.ModRevision, kv.Version);

    internal static EventDto ToDto(KvEvent e) => new(e.Revision, e.Type == EventType.Put ? "put" : "delete", e.Key, Encoding.UTF8.GetString(e.Value));

    internal static MemberDto ToDto(MemberView m) => new(m.Id, m.Name, m.Api, m.Status, m.IsLeader, m.IsSelf);
}
