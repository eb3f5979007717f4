using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ZeroCloud.Cluster.Store;
using ZeroCloud.Model.Api;
using static ZeroCloud.Cluster.Api.ApiResults;

namespace ZeroCloud.Cluster.Api;

/// <summary>What a route needs of its caller; a route without one needs <see cref="Admin"/>.</summary>
public enum Access
{
    /// <summary>Anyone (status, the heartbeat, which checks its own credential: ticket, node key or join token).</summary>
    Public,

    /// <summary>A join token, an admin, or a node the scheduler placed a netboot instance on: asking for an enrollment ticket.</summary>
    Enroll,

    /// <summary>Any known operator or node: reads (credentials only for admin).</summary>
    Read,

    /// <summary>An admin, a member, or a node within its key rules: kv writes and transactions.</summary>
    Write,

    /// <summary>An admin, or a node the scheduler placed a voter on: membership changes.</summary>
    Member,

    /// <summary>An admin only.</summary>
    Admin,
}

/// <summary>The route's <see cref="Access"/>, as endpoint metadata.</summary>
public sealed record AccessMetadata(Access Level);

/// <summary>
/// Who made a request: an operator (admin or read-only), a node (and whether it holds a voter or a dhcp instance), a
/// join token or ticket holder (enrolls only), or nobody. <see cref="Problem"/> says why a presented credential was not
/// accepted.
/// </summary>
public sealed record Caller(string Role, string Name, string? Problem = null)
{
    public static readonly Caller Anonymous = new("anonymous", "anonymous");

    public bool IsAdmin => Role == Roles.Admin;

    public bool IsNode => Role == Roles.Node;

    /// <summary>A join token: may enroll and ask for tickets, nothing else.</summary>
    public bool IsJoinToken => Role == "join-token";

    /// <summary>
    /// A member of the configuration, known by its member certificate: it holds the whole log and the CA already, so
    /// the store's key rules do not apply to it; admin routes (tokens, operators, apply, secrets) still do.
    /// </summary>
    public bool IsMember => Role == MemberRole;

    public const string MemberRole = "member";
}

public static class AccessExtensions
{
    /// <summary>Declares what the route needs of its caller (see <see cref="Access"/>).</summary>
    public static TBuilder Allow<TBuilder>(this TBuilder builder, Access level)
        where TBuilder : IEndpointConventionBuilder => builder.WithMetadata(new AccessMetadata(level));
}

/// <summary>Authentication (the bearer credential) and authorization (the route's <see cref="Access"/>, key rules on writes).</summary>
public sealed partial class ControlApi
{
    private const string CallerItem = "zc.caller";

    /// <summary>
    /// The middleware between routing and the endpoints: identifies the caller once and refuses what its role may not
    /// do, 401 without a known credential, 403 with one that may not; the refusal of a presented credential is audited.
    /// </summary>
    public async Task AuthorizeAsync(HttpContext ctx, RequestDelegate next)
    {
        var level = ctx.GetEndpoint()?.Metadata.GetMetadata<AccessMetadata>()?.Level ?? Access.Admin;
        var caller = Identify(ctx);
        var refusal = Refusal(caller, level);
        if (refusal is null)
        {
            await next(ctx).ConfigureAwait(false);
            return;
        }

        var (status, message) = refusal.Value;
        await ErrorAsync(ctx, status, status == 401 ? ErrorCodes.Unauthenticated : ErrorCodes.Forbidden, message).ConfigureAwait(false);
    }

    private (int Status, string Message)? Refusal(Caller caller, Access level)
    {
        if (level == Access.Public || caller.IsAdmin)
        {
            return null;
        }

        if (caller == Caller.Anonymous || caller.Problem is not null)
        {
            return (401, caller.Problem ?? "no credential: send \"Authorization: Bearer <credential>\" (zc reads the credentials file named by $ZC_CREDENTIALS, or the one zc up wrote)");
        }

        var allowed = level switch
        {
            // Not any node: a ticket for a known MAC would let a node enroll a second time as that machine.
            Access.Enroll => caller.IsJoinToken || caller.IsMember || caller.IsNode && Hosts(caller.Name, "builtin/netboot"),
            Access.Read => caller.Role == Roles.ReadOnly || caller.IsNode || caller.IsMember,
            Access.Write => caller.IsNode || caller.IsMember,
            Access.Member => caller.IsMember || caller.IsNode && Hosts(caller.Name, "builtin/control"),
            _ => false,
        };
        return allowed ? null : (403, $"{Describe(caller)} may not do this (it needs {Needed(level)})");
    }

