using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ZeroCloud.Cluster.Api;
using ZeroCloud.Cluster.Raft;
using ZeroCloud.Model.Api;
using ZeroCloud.Orleans;
using ZeroCloud.Orleans.Grains;
using static ZeroCloud.Cluster.Api.ApiResults;

namespace ZeroCloud.Control;

/// <summary>
/// The node endpoints, which go to the silo of the member they reach: <c>POST /v1/nodes/{name}/heartbeat</c> (a join
/// token is required) and <c>GET /v1/nodes/{name}</c>, each a call to that node's grain. 503 until the silo is active.
/// </summary>
public sealed partial class NodeEndpoints(ControlApi api, IServiceProvider services, ILogger<NodeEndpoints> logger) : IDisposable
{
    public void Map(IEndpointRouteBuilder app)
    {
        var nodes = app.MapGroup("/v1/nodes");
        // The heartbeat checks its own credential (a ticket, a node key or a join token), so it is public at the door.
        nodes.MapPost("/{name}/heartbeat", HeartbeatAsync).RequireRateLimiting(NodeRateLimits.Heartbeats).Allow(Access.Public);
        nodes.MapGet("/{name}", NodeAsync).Allow(Access.Read);
        nodes.MapPost("/{name}/approve", ApproveAsync).Allow(Access.Admin);
    }

    /// <summary>Joins (a first heartbeat with a ticket or a join token: a CSR to sign, records and audit lines to write) handled at once on this member.</summary>
    public const int ConcurrentJoins = 8;

    /// <summary>Joins waiting for a turn beyond which another is answered 429 (Retry-After) at once.</summary>
    public const int QueuedJoins = 2000;

    private readonly SemaphoreSlim _joins = new(ConcurrentJoins, ConcurrentJoins);
    private int _waitingJoins;

    public void Dispose() => _joins.Dispose();

    /// <summary>
    /// A join storm (a rack powered on at once) queues here instead of running every CSR, write and handshake at once:
    /// at most <see cref="ConcurrentJoins"/> at a time, up to <see cref="QueuedJoins"/> waiting (each at most 20 s),
    /// past that 429 with Retry-After. Heartbeats of joined nodes (their key or certificate) never wait here.
    /// </summary>
    private async Task HeartbeatAsync(HttpContext ctx, string name)
    {
        var bearer = ControlApi.Bearer(ctx) ?? "";
        if (!bearer.StartsWith(ControlApi.TicketPrefix, StringComparison.Ordinal) && (bearer.Length == 0 || bearer.StartsWith(ControlApi.NodeKeyPrefix, StringComparison.Ordinal)))
        {
            await BeatAsync(ctx, name).ConfigureAwait(false);
            return;
        }

        bool admitted;
        if (_joins.CurrentCount == 0)
        {
            // Every join slot is busy: a join storm. Late beats meanwhile are the control plane's doing, not the nodes'.
            if (services.GetService<SilenceMonitor>() is { } silence)
            {
                silence.JoinQueued();
                if (silence.ShouldTell())
                {
                    services.GetRequiredService<IGrainFactory>().GetGrain<IAdmissionGrain>(0).QueuedAsync().Ignore();
                }
            }
        }

        try
        {
            admitted = Interlocked.Increment(ref _waitingJoins) <= QueuedJoins && await _joins.WaitAsync(SilenceMonitor.JoinWait, ctx.RequestAborted).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _waitingJoins);
        }

        if (!admitted)
        {
            ctx.Response.Headers.RetryAfter = "1";
            await ErrorAsync(ctx, 429, ErrorCodes.TooManyRequests, $"joins are queued on this member ({ConcurrentJoins} at a time, {QueuedJoins} waiting at most, 20 s each); retry in a second").ConfigureAwait(false);
            return;
        }

        try
        {
            await BeatAsync(ctx, name).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // a beat that fails unexpectedly is logged with its exception and answered with what it was, not a bare 500
        catch (Exception ex) when (!ctx.RequestAborted.IsCancellationRequested && !ctx.Response.HasStarted)
#pragma warning restore CA1031
        {
            LogBeatFailed(logger, ex, name);
            await ErrorAsync(ctx, 500, ErrorCodes.Internal, $"the heartbeat of node {name} failed on this member: {ex.GetType().Name}: {ex.Message}").ConfigureAwait(false);
        }
        finally
        {
            _joins.Release();
        }
    }

