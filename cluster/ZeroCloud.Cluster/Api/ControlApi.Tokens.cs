using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using ZeroCloud.Cluster.Store;
using ZeroCloud.Model.Api;
using static ZeroCloud.Cluster.Api.ApiResults;

namespace ZeroCloud.Cluster.Api;

/// <summary>Join tokens: list, create, and the check node requests go through.</summary>
public sealed partial class ControlApi
{
    private async Task TokensAsync(HttpContext ctx)
    {
        if (!IsTrue(ctx.Request.Query["stale"]) && !await BarrierAsync(ctx).ConfigureAwait(false))
        {
            return;
        }

        var kvs = _node.Read(s => s.Range(StoreKeys.Tokens, 0));
        var skipped = new List<string>();
        var tokens = kvs.Select(kv => TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.TokenDto, skipped)).OfType<TokenDto>().ToList();
        ReportSkipped(skipped);
        await JsonAsync(ctx, 200, new TokensResponse(tokens), ControlJsonContext.Default.TokensResponse).ConfigureAwait(false);
    }

    private async Task CreateTokenAsync(HttpContext ctx)
    {
        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        var error = "";
        var request = body.Length == 0 ? new CreateTokenRequest() : Parse(ctx, body, ControlJsonContext.Default.CreateTokenRequest, out error);
        if (request is null)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidJson, error).ConfigureAwait(false);
            return;
        }

        if (request.TtlSeconds is <= 0)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, $"ttlSeconds: {request.TtlSeconds} is not a positive number of seconds").ConfigureAwait(false);
            return;
        }

        var token = NewToken(request.Description, request.TtlSeconds is { } ttl ? TimeSpan.FromSeconds(ttl) : null);
        var key = StoreKeys.Token(token.Id);
        var (auditKey, auditValue) = Audit.Entry(Who(ctx), Audit.TokenCreated, token.Id, token.Expires is { } until ? $"expires {until:u}" : "never expires");
        var txn = new KvTxn(
            [new Compare(key, CompareTarget.Version, CompareOp.Equal, 0)],
            [new PutOp(key, JsonSerializer.SerializeToUtf8Bytes(token, ControlJsonContext.Default.TokenDto)), new PutOp(auditKey, Encoding.UTF8.GetBytes(auditValue))],
            []);
        var result = await CommitAsync(ctx, txn).ConfigureAwait(false);
        if (result is null)
        {
            return;
        }

        if (!result.Succeeded)
        {
            await ErrorAsync(ctx, 409, ErrorCodes.TokenExists, $"token id {token.Id} exists already; try again").ConfigureAwait(false);
            return;
        }

        await JsonAsync(ctx, 200, token, ControlJsonContext.Default.TokenDto).ConfigureAwait(false);
    }

    /// <summary>How long a machine's enrollment ticket lives.</summary>
    public static readonly TimeSpan TicketLifetime = TimeSpan.FromMinutes(10);

    /// <summary>
    /// POST /v1/tickets {mac}: a single-use enrollment ticket for that machine (netboot asks for one when it writes the
    /// machine's boot script). Needs the join token, an admin, or the key of a node that runs netboot. Only the SHA-256 of the secret is stored; a new ticket replaces
    /// the machine's previous one.
    /// </summary>
    private async Task CreateTicketAsync(HttpContext ctx)
    {
        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        // Who may ask (a join token, an admin, a node running netboot) is the route's Access.Enroll.
        var request = Parse(ctx, body, ControlJsonContext.Default.CreateTicketRequest, out var error);
        if (request is null || !ZeroCloud.Model.Net.MacAddress.TryParse(request.Mac, out var mac))
        {
            await ErrorAsync(ctx, 400, request is null ? ErrorCodes.InvalidJson : ErrorCodes.InvalidArgument, request is null ? error : $"mac: \"{request.Mac}\" is not a MAC address").ConfigureAwait(false);
            return;
        }

        var secret = NewSecret();
        var ticket = new TicketDto(mac.ToString(), Hash(secret), DateTime.UtcNow + TicketLifetime);
        var txn = KvTxn.Put(StoreKeys.Ticket(mac), JsonSerializer.SerializeToUtf8Bytes(ticket, ControlJsonContext.Default.TicketDto));
        if (await CommitAsync(ctx, txn).ConfigureAwait(false) is null)
        {
            return;
        }

        await JsonAsync(ctx, 200, new TicketResponse($"{TicketPrefix}{mac.ToCompactString()}.{secret}", ticket.Expires), ControlJsonContext.Default.TicketResponse).ConfigureAwait(false);
    }

    /// <summary>What a ticket looks like in a bearer header: <c>ticket:&lt;mac, 12 hex digits&gt;.&lt;secret&gt;</c>.</summary>
    public const string TicketPrefix = "ticket:";

    /// <summary>What a node's own key looks like in a bearer header: <c>node:&lt;name&gt;.&lt;secret&gt;</c>.</summary>
    public const string NodeKeyPrefix = "node:";

    /// <summary>A random secret: 32 bytes as base64url (256 bits).</summary>
    public static string NewSecret() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The SHA-256 of a secret, lower-case hex: all the store keeps of tickets and node keys.</summary>
    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    /// <summary>The bearer credential of a request, without "Bearer "; null when there is none.</summary>
    internal static string? Bearer(HttpContext ctx)
    {
        var header = ctx.Request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.Ordinal) ? header["Bearer ".Length..].Trim() : null;
    }

    /// <summary>
    /// Checks a ticket (<c>ticket:&lt;mac&gt;.&lt;secret&gt;</c>) for the machine with <paramref name="mac"/>: its record, the
    /// secret's hash compared in fixed time, its expiry and its MAC. Returns the record's revision to use it up with,
    /// or the reason it is refused.
    /// </summary>
    public (long Revision, string? Problem) TicketCheck(string credential, string? mac)
    {
        var body = credential[TicketPrefix.Length..];
        var dot = body.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0 || body.Length > 200 || !ZeroCloud.Model.Net.MacAddress.TryParse(body.AsSpan(0, dot), out var ticketMac))
        {
            return (0, "the ticket is not of the form ticket:<mac>.<secret>");
        }

        if (mac is null || !ZeroCloud.Model.Net.MacAddress.TryParse(mac, out var beatMac) || beatMac != ticketMac)
        {
            return (0, $"ticket {ticketMac.ToCompactString()}.… belongs to another MAC than this node's ({mac ?? "none sent"})");
        }

        var kv = _node.Read(s => s.Get(StoreKeys.Ticket(ticketMac)));
        if (kv is null || TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.TicketDto, new List<string>()) is not { } stored)
        {
            return (0, $"ticket {ticketMac.ToCompactString()}.… is not a ticket of this cluster, or it was used already");
        }

        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(stored.Hash), Encoding.ASCII.GetBytes(Hash(body[(dot + 1)..]))))
        {
            return (0, $"ticket {ticketMac.ToCompactString()}.… has the wrong secret (or a newer ticket replaced it)");
        }

        return ZeroCloud.Model.WallClock.Expired(stored.Expires) ? (0, $"ticket {ticketMac.ToCompactString()}.… expired at {stored.Expires:u}") : (kv.ModRevision, null);
    }

    /// <summary>Null when <paramref name="credential"/> (<c>node:&lt;name&gt;.&lt;secret&gt;</c>) is the key of node <paramref name="name"/>; else why not.</summary>
    public string? NodeKeyProblem(string credential, string name)
    {
        var body = credential[NodeKeyPrefix.Length..];
        var dot = body.LastIndexOf('.');
        if (dot <= 0 || body.Length > 400)
        {
            return "the node key is not of the form node:<name>.<secret>";
        }

        if (body[..dot] != name)
        {
            return $"the key of node {body[..dot]} cannot speak for node {name}";
        }

        var kv = _node.Read(s => s.Get(StoreKeys.NodeKey(name)));
        if (kv is null || TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.NodeKeyDto, new List<string>()) is not { } stored)
        {
            return $"node {name} has no key in this cluster";
        }

        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(stored.Hash), Encoding.ASCII.GetBytes(Hash(body[(dot + 1)..])))
            ? null
            : $"the key of node {name} is wrong";
    }

    /// <summary>Who made a request, for the audit log: the credential's kind and id (never its secret), and the client address.</summary>
    public static string Who(HttpContext ctx)
    {
        var forwarded = ctx.Request.Headers.TryGetValue(ControlClient.ForwardedHeader, out var by) ? $" via member {by}" : "";
        return $"{CredentialName(ctx)} from {ctx.Connection.RemoteIpAddress}{forwarded}";
    }

    /// <summary>The request's credential as its kind and id, never its secret: <c>node n1</c>, <c>ticket 5254…</c>, <c>token abc123</c> or <c>anonymous</c>.</summary>
    public static string CredentialName(HttpContext ctx)
    {
        var credential = Bearer(ctx);
        return credential switch
        {
            null or "" => "anonymous",
            _ when credential.StartsWith(NodeKeyPrefix, StringComparison.Ordinal) => "node " + credential[NodeKeyPrefix.Length..Math.Max(NodeKeyPrefix.Length, credential.LastIndexOf('.'))],
            _ when credential.StartsWith(ZeroCloud.Model.Api.Roles.OperatorPrefix, StringComparison.Ordinal) => "operator " + credential[ZeroCloud.Model.Api.Roles.OperatorPrefix.Length..Math.Max(ZeroCloud.Model.Api.Roles.OperatorPrefix.Length, credential.IndexOf('.', StringComparison.Ordinal))],
            _ when credential.StartsWith(TicketPrefix, StringComparison.Ordinal) => "ticket " + credential[TicketPrefix.Length..Math.Max(TicketPrefix.Length, credential.IndexOf('.', StringComparison.Ordinal))],
            _ => "token " + credential[..Math.Max(0, credential.IndexOf('.', StringComparison.Ordinal))],
        };
    }

    /// <summary>Adds an entry to the audit log (on the leader; a failure is logged, never the request's).</summary>
    private async Task AuditAsync(HttpContext ctx, string action, string subject, string? detail = null)
    {
        var (key, value) = Audit.Entry(Who(ctx), action, subject, detail);
        try
        {
            using var timeout = new CancellationTokenSource(ProposalTimeout);
            await _node.ProposeAsync(KvTxn.Put(key, Encoding.UTF8.GetBytes(value)), timeout.Token).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // the change is made; a lost audit entry is logged
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogAuditFailed(action, subject, ex.Message);
        }
    }

    /// <summary>GET /v1/audit?limit=N: the newest N entries of the audit log (default 100), oldest first.</summary>
    private async Task AuditLogAsync(HttpContext ctx)
    {
        var limit = 100;
        if (ctx.Request.Query["limit"] is { Count: > 0 } text && (!int.TryParse(text, out limit) || limit < 1))
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, $"limit: \"{text}\" is not a positive whole number").ConfigureAwait(false);
            return;
        }

        if (!IsTrue(ctx.Request.Query["stale"]) && !await BarrierAsync(ctx).ConfigureAwait(false))
        {
            return;
        }

        var kvs = _node.Read(s => s.Range(StoreKeys.Audit, 0));
        var skipped = new List<string>();
        var entries = kvs.Skip(Math.Max(0, kvs.Count - limit)).Select(kv => TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.AuditDto, skipped)).OfType<AuditDto>().ToList();
        ReportSkipped(skipped);
        await JsonAsync(ctx, 200, new AuditResponse(entries), ControlJsonContext.Default.AuditResponse).ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "audit: the entry for {Action} {Subject} was not written: {Problem}")]
    private partial void LogAuditFailed(string action, string subject, string problem);

    /// <summary>A new join token, kubeadm's shape: a 6-character id and a 16-character secret, [a-z0-9].</summary>
    internal static TokenDto NewToken(string? description, TimeSpan? ttl)
    {
        var now = DateTime.UtcNow;
        return new TokenDto(
            RandomNumberGenerator.GetString("abcdefghijklmnopqrstuvwxyz0123456789", 6),
            RandomNumberGenerator.GetString("abcdefghijklmnopqrstuvwxyz0123456789", 16),
            now,
            ttl is { } t ? now + t : null,
            description);
    }

    /// <summary>Null when the request carries a join token of this cluster that has not expired; else why not.</summary>
    public string? TokenProblem(HttpContext ctx) => Bearer(ctx) is { Length: > 0 } token
        ? JoinTokenProblem(token)
        : "no join token: send \"Authorization: Bearer <token>\" (zc-node --token; zc get tokens lists them)";

    /// <summary>Null when <paramref name="token"/> is a join token of this cluster that has not expired; else why not.</summary>
    public string? JoinTokenProblem(string token)
    {

        var dot = token.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0 || dot == token.Length - 1 || token.Length > 200)
        {
            return "the join token is not of the form <id>.<secret>";
        }

        var id = token[..dot];
        var kv = _node.Read(s => s.Get(StoreKeys.Token(id)));
        if (kv is null || TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.TokenDto, new List<string>()) is not { } stored)
        {
            return $"join token {id}.… is not a token of this cluster";
        }

        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(stored.Secret), Encoding.UTF8.GetBytes(token[(dot + 1)..])))
        {
            return $"join token {id}.… has the wrong secret";
        }

        return stored.Expires is { } expires && ZeroCloud.Model.WallClock.Expired(expires) ? $"join token {id}.… expired at {expires:u}" : null;
    }
}