    private static string Needed(Access level) => level switch
    {
        Access.Enroll => "a join token, an admin credential, or the key of a node that runs netboot",
        Access.Read => "an operator or node credential",
        Access.Write => "an admin credential, or a node writing its own keys",
        Access.Member => "an admin credential, or the key of a node the scheduler placed a voter on",
        _ => "an admin credential",
    };

    private static string Describe(Caller caller) => caller.Role switch
    {
        Roles.ReadOnly => $"read-only credential {caller.Name}",
        Caller.MemberRole => $"member {caller.Name}",
        Roles.Node => $"node {caller.Name}",
        "join-token" => $"join token {caller.Name}",
        "ticket" => $"ticket {caller.Name}",
        "pending-node" => $"node {caller.Name} (pending approval)",
        _ => caller.Name,
    };

    /// <summary>The caller <see cref="AuthorizeAsync"/> identified; null before it ran.</summary>
    internal static Caller? CallerOf(HttpContext ctx) => ctx.Items.TryGetValue(CallerItem, out var known) ? known as Caller : null;

    /// <summary>The request's caller, identified from its bearer credential once per request.</summary>
    public Caller Identify(HttpContext ctx)
    {
        if (ctx.Items.TryGetValue(CallerItem, out var known) && known is Caller c)
        {
            return c;
        }

        var bearer = Bearer(ctx);
        var caller = bearer is not null ? Identify(bearer)
            : ctx.Request.Headers.ContainsKey(ForwardedNodeHeader) && IsMemberCertificate(ctx)
                ? NodeOfCertificate(ctx) is { } forwarded && ForwarderProblem(ctx) is null ? CertificateCaller(forwarded) : new Caller("anonymous", "anonymous", ForwarderProblem(ctx) ?? "forwarded for a caller without a credential")
            : NodeOfCertificate(ctx) is { } node ? CertificateCaller(node)
            : MemberOfCertificate(ctx) ?? Caller.Anonymous;
        ctx.Items[CallerItem] = caller;
        return caller;
    }

    /// <summary>
    /// The node a request's TLS client certificate names (<c>urn:zerocloud:node:&lt;name&gt;</c>); null without one.
    /// The handshake already refused a certificate that does not chain to the cluster's root (<see cref="MemberTls.ServerOptions"/>).
    /// </summary>
    public static string? NodeOfCertificate(HttpContext ctx) =>
        ctx.Connection.ClientCertificate is { } presented ? ZeroCloud.Model.Pki.ClusterPki.IdentityOf(presented) switch
        {
            ("node", var name) => name,
            // A member forwarding a node's request names the node; only a member certificate is believed.
            ("member", _) when ctx.Request.Headers[ForwardedNodeHeader] is [{ Length: > 0 } forwarded] && Inputs.Name(forwarded, "node") is null => forwarded,
            _ => null,
        } : null;

    /// <summary>
    /// A member certificate without a forwarded node: the member itself, when its Raft endpoint is in the configuration
    /// (a removed member's certificate, still valid for weeks, is refused at once). Null without a member certificate.
    /// </summary>
    private Caller? MemberOfCertificate(HttpContext ctx)
    {
        if (ctx.Connection.ClientCertificate is not { } presented || ZeroCloud.Model.Pki.ClusterPki.IdentityOf(presented) is not ("member", var name))
        {
            return null;
        }

        return InConfiguration(presented) ? new Caller(Caller.MemberRole, name) : new Caller("anonymous", "anonymous", $"member {name} is not in this cluster's configuration (removed?)");
    }

    private static bool IsMemberCertificate(HttpContext ctx) =>
        ctx.Connection.ClientCertificate is { } presented && ZeroCloud.Model.Pki.ClusterPki.IdentityOf(presented) is ("member", _);

