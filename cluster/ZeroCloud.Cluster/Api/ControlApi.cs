using System.Buffers;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ZeroCloud.Cluster.Raft;
using ZeroCloud.Cluster.Store;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Config;

namespace ZeroCloud.Cluster.Api;

/// <summary>
/// The control plane's HTTP/JSON API, served by every member: key/value reads (linearizable unless
/// <c>?stale=true</c>), writes and transactions (forwarded to the leader from followers), watches streamed as
/// NDJSON, membership, status, and <c>/v1/apply</c> for cluster.yaml. Errors are JSON: <c>{"code","message"}</c>.
/// </summary>
public sealed partial class ControlApi : IDisposable
{
    /// <summary>Set on forwarded requests, so a request is forwarded at most once.</summary>
    public const string ForwardedHeader = ControlClient.ForwardedHeader;

    /// <summary>The key the applied cluster.yaml is stored under.</summary>
    public const string SpecKey = StoreKeys.Spec;

    /// <summary>The largest request body the API reads (Kestrel's limit is set to it).</summary>
    public const int MaxBodyBytes = 8 << 20;

    private static readonly TimeSpan ProposalTimeout = TimeSpan.FromSeconds(15);

    private readonly ControlNode _node;
    private readonly IServiceProvider _services;
    private readonly ILogger _logger;
    private readonly HttpClient _forwarder = new(new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30), UseProxy = false }) { Timeout = TimeSpan.FromSeconds(30) };

    public ControlApi(ControlNode node, IServiceProvider services, ILogger<ControlApi> logger)
    {
        _node = node;
        _services = services;
        _logger = logger;
    }

    /// <summary>The grain factory while this member's silo is active; node calls answer 503 otherwise.</summary>
    private IGrainFactory? Grains =>
        _services.GetService<ZeroCloud.Orleans.SiloReadiness>() is { IsActive: true } ? _services.GetRequiredService<IGrainFactory>() : null;

    /// <summary>Maps every endpoint of the API onto the member's web application.</summary>
    public void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/kv/{**key}", GetKvAsync);
        app.MapPut("/v1/kv/{**key}", PutKvAsync);
        app.MapDelete("/v1/kv/{**key}", DeleteKvAsync);
        app.MapPost("/v1/txn", TxnAsync);
        app.MapGet("/v1/watch", WatchAsync);
        app.MapGet("/v1/members", GetMembersAsync);
        app.MapPost("/v1/members", AddMemberAsync);
        app.MapDelete("/v1/members/{id}", RemoveMemberAsync);
        app.MapGet("/v1/status", StatusAsync);
        app.MapGet("/v1/read-index", ReadIndexAsync);
        app.MapGet("/v1/metrics", ctx => JsonAsync(ctx, 200, _services.GetRequiredService<ApiMetrics>().Snapshot(), ControlJsonContext.Default.MetricsResponse));
        app.MapPost("/v1/apply", ApplyAsync);
        app.MapPost("/v1/nodes/{name}/heartbeat", HeartbeatAsync);
        app.MapGet("/v1/nodes/{name}", NodeAsync);
        app.MapGet("/v1/nodes", NodesAsync);
        app.MapGet("/v1/instances", InstancesAsync);
        app.MapGet("/v1/services", ServicesAsync);
        app.MapGet("/v1/tokens", TokensAsync);
        app.MapPost("/v1/tokens", CreateTokenAsync);
        app.MapFallback(ctx => ErrorAsync(ctx, 404, ErrorCodes.NotFound, $"no such endpoint: {ctx.Request.Method} {ctx.Request.Path}"));
    }

    public void Dispose() => _forwarder.Dispose();

    // ---- key/value ----

    private async Task GetKvAsync(HttpContext ctx, string? key)
    {
        var query = ctx.Request.Query;
        var prefix = IsTrue(query["prefix"]);
        var k = "/" + (key ?? "");
        if (!prefix && KvStore.KeyProblem(k) is { } problem)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidKey, problem).ConfigureAwait(false);
            return;
        }

        var limit = 0;
        if (query["limit"] is { Count: > 0 } limitText && (!int.TryParse(limitText, out limit) || limit < 0))
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, $"limit: \"{limitText}\" is not a whole number ≥ 0").ConfigureAwait(false);
            return;
        }

        if (!IsTrue(query["stale"]) && !await BarrierAsync(ctx).ConfigureAwait(false))
        {
            return;
        }

        var (revision, kvs) = _node.Read(s => (s.Revision, prefix ? s.Range(k, limit) : s.Get(k) is { } kv ? [kv] : []));
        if (!prefix && kvs.Count == 0)
        {
            await ErrorAsync(ctx, 404, ErrorCodes.KeyNotFound, $"no key \"{k}\" (at revision {revision})").ConfigureAwait(false);
            return;
        }

        await JsonAsync(ctx, 200, new RangeResponse(revision, [.. kvs.Select(ToDto)]), ControlJsonContext.Default.RangeResponse).ConfigureAwait(false);
    }

    private async Task PutKvAsync(HttpContext ctx, string? key)
    {
        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        var k = "/" + (key ?? "");
        var request = Parse(ctx, body, ControlJsonContext.Default.PutRequest, out var error);
        if (request is null)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidJson, error).ConfigureAwait(false);
            return;
        }

        if (request.Value is null)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, "the body needs a \"value\" (a string)").ConfigureAwait(false);
            return;
        }

        List<Compare> compares = request.IfModRevision is { } rev ? [new Compare(k, CompareTarget.ModRevision, CompareOp.Equal, rev)] : [];
        var txn = new KvTxn(compares, [new PutOp(k, Encoding.UTF8.GetBytes(request.Value))], []);
        var result = await CommitAsync(ctx, txn, body).ConfigureAwait(false);
        if (result is null)
        {
            return;
        }

        if (!result.Succeeded)
        {
            await ErrorAsync(ctx, 409, ErrorCodes.RevisionMismatch, $"\"{k}\" is not at revision {request.IfModRevision}; nothing was written (store at revision {result.Revision})").ConfigureAwait(false);
            return;
        }

        await JsonAsync(ctx, 200, new WriteResponse(result.Revision, true, result.Events.Count), ControlJsonContext.Default.WriteResponse).ConfigureAwait(false);
    }

    private async Task DeleteKvAsync(HttpContext ctx, string? key)
    {
        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        var k = "/" + (key ?? "");
        var txn = KvTxn.Delete(k, IsTrue(ctx.Request.Query["prefix"]));
        if (KvStore.Validate(txn) is { } problem)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidKey, problem).ConfigureAwait(false);
            return;
        }

        var result = await CommitAsync(ctx, txn, body).ConfigureAwait(false);
        if (result is not null)
        {
            await JsonAsync(ctx, 200, new WriteResponse(result.Revision, true, result.Events.Count), ControlJsonContext.Default.WriteResponse).ConfigureAwait(false);
        }
    }

    private async Task TxnAsync(HttpContext ctx)
    {
        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        var request = Parse(ctx, body, ControlJsonContext.Default.TxnRequest, out var error);
        if (request is null)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidJson, error).ConfigureAwait(false);
            return;
        }

        if (TxnMapper.ToTxn(request, out var problem) is not { } txn)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidTxn, problem).ConfigureAwait(false);
            return;
        }

        var result = await CommitAsync(ctx, txn, body).ConfigureAwait(false);
        if (result is not null)
        {
            await JsonAsync(ctx, 200, new TxnResponse(result.Succeeded, result.Revision, [.. result.Events.Select(ToDto)]), ControlJsonContext.Default.TxnResponse).ConfigureAwait(false);
        }
    }

    // ---- watch ----

    private async Task WatchAsync(HttpContext ctx)
    {
        var query = ctx.Request.Query;
        var prefix = query["prefix"].ToString();
        if (prefix.Length > 0 && KvStore.KeyProblem(prefix) is { } problem)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidKey, problem).ConfigureAwait(false);
            return;
        }

        long from = 0;
        if (query["from"] is { Count: > 0 } fromText && (!long.TryParse(fromText, out from) || from < 0))
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, $"from: \"{fromText}\" is not a revision (a whole number ≥ 0)").ConfigureAwait(false);
            return;
        }

        KvStateMachine.Watcher watcher;
        try
        {
            watcher = _node.Machine.Watch(prefix, from);
        }
        catch (CompactedException ex)
        {
            await ErrorAsync(ctx, 410, ErrorCodes.Compacted, ex.Message).ConfigureAwait(false);
            return;
        }

        using (watcher)
        {
            ctx.Response.StatusCode = 200;
            ctx.Response.ContentType = "application/x-ndjson";
            await ctx.Response.StartAsync(ctx.RequestAborted).ConfigureAwait(false);
            var reader = watcher.Events;
            var output = ctx.Response.BodyWriter;
            try
            {
                while (await reader.WaitToReadAsync(ctx.RequestAborted).ConfigureAwait(false))
                {
                    while (reader.TryRead(out var e))
                    {
                        output.Write(JsonSerializer.SerializeToUtf8Bytes(ToDto(e), ControlJsonContext.Default.EventDto));
                        output.Write("\n"u8);
                    }

                    await output.FlushAsync(ctx.RequestAborted).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
            {
                // the client went away
            }
            catch (Exception ex) when (ex is InvalidOperationException or CompactedException)
            {
                var code = ex is CompactedException ? ErrorCodes.Compacted : ErrorCodes.WatchLagging;
                output.Write(JsonSerializer.SerializeToUtf8Bytes(new ErrorResponse(code, ex.Message), ControlJsonContext.Default.ErrorResponse));
                output.Write("\n"u8);
                await output.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    // ---- membership and status ----

    private async Task GetMembersAsync(HttpContext ctx)
    {
        var members = await _node.MembersAsync(ctx.RequestAborted).ConfigureAwait(false);
        await JsonAsync(ctx, 200, new MembersResponse([.. members.Select(ToDto)]), ControlJsonContext.Default.MembersResponse).ConfigureAwait(false);
    }

    private async Task AddMemberAsync(HttpContext ctx)
    {
        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        var request = Parse(ctx, body, ControlJsonContext.Default.AddMemberRequest, out var error);
        if (request is null)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidJson, error).ConfigureAwait(false);
            return;
        }

        if (!IPEndPoint.TryParse(request.Address ?? "", out var address) || address.Port == 0)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, $"address: \"{request.Address}\" is not a Raft address (ip:port)").ConfigureAwait(false);
            return;
        }

        if (!_node.IsLeader)
        {
            await ForwardAsync(ctx, body).ConfigureAwait(false);
            return;
        }

        if (_node.HasMember(address))
        {
            await GetMembersAsync(ctx).ConfigureAwait(false);
            return;
        }

        LogAdding(ControlNode.Format(address));
        bool added;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted))
        {
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            try
            {
                added = await _node.AddMemberAsync(address, timeout.Token).ConfigureAwait(false);
            }
            catch (Raft.NotLeaderException ex)
            {
                await ErrorAsync(ctx, 503, ErrorCodes.LeaderChanged, $"{ex.Message}; retry").ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException) when (!ctx.RequestAborted.IsCancellationRequested)
            {
                added = false;
            }
        }

        if (!added)
        {
            await ErrorAsync(ctx, 503, ErrorCodes.MemberNotAdded, $"{ControlNode.Format(address)} did not catch up or could not be committed; is a fresh member (`zc serve control` without --bootstrap) listening there?").ConfigureAwait(false);
            return;
        }

        var members = await _node.MembersAsync(ctx.RequestAborted).ConfigureAwait(false);
        await JsonAsync(ctx, 201, new MembersResponse([.. members.Select(ToDto)]), ControlJsonContext.Default.MembersResponse).ConfigureAwait(false);
    }

    private async Task RemoveMemberAsync(HttpContext ctx, string id)
    {
        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        if (!_node.IsLeader)
        {
            await ForwardAsync(ctx, body).ConfigureAwait(false);
            return;
        }

        var members = await _node.MembersAsync(ctx.RequestAborted).ConfigureAwait(false);
        var member = members.FirstOrDefault(m => m.Id == id) ?? members.FirstOrDefault(m => m.Name == id);
        if (member is null || !IPEndPoint.TryParse(member.Id, out var address))
        {
            await ErrorAsync(ctx, 404, ErrorCodes.MemberNotFound, $"no member \"{id}\" (members: {string.Join(", ", members.Select(m => m.Id))})").ConfigureAwait(false);
            return;
        }

        if (members.Count == 1)
        {
            await ErrorAsync(ctx, 409, ErrorCodes.LastMember, "the last member cannot be removed").ConfigureAwait(false);
            return;
        }

        LogRemoving(member.Id);
        bool removed;
        try
        {
            removed = await _node.RemoveMemberAsync(address, ctx.RequestAborted).ConfigureAwait(false);
        }
        catch (Raft.NotLeaderException ex)
        {
            await ErrorAsync(ctx, 503, ErrorCodes.LeaderChanged, $"{ex.Message}; retry").ConfigureAwait(false);
            return;
        }

        if (!removed)
        {
            await ErrorAsync(ctx, 503, ErrorCodes.MemberNotRemoved, $"the removal of {member.Id} could not be committed; retry").ConfigureAwait(false);
            return;
        }

        var after = await _node.MembersAsync(ctx.RequestAborted).ConfigureAwait(false);
        await JsonAsync(ctx, 200, new MembersResponse([.. after.Select(ToDto)]), ControlJsonContext.Default.MembersResponse).ConfigureAwait(false);
    }

    private async Task StatusAsync(HttpContext ctx) =>
        await JsonAsync(ctx, 200, await BuildStatusAsync(ctx.RequestAborted).ConfigureAwait(false), ControlJsonContext.Default.StatusResponse).ConfigureAwait(false);

    /// <summary>This member's view: its role, term, indexes, store revision, the members and the silos' rows.</summary>
    public async Task<StatusResponse> BuildStatusAsync(CancellationToken ct)
    {
        var members = await _node.MembersAsync(ct).ConfigureAwait(false);
        var (revision, compacted, keys) = _node.Read(s => (s.Revision, s.CompactedRevision, s.Count));
        return new StatusResponse(
            _node.Id,
            _node.Options.Name.Length > 0 ? _node.Options.Name : null,
            _node.Options.ApiUrl,
            _node.Role,
            members.FirstOrDefault(m => m.IsLeader)?.Id,
            _node.Term,
            _node.CommitIndex,
            _node.LastIndex,
            _node.SnapshotIndex,
            revision,
            compacted,
            keys,
            [.. members.Select(ToDto)],
            Silos());
    }

    /// <summary>The Orleans silos in the membership table, from this member's copy.</summary>
    private List<SiloDto> Silos()
    {
        var rows = _node.Read(s => s.Range("/zc/orleans/zc/silos/"));
        var silos = new List<SiloDto>();
        foreach (var kv in rows)
        {
            try
            {
                var row = JsonSerializer.Deserialize(kv.Value, ZeroCloud.Orleans.OrleansJsonContext.Default.SiloRow)!;
                var status = row.Status switch
                {
                    1 => "created",
                    2 => "joining",
                    3 => "active",
                    4 => "shutting-down",
                    5 => "stopping",
                    6 => "dead",
                    _ => "none",
                };
                silos.Add(new SiloDto(row.Address, row.SiloName, status, row.IAmAliveTime));
            }
            catch (JsonException)
            {
                // not a row we wrote
            }
        }

        return silos;
    }

    // ---- nodes (grains) ----

    private async Task HeartbeatAsync(HttpContext ctx, string name)
    {
        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        if (TokenProblem(ctx) is { } refused)
        {
            LogRefused(name, refused);
            await ErrorAsync(ctx, 401, ErrorCodes.InvalidToken, $"node {name} refused: {refused}").ConfigureAwait(false);
            return;
        }

        var beat = Parse(ctx, body, ControlJsonContext.Default.HeartbeatRequest, out var error);
        if (beat is null)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidJson, error).ConfigureAwait(false);
            return;
        }

        if (HeartbeatProblem(beat) is { } problem)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, problem).ConfigureAwait(false);
            return;
        }

        await NodeCallAsync(ctx, name, g => g.HeartbeatAsync(new ZeroCloud.Orleans.Grains.NodeBeat(beat.Cpus, beat.MemoryBytes, beat.Address, beat.Labels, beat.Runtimes, beat.Mac))).ConfigureAwait(false);
    }

    private Task NodeAsync(HttpContext ctx, string name) => NodeCallAsync(ctx, name, g => g.GetAsync());

    private async Task NodeCallAsync(HttpContext ctx, string name, Func<ZeroCloud.Orleans.Grains.INodeGrain, Task<ZeroCloud.Orleans.Grains.NodeView>> call)
    {
        if (!IsNodeName(name))
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidName, $"\"{name}\" is not a node name (letters, digits, '-', '.', '_'; at most 253)").ConfigureAwait(false);
            return;
        }

        if (Grains is not { } grains)
        {
            await ErrorAsync(ctx, 503, ErrorCodes.SiloNotReady, "this member's Orleans silo is not running yet; retry, or ask another member").ConfigureAwait(false);
            return;
        }

        try
        {
            var v = await call(grains.GetGrain<ZeroCloud.Orleans.Grains.INodeGrain>(name)).ConfigureAwait(false);
            if (v.Refused is { } refused)
            {
                LogRefused(name, refused);
                await ErrorAsync(ctx, 403, ErrorCodes.NotEnrolled, $"node {name} refused: {refused}").ConfigureAwait(false);
                return;
            }

            await JsonAsync(ctx, 200, new NodeStatusDto(v.Name, v.Status, v.LastSeen, v.Cpus, v.MemoryBytes, v.Transitions, v.Silo, v.HeartbeatSeconds), ControlJsonContext.Default.NodeStatusDto).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or SiloUnavailableException or OrleansException)
        {
            await ErrorAsync(ctx, 503, ErrorCodes.GrainUnavailable, $"node {name}'s grain did not answer ({ex.Message}); retry").ConfigureAwait(false);
        }
    }

    // ---- cluster.yaml ----

    private async Task ApplyAsync(HttpContext ctx)
    {
        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        var file = ctx.Request.Query["file"] is { Count: > 0 } f ? f.ToString() : "cluster.yaml";
        var result = ClusterConfigLoader.Load(body, file);
        if (!result.IsValid)
        {
            var diagnostics = result.Diagnostics.Select(d => new DiagnosticDto(d.File, d.Position.Line, d.Position.Column, d.Path, d.Message)).ToList();
            var message = $"{file} has {diagnostics.Count} problem{(diagnostics.Count == 1 ? "" : "s")}; nothing was applied";
            await JsonAsync(ctx, 400, new ErrorResponse(ErrorCodes.InvalidSpec, message, diagnostics), ControlJsonContext.Default.ErrorResponse).ConfigureAwait(false);
            return;
        }

        var config = result.Config!;
        var txn = new KvTxn([new Compare(SpecKey, CompareTarget.Value, CompareOp.NotEqual, Value: body)], [new PutOp(SpecKey, body)], []);
        var committed = await CommitAsync(ctx, txn, body).ConfigureAwait(false);
        if (committed is not null)
        {
            var response = new ApplyResponse(committed.Revision, config.Metadata.Name, config.Spec.Nodes.Known.Length, config.Spec.Services.Length, committed.Succeeded);
            await JsonAsync(ctx, 200, response, ControlJsonContext.Default.ApplyResponse).ConfigureAwait(false);
        }
    }

    // ---- plumbing ----

    /// <summary>Commits on the leader, or forwards the request there; null when a response has been written already.</summary>
    private async Task<TxnResult?> CommitAsync(HttpContext ctx, KvTxn txn, byte[] body)
    {
        if (KvStore.Validate(txn) is { } problem)
        {
            var tooLarge = KvStore.IsTooLarge(txn);
            await ErrorAsync(ctx, tooLarge ? 413 : 400, tooLarge ? ErrorCodes.ValueTooLarge : ErrorCodes.InvalidRequest, problem).ConfigureAwait(false);
            return null;
        }

        if (!_node.IsLeader)
        {
            await ForwardAsync(ctx, body).ConfigureAwait(false);
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
        catch (OperationCanceledException) when (!ctx.RequestAborted.IsCancellationRequested)
        {
            await ErrorAsync(ctx, 504, ErrorCodes.OutcomeUnknown, $"the write did not commit within {ProposalTimeout.TotalSeconds:0}s (is a majority of members up?); it may or may not be committed later: read before retrying").ConfigureAwait(false);
        }

        return null;
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

    /// <summary>GET /v1/read-index (members ask the leader): the leader's commit index once it has confirmed its leadership.</summary>
    private async Task ReadIndexAsync(HttpContext ctx)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted);
        timeout.CancelAfter(TimeSpan.FromSeconds(4));
        try
        {
            var index = await _node.ReadIndexAsync(timeout.Token).ConfigureAwait(false);
            ctx.Response.ContentType = "text/plain";
            await ctx.Response.WriteAsync(index.ToString(System.Globalization.CultureInfo.InvariantCulture), ctx.RequestAborted).ConfigureAwait(false);
        }
        catch (Raft.NotLeaderException ex)
        {
            await ErrorAsync(ctx, 503, ErrorCodes.NotLeader, ex.Message).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // answered as 503 whatever it was
        catch (Exception ex) when (!ctx.RequestAborted.IsCancellationRequested)
#pragma warning restore CA1031
        {
            await ErrorAsync(ctx, 503, ErrorCodes.NoQuorum, ex is OperationCanceledException ? "the leadership could not be confirmed within 4s" : ex.Message).ConfigureAwait(false);
        }
    }

    private async Task ForwardAsync(HttpContext ctx, byte[] body)
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

        using var request = new HttpRequestMessage(new HttpMethod(ctx.Request.Method), leader.TrimEnd('/') + ctx.Request.Path + ctx.Request.QueryString);
        if (body.Length > 0 || HttpMethods.IsPost(ctx.Request.Method) || HttpMethods.IsPut(ctx.Request.Method))
        {
            request.Content = new ByteArrayContent(body);
            if (ctx.Request.ContentType is { } type)
            {
                request.Content.Headers.TryAddWithoutValidation("Content-Type", type);
            }
        }

        request.Headers.TryAddWithoutValidation(ForwardedHeader, _node.Id);
        try
        {
            using var response = await _forwarder.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ctx.RequestAborted).ConfigureAwait(false);
            ctx.Response.StatusCode = (int)response.StatusCode;
            if (response.Content.Headers.ContentType is { } contentType)
            {
                ctx.Response.ContentType = contentType.ToString();
            }

            await response.Content.CopyToAsync(ctx.Response.Body, ctx.RequestAborted).ConfigureAwait(false);
        }
        catch (HttpRequestException ex) when (NothingSent(ex))
        {
            await ErrorAsync(ctx, 503, ErrorCodes.LeaderUnreachable, $"the leader at {leader} could not be reached ({ex.Message}); nothing was sent; retry").ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException && !ctx.RequestAborted.IsCancellationRequested && !ctx.Response.HasStarted)
        {
            await ErrorAsync(ctx, 503, ErrorCodes.OutcomeUnknown, $"the leader at {leader} was sent the request and gave no answer ({ex.Message}); it may or may not have been applied: read before retrying").ConfigureAwait(false);
        }
    }

    /// <summary>A connection that was never made: the request cannot have reached the leader.</summary>
    internal static bool NothingSent(HttpRequestException ex) =>
        ex.InnerException is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused or System.Net.Sockets.SocketError.HostUnreachable or System.Net.Sockets.SocketError.NetworkUnreachable or System.Net.Sockets.SocketError.AddressNotAvailable or System.Net.Sockets.SocketError.TimedOut };

    private static async Task<byte[]?> ReadBodyAsync(HttpContext ctx)
    {
        if (ctx.Request.ContentLength > MaxBodyBytes)
        {
            await ErrorAsync(ctx, 413, ErrorCodes.BodyTooLarge, $"the body is {ctx.Request.ContentLength} bytes; at most {MaxBodyBytes} are accepted").ConfigureAwait(false);
            return null;
        }

        using var buffer = new MemoryStream();
        try
        {
            await ctx.Request.Body.CopyToAsync(buffer, ctx.RequestAborted).ConfigureAwait(false);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == 413)
        {
            await ErrorAsync(ctx, 413, ErrorCodes.BodyTooLarge, $"the body is larger than {MaxBodyBytes} bytes").ConfigureAwait(false);
            return null;
        }

        return buffer.ToArray();
    }

    private static T? Parse<T>(HttpContext ctx, byte[] body, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, out string error)
        where T : class
    {
        error = "";
        if (body.Length == 0)
        {
            error = $"{ctx.Request.Method} {ctx.Request.Path} needs a JSON body";
            return null;
        }

        try
        {
            var value = JsonSerializer.Deserialize(body, type);
            if (value is null)
            {
                error = "the body is JSON null; an object was expected";
            }

            return value;
        }
        catch (JsonException ex)
        {
            var where = ex.LineNumber is { } line ? $" at line {line + 1}, byte {ex.BytePositionInLine + 1}" : "";
            var what = ex.Message.Split(" Path:", 2)[0];
            error = $"malformed JSON{where}{(ex.Path is { Length: > 1 } path ? $" ({path})" : "")}: {what}";
            return null;
        }
    }

    private static bool IsTrue(Microsoft.Extensions.Primitives.StringValues value) =>
        value.Count > 0 && (value[0] is "" or "true" or "1" or "yes");

    internal static KvDto ToDto(KeyValue kv) => new(kv.Key, Encoding.UTF8.GetString(kv.Value), kv.CreateRevision, kv.ModRevision, kv.Version);

    internal static EventDto ToDto(KvEvent e) => new(e.Revision, e.Type == EventType.Put ? "put" : "delete", e.Key, Encoding.UTF8.GetString(e.Value));

    internal static MemberDto ToDto(MemberView m) => new(m.Id, m.Name, m.Api, m.Status, m.IsLeader, m.IsSelf);

    private static async Task JsonAsync<T>(HttpContext ctx, int status, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(ctx.Response.Body, value, type, ctx.RequestAborted).ConfigureAwait(false);
    }

    internal static Task ErrorAsync(HttpContext ctx, int status, string code, string message) =>
        JsonAsync(ctx, status, new ErrorResponse(code, message), ControlJsonContext.Default.ErrorResponse);

    [LoggerMessage(Level = LogLevel.Information, Message = "adding member {Address}")]
    private partial void LogAdding(string address);

    [LoggerMessage(Level = LogLevel.Information, Message = "removing member {Address}")]
    private partial void LogRemoving(string address);

    [LoggerMessage(Level = LogLevel.Warning, Message = "node {Node} refused: {Reason}")]
    private partial void LogRefused(string node, string reason);
}