    private async Task BeatAsync(HttpContext ctx, string name)
    {
        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        var beat = Parse(ctx, body, ControlJsonContext.Default.HeartbeatRequest, out var error);
        if (beat is null)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidJson, error).ConfigureAwait(false);
            return;
        }

        // Three credentials: a node's own key (it may speak only for itself), a machine's single-use ticket (its
        // first join; it must be the MAC the ticket was made for and the name netboot gave that MAC), or a join
        // token (agents started by hand on existing hosts, kubeadm's way).
        var credential = ControlApi.Bearer(ctx) ?? "";
        long ticketRevision = 0;
        var joinedWithToken = false;
        string? refused;
        if (credential.Length == 0 && ControlApi.NodeOfCertificate(ctx) is { } certified)
        {
            // Its certificate (checked against the cluster's root in the handshake) speaks for one node only.
            var caller = api.Identify(ctx);
            refused = caller.Problem ?? (certified != name ? $"the certificate of node {certified} cannot speak for node {name}" : null);
        }
        else if (credential.StartsWith(ControlApi.NodeKeyPrefix, StringComparison.Ordinal))
        {
            refused = api.NodeKeyProblem(credential, name);
            if (refused is not null && await api.CaughtUpAsync(ctx.RequestAborted).ConfigureAwait(false))
            {
                // A key given at a join through another member may not have been applied here yet.
                refused = api.NodeKeyProblem(credential, name);
            }
        }
        else if (credential.StartsWith(ControlApi.TicketPrefix, StringComparison.Ordinal))
        {
            (ticketRevision, refused) = api.TicketCheck(credential, beat.Mac);
            if (refused is not null && await api.CaughtUpAsync(ctx.RequestAborted).ConfigureAwait(false))
            {
                // A ticket netboot had written through another member a moment ago may not have been applied here yet
                // (seen: a boot script's ticket refused by a follower as "not a ticket of this cluster").
                (ticketRevision, refused) = api.TicketCheck(credential, beat.Mac);
            }

            if (refused is null && await ExpectedNameAsync(beat.Mac!, ctx.RequestAborted).ConfigureAwait(false) is { } expected && expected != name)
            {
                refused = $"the ticket of {beat.Mac} is for node {expected}, not {name}";
            }
        }
        else
        {
            refused = api.TokenProblem(ctx);
            joinedWithToken = refused is null;
        }

        if (refused is not null)
        {
            LogRefused(logger, name, refused);
            AuditRefusal(ctx, name, refused);
            await ErrorAsync(ctx, 401, ErrorCodes.InvalidToken, $"node {name} refused: {refused}").ConfigureAwait(false);
            return;
        }

        if (HeartbeatProblem(beat) is { } problem)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, problem).ConfigureAwait(false);
            return;
        }

        await NodeCallAsync(
            ctx,
            name,
            g => g.HeartbeatAsync(new NodeBeat(beat.Cpus, beat.MemoryBytes, beat.Address, beat.Labels, beat.Runtimes, beat.Mac, beat.Images is null ? null : [.. beat.Images.Order(StringComparer.Ordinal)], beat.Agent, beat.Persistent, beat.Disk, beat.Disks, beat.Accelerator)),
            ticketRevision > 0 ? (detail, ct) => RedeemTicketAsync(beat.Mac!, ticketRevision, name, detail, ct)
            : joinedWithToken ? (detail, ct) => IssueKeyAsync(ctx, name, detail, ct)
            : null,
            beat.Csr,
            beat.Address).ConfigureAwait(false);
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _lastRefusal = new(StringComparer.Ordinal);

    /// <summary>A refused join goes to the audit log, at most once a minute per node name (a refused agent retries).</summary>
    private void AuditRefusal(HttpContext ctx, string name, string why)
    {
        var now = Environment.TickCount64;
        if (_lastRefusal.TryGetValue(name, out var last) && now - last < 60_000)
        {
            return;
        }

        _lastRefusal[name] = now;
        var entry = Audit.Op(ControlApi.Who(ctx), Audit.Refused, name.Length > 63 ? name[..63] : name, why);
        _ = Task.Run(async () =>
        {
            try
            {
                await services.GetRequiredService<IControlStore>().TxnAsync(new TxnRequest([], [entry], [])).ConfigureAwait(false);
            }
            catch (ControlApiException ex)
            {
                LogAuditFailed(logger, name, ex.Message);
            }
        });
    }

    /// <summary>The name netboot gives the machine with this MAC: its name under nodes.known, else node-&lt;mac&gt;.</summary>
    private async Task<string?> ExpectedNameAsync(string mac, CancellationToken ct)
    {
        if (!ZeroCloud.Model.Net.MacAddress.TryParse(mac, out var parsed))
        {
            return null;
        }

        var kv = await services.GetRequiredService<IControlStore>().GetAsync(StoreKeys.Spec, stale: true, ct: ct).ConfigureAwait(false);
        var spec = kv is null ? null : ZeroCloud.Model.Config.ClusterConfigLoader.Load(kv.Value, "the applied spec").Config?.Spec;
        return spec?.Nodes.Known.FirstOrDefault(k => k.Mac == parsed)?.Name ?? $"node-{parsed.ToCompactString()}";
    }

    /// <summary>
    /// Uses up the ticket (still at <paramref name="revision"/>) and stores a new key for node <paramref name="name"/> in
    /// one transaction, so two joins with one ticket cannot both get a key. The key, or null when the ticket was used
    /// or replaced meanwhile.
    /// </summary>
    private async Task<string?> RedeemTicketAsync(string mac, long revision, string name, string detail, CancellationToken ct)
    {
        _ = ZeroCloud.Model.Net.MacAddress.TryParse(mac, out var parsed);
        var ticketKey = StoreKeys.Ticket(parsed);
        var secret = ControlApi.NewSecret();
        var record = new NodeKeyDto(name, ControlApi.Hash(secret), DateTime.UtcNow);
        var txn = new TxnRequest(
            [new CompareDto(ticketKey, "mod", "=", Number: revision)],
            [new OpDto("delete", ticketKey), new OpDto("put", StoreKeys.NodeKey(name), JsonSerializer.Serialize(record, ControlJsonContext.Default.NodeKeyDto)), Audit.Op($"ticket {parsed.ToCompactString()}", Audit.Enrolled, name, $"mac {parsed}; the ticket is used up and a node key issued{detail}")],
            []);
        var result = await services.GetRequiredService<IControlStore>().TxnAsync(txn, ct).ConfigureAwait(false);
        return result.Succeeded ? $"{ControlApi.NodeKeyPrefix}{name}.{secret}" : null;
    }

    /// <summary>
    /// A node that beats with the join token (an agent started by hand, kubeadm's way) is given its own key, a new one
    /// each such beat (a restarted agent that kept no key joins again): from then on it speaks with the key, whose role
    /// is the node's, not the token's.
    /// </summary>
    private async Task<string?> IssueKeyAsync(HttpContext ctx, string name, string detail, CancellationToken ct)
    {
        var secret = ControlApi.NewSecret();
        var record = new NodeKeyDto(name, ControlApi.Hash(secret), DateTime.UtcNow);
        var txn = new TxnRequest(
            [],
            [new OpDto("put", StoreKeys.NodeKey(name), JsonSerializer.Serialize(record, ControlJsonContext.Default.NodeKeyDto)), Audit.Op(ControlApi.Who(ctx), Audit.Enrolled, name, "with the join token; a node key issued" + detail)],
            []);
        await services.GetRequiredService<IControlStore>().TxnAsync(txn, ct).ConfigureAwait(false);
        return $"{ControlApi.NodeKeyPrefix}{name}.{secret}";
    }

    private Task NodeAsync(HttpContext ctx, string name) => NodeCallAsync(ctx, name, g => g.GetAsync());

    /// <summary>
    /// POST /v1/nodes/{name}/approve: lets a node that waits under <c>nodes.enroll: approve</c> join, for the MAC it is
    /// pending with (an approval is stored under <c>/zc/approvals/&lt;name&gt;</c>; its next heartbeat makes it Ready).
    /// Under <c>enroll: auto</c> a running node can be approved too: that makes it trusted, so the scheduler may place
    /// infrastructure on it (<see cref="ZeroCloud.Orleans.Scheduling.Planner.Trusted"/>).
    /// </summary>
    private async Task ApproveAsync(HttpContext ctx, string name)
    {
        if (!IsNodeName(name))
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidName, $"\"{name}\" is not a node name").ConfigureAwait(false);
            return;
        }

        var store = services.GetRequiredService<IControlStore>();
        try
        {
            var kv = await store.GetAsync(StoreKeys.Node(name), ct: ctx.RequestAborted).ConfigureAwait(false);
            var node = kv is null ? null : TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.NodeDto, new List<string>());
            if (kv is null || node is null)
            {
                await ErrorAsync(ctx, 404, ErrorCodes.NotFound, $"no node {name} has asked to join").ConfigureAwait(false);
                return;
            }

            // Under enroll: auto a node joins by itself but is not trusted; approving it lets it run infrastructure
            // (voters, dhcp, netboot, storage), for the MAC it has now.
            var cache = services.GetRequiredService<ClusterSpecCache>();
            cache.Update(await store.GetAsync(StoreKeys.Spec, ct: ctx.RequestAborted).ConfigureAwait(false));
            var auto = cache.Current?.Config.Spec.Nodes.Enroll is ZeroCloud.Model.Config.EnrollMode.Auto;
            if (node.Mac is null)
            {
                await ErrorAsync(ctx, 409, ErrorCodes.NotPending, $"node {name} sent no MAC address: an approval is for one machine's MAC").ConfigureAwait(false);
                return;
            }

            if (node.Status != NodeStatus.Pending && !(auto && node.Status is NodeStatus.Ready or NodeStatus.Suspect))
            {
                await ErrorAsync(ctx, 409, ErrorCodes.NotPending, auto
                    ? $"node {name} is {node.Status}: approve a node while it is up, so that it is the machine you see"
                    : $"node {name} is {node.Status}, not Pending: only a node waiting under nodes.enroll: approve (or, under enroll: auto, a running one) can be approved").ConfigureAwait(false);
                return;
            }

            var approval = new ApprovalDto(name, node.Mac, DateTime.UtcNow);
            var txn = new TxnRequest(
                [new CompareDto(kv.Key, "mod", "=", Number: kv.ModRevision)],
                [new OpDto("put", StoreKeys.Approval(name), JsonSerializer.Serialize(approval, ControlJsonContext.Default.ApprovalDto)), Audit.Op(ControlApi.Who(ctx), Audit.Approved, name, $"mac {node.Mac}")],
                []);
            if (!(await store.TxnAsync(txn, ctx.RequestAborted).ConfigureAwait(false)).Succeeded)
            {
                await ErrorAsync(ctx, 409, ErrorCodes.NotPending, $"node {name} changed while it was being approved; look again and retry").ConfigureAwait(false);
                return;
            }

            LogApproved(logger, name, node.Mac);
            await JsonAsync(ctx, 200, new NodeStatusDto(name, node.Status, null, node.Cpus, node.MemoryBytes, node.Transitions, ""), ControlJsonContext.Default.NodeStatusDto).ConfigureAwait(false);
        }
        catch (ControlApiException ex)
        {
            await ErrorAsync(ctx, ex.Status, ex.Code, ex.Message).ConfigureAwait(false);
        }
    }

    private async Task NodeCallAsync(HttpContext ctx, string name, Func<INodeGrain, Task<NodeView>> call, Func<string, CancellationToken, Task<string?>>? redeem = null, string? csr = null, string? address = null)
    {
        if (!IsNodeName(name))
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidName, $"\"{name}\" is not a node name (letters, digits, '-', '.', '_'; at most 253)").ConfigureAwait(false);
            return;
        }

        if (services.GetService<SiloReadiness>() is not { IsActive: true })
        {
            await ErrorAsync(ctx, 503, ErrorCodes.SiloNotReady, "this member's Orleans silo is not running yet; retry, or ask another member").ConfigureAwait(false);
            return;
        }

        try
        {
            var v = await call(services.GetRequiredService<IGrainFactory>().GetGrain<INodeGrain>(name)).ConfigureAwait(false);
            if (v.Refused is { } refused)
            {
                LogRefused(logger, name, refused);
                AuditRefusal(ctx, name, refused);
                await ErrorAsync(ctx, 403, ErrorCodes.NotEnrolled, $"node {name} refused: {refused}").ConfigureAwait(false);
                return;
            }

            // The join also signs the node's CSR (from then on it can speak with its certificate), before the ticket is
            // used up, so a bad CSR costs no ticket; its audit line is the enrollment's, in the same transaction.
            string? certificate = null;
            var detail = "";
            if (redeem is not null && csr is not null)
            {
                (certificate, var problem) = api.SignNode(ctx, name, csr, audit: false, address: address);
                if (problem is not null)
                {
                    await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, $"csr: {problem}").ConfigureAwait(false);
                    return;
                }

                detail = "; a node certificate issued";
            }

            string? key = null;
            if (redeem is not null && (key = await redeem(detail, ctx.RequestAborted).ConfigureAwait(false)) is null)
            {
                LogRefused(logger, name, "its ticket was used by another join meanwhile");
                await ErrorAsync(ctx, 401, ErrorCodes.InvalidToken, $"node {name} refused: its ticket was used already").ConfigureAwait(false);
                return;
            }

            if (key is not null)
            {
                // A linearizable read before answering: on a follower it waits until this member has applied the new
                // key, so the node's next beat here (with that key or its certificate) is not refused as unknown.
                await services.GetRequiredService<IControlStore>().GetAsync(StoreKeys.NodeKey(name), ct: ctx.RequestAborted).ConfigureAwait(false);
            }

            await JsonAsync(ctx, 200, new NodeStatusDto(v.Name, v.Status, v.LastSeen, v.Cpus, v.MemoryBytes, v.Transitions, v.Silo, v.HeartbeatSeconds, key, certificate, Disks(services), api.PlacementsTokenOf(name)), ControlJsonContext.Default.NodeStatusDto).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or SiloUnavailableException or OrleansException)
        {
            await ErrorAsync(ctx, 503, ErrorCodes.GrainUnavailable, $"node {name}'s grain did not answer ({ex.Message}); retry").ConfigureAwait(false);
        }
        catch (ControlApiException ex)
        {
            // The grain's own read of the store (at activation) or the read before answering a join: no majority
            // within the lease (503 with its code) is the store's answer, not a fault of this endpoint.
            await ErrorAsync(ctx, ex.Status, ex.Code, $"node {name}: {ex.Message}").ConfigureAwait(false);
        }
    }


    private static string? HeartbeatProblem(HeartbeatRequest beat)
    {
        if (beat.Cpus < 0 || beat.MemoryBytes < 0)
        {
            return "cpus and memoryBytes cannot be negative";
        }

        if (beat.Address is { } address && !IPAddress.TryParse(address, out _))
        {
            return $"address: \"{address}\" is not an IP address";
        }

        foreach (var (k, v) in beat.Labels ?? new Dictionary<string, string>())
        {
            if (k.Length is 0 or > 63 || v.Length > 63 || k.Any(char.IsControl) || v.Any(char.IsControl))
            {
                return $"labels: \"{k}\": \"{v}\" is not a label (a key of 1 to 63 characters, a value of at most 63, no control characters)";
            }
        }

        if (beat.Mac is { } mac && !ZeroCloud.Model.Net.MacAddress.TryParse(mac, out _))
        {
            return $"mac: \"{mac}\" is not a MAC address";
        }

        if (beat.Images?.FirstOrDefault(i => i.Length is 0 or > 253 || i.Any(char.IsControl) || i.Contains(' ', StringComparison.Ordinal)) is { } image)
        {
            return $"images: \"{image}\" is not an image name (1 to 253 characters, no spaces or control characters)";
        }

        if (beat.Agent is { } agent && (agent.Length > 200 || agent.Any(char.IsControl)))
        {
            return "agent: at most 200 characters, no control characters";
        }

        if (beat.Images is { Count: > 1024 })
        {
            return $"images: {beat.Images.Count} images; at most 1024 are reported";
        }

        if (beat.Runtimes?.FirstOrDefault(r => !KnownRuntimes.Contains(r)) is { } runtime)
        {
            return $"runtimes: \"{runtime}\" is not a runtime (process, vm)";
        }

        if (beat.Accelerator is { } accelerator && (accelerator is not ("kvm" or "tcg") || beat.Runtimes?.Contains("vm") != true))
        {
            return $"accelerator: \"{accelerator}\" is not kvm or tcg, or is given without the vm runtime";
        }

        return null;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "the heartbeat of node {Node} failed")]
    private static partial void LogBeatFailed(ILogger logger, Exception ex, string node);

    [LoggerMessage(Level = LogLevel.Warning, Message = "node {Node} refused: {Reason}")]
    private static partial void LogRefused(ILogger logger, string node, string reason);

    /// <summary>The applied spec's nodes.disks for the heartbeat's answer (null before a spec is applied or when it names none).</summary>
    private static ZeroCloud.Model.Config.DiskSelector[]? Disks(IServiceProvider services) =>
        services.GetService<ClusterSpecCache>()?.Current?.Config.Spec.Nodes.Disks is { Length: > 0 } disks ? [.. disks] : null;

    [LoggerMessage(Level = LogLevel.Warning, Message = "audit: the refusal of node {Name} was not written: {Problem}")]
    private static partial void LogAuditFailed(ILogger logger, string name, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "node {Name} ({Mac}) approved; it joins with its next heartbeat")]
    private static partial void LogApproved(ILogger logger, string name, string mac);


    private static readonly string[] KnownRuntimes = ["process", "vm"];
}

/// <summary>The silos as this member's copy of the Orleans membership table lists them (<c>zc status</c>).</summary>
public sealed class SiloDirectory(ControlNode node) : ISiloDirectory
{
    public IReadOnlyList<SiloDto> Silos() => Read(node);

    /// <summary>The Orleans silos in the membership table, from this member's copy.</summary>
    private static List<SiloDto> Read(ControlNode node)
    {
        var rows = node.Read(s => s.Range("/zc/orleans/zc/silos/"));
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
}