    /// <summary>Null when the request is not forwarded by a member certificate, or by one of a member in the configuration; else why it is refused.</summary>
    private string? ForwarderProblem(HttpContext ctx) =>
        ctx.Connection.ClientCertificate is { } presented && ZeroCloud.Model.Pki.ClusterPki.IdentityOf(presented) is ("member", var name) && !InConfiguration(presented)
            ? $"member {name}, which forwarded this request, is not in this cluster's configuration"
            : null;

    private bool InConfiguration(System.Security.Cryptography.X509Certificates.X509Certificate2 memberCertificate) =>
        ZeroCloud.Model.Pki.ClusterPki.RaftEndpointOf(memberCertificate) is { } raft && System.Net.IPEndPoint.TryParse(raft, out var endpoint) && _node.HasMember(endpoint);

    /// <summary>
    /// A node known by its certificate. Certificates live a day; a node whose key record is gone (removed by an
    /// operator) is refused at once: its record is the deny list.
    /// </summary>
    private Caller CertificateCaller(string name) =>
        _node.Read(s => s.Get(StoreKeys.NodeKey(name))) is null
            ? new Caller("anonymous", "anonymous", $"the certificate of node {name} is revoked (the node has no key record in this cluster)")
            : IsPending(name) ? new Caller("pending-node", name) : new Caller(Roles.Node, name);

    private Caller Identify(string? credential)
    {
        if (string.IsNullOrEmpty(credential))
        {
            return Caller.Anonymous;
        }

        if (credential.Length > 500)
        {
            return new Caller("anonymous", "anonymous", "the credential is longer than any this cluster makes");
        }

        if (credential.StartsWith(Roles.OperatorPrefix, StringComparison.Ordinal))
        {
            return OperatorCaller(credential);
        }

        if (credential.StartsWith(NodeKeyPrefix, StringComparison.Ordinal))
        {
            var dot = credential.LastIndexOf('.');
            var name = dot > NodeKeyPrefix.Length ? credential[NodeKeyPrefix.Length..dot] : "";
            var problem = name.Length == 0 ? "the node key is not of the form node:<name>.<secret>" : NodeKeyProblem(credential, name);
            if (problem is null && IsPending(name))
            {
                // Waiting for zc node approve: it may heartbeat (a public route that checks its key), nothing more.
                return new Caller("pending-node", name);
            }

            return problem is null ? new Caller(Roles.Node, name) : new Caller("anonymous", "anonymous", problem);
        }

        if (credential.StartsWith(TicketPrefix, StringComparison.Ordinal))
        {
            // Checked against the machine's MAC where it is used (the heartbeat that joins).
            var dot = credential.IndexOf('.', StringComparison.Ordinal);
            return new Caller("ticket", dot > TicketPrefix.Length ? credential[TicketPrefix.Length..dot] : "?");
        }

        var tokenDot = credential.IndexOf('.', StringComparison.Ordinal);
        var tokenProblem = JoinTokenProblem(credential);
        return tokenProblem is null ? new Caller("join-token", credential[..tokenDot]) : new Caller("anonymous", "anonymous", tokenProblem);
    }

    private Caller OperatorCaller(string credential)
    {
        var body = credential[Roles.OperatorPrefix.Length..];
        var dot = body.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0)
        {
            return new Caller("anonymous", "anonymous", "the operator credential is not of the form op:<id>.<secret>");
        }

        var id = body[..dot];
        var kv = _node.Read(s => s.Get(StoreKeys.Operator(id)));
        if (kv is null || TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.OperatorDto, new List<string>()) is not { } stored)
        {
            return new Caller("anonymous", "anonymous", $"operator credential {id}.… is not one of this cluster (or it was revoked)");
        }

        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(stored.Hash), Encoding.ASCII.GetBytes(Hash(body[(dot + 1)..]))))
        {
            return new Caller("anonymous", "anonymous", $"operator credential {id}.… has the wrong secret");
        }

        return stored.Expires is { } until && ZeroCloud.Model.WallClock.Expired(until)
            ? new Caller("anonymous", "anonymous", $"operator credential {id}.… expired at {until:u}; ask an admin for a new one (zc operator create)")
            : new Caller(stored.Role, id);
    }

    private bool IsPending(string name)
    {
        var kv = _node.Read(s => s.Get(StoreKeys.Node(name)));
        return kv is not null && TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.NodeDto, new List<string>())?.Status == NodeStatus.Pending;
    }

    /// <summary>Whether the scheduler placed an instance of <paramref name="image"/> on node <paramref name="node"/>.</summary>
    private bool Hosts(string node, string image) => Hosted(node).Contains(image);

    /// <summary>The services of the instances the scheduler placed on node <paramref name="node"/>.</summary>
    private HashSet<string> HostedServices(string node) =>
        [.. _node.Read(s => s.Range(StoreKeys.Instances + node + "/", 0))
            .Select(kv => TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.InstanceDto, new List<string>())?.Service)
            .OfType<string>()];

    /// <summary>The images of the instances the scheduler placed on node <paramref name="node"/>.</summary>
    private HashSet<string> Hosted(string node) =>
        [.. _node.Read(s => s.Range(StoreKeys.Instances + node + "/", 0))
            .Select(kv => TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.InstanceDto, new List<string>())?.Image)
            .OfType<string>()];

    /// <summary>
    /// The key rules of the kv and txn routes: an admin and a member (a node holding a voter) write anywhere; any other
    /// node writes only its own instance states, and the leases when it runs a dhcp instance; nobody but an admin
    /// compares against a credential; a storage node writes the store's records (one key at a time). Null when <paramref name="txn"/> is allowed.
    /// </summary>
    internal string? WriteProblem(HttpContext ctx, KvTxn txn)
    {
        var caller = Identify(ctx);
        if (caller.IsAdmin || caller.IsMember)
        {
            return null;
        }

        if (txn.Compares.FirstOrDefault(c => StoreKeys.IsSecret(c.Key)) is { } secret)
        {
            return $"{Describe(caller)} may not compare against {secret.Key}: credentials are the admin's";
        }

        if (!caller.IsNode)
        {
            return $"{Describe(caller)} may not write";
        }

        var hosted = Hosted(caller.Name);
        if (hosted.Contains("builtin/control"))
        {
            return null;
        }

        var own = StoreKeys.InstanceStates + caller.Name + "/";
        var leases = hosted.Contains("builtin/dhcp");
        var storage = hosted.Contains("builtin/storage");
        foreach (var (key, prefix) in txn.Success.Concat(txn.Failure).Select(Target))
        {
            var ok = key.StartsWith(own, StringComparison.Ordinal) && key.Length > own.Length
                || leases && key.StartsWith(StoreKeys.Leases, StringComparison.Ordinal) && (key.Length > StoreKeys.Leases.Length || !prefix)
                || storage && key.StartsWith(StoreKeys.Storage, StringComparison.Ordinal) && !prefix && key.Length > StoreKeys.Storage.Length;
            if (!ok)
            {
                return $"node {caller.Name} may not write {key}{(prefix ? " (a prefix)" : "")}: a node writes its own instance states ({own}…){(leases ? " and the DHCP leases" : "")}{(storage ? " and the store's records" : "")}";
            }
        }

        return null;
    }

    private static (string Key, bool Prefix) Target(KvOp op) => op switch
    {
        PutOp put => (put.Key, false),
        DeleteOp delete => (delete.Key, delete.Prefix),
        _ => ("?", true),
    };

    /// <summary>
    /// GET /v1/whoami: the role and name of the caller's credential, so that a service with its own API (storage) can
    /// admit operators by the credential they already hold, as Kubernetes' TokenReview does.
    /// </summary>
    private Task WhoAmIAsync(HttpContext ctx)
    {
        var caller = Identify(ctx);
        return JsonAsync(ctx, 200, new WhoAmIResponse(caller.Role, caller.Name), ControlJsonContext.Default.WhoAmIResponse);
    }

    /// <summary>Whether the caller may read <paramref name="key"/> (credentials are the admin's).</summary>
    internal bool MayRead(HttpContext ctx, string key) => !StoreKeys.IsSecret(key) || Identify(ctx) is { IsAdmin: true } or { IsMember: true };
}
