using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Pki;
using static ZeroCloud.Cluster.Api.ApiResults;

namespace ZeroCloud.Cluster.Api;

/// <summary>The cluster's CA on the API: its root (public), and certificates for joining members.</summary>
public sealed partial class ControlApi
{
    /// <summary>GET /v1/pki/root: the root certificate (PEM), for clients that pinned its fingerprint.</summary>
    private async Task RootAsync(HttpContext ctx)
    {
        if (_services.GetService<MemberTls>()?.Trust.Root is not { } root)
        {
            await ErrorAsync(ctx, 404, ErrorCodes.NotFound, "this member serves plain HTTP: the cluster has no CA").ConfigureAwait(false);
            return;
        }

        ctx.Response.ContentType = "application/x-pem-file";
        await ctx.Response.WriteAsync(root.ExportCertificatePem() + "\n", ctx.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>
    /// A node's client certificate for the PKCS#10 <paramref name="csrPem"/>: <c>urn:zerocloud:node:&lt;name&gt;</c>, a
    /// day; audited unless <paramref name="audit"/> is false (a join audits it with the enrollment). Null with the
    /// problem when the CSR does not parse or verify, or this member has no CA. <paramref name="address"/> (the node's,
    /// from its heartbeat, else its record) goes in as an IP SAN, so the services it serves (storage) verify like any TLS server.
    /// </summary>
    public (string? Pem, string? Problem) SignNode(HttpContext ctx, string name, string csrPem, bool audit = true, string? address = null)
    {
        if (_services.GetService<MemberTls>() is not { Pki: { } pki })
        {
            return (null, "this member has no CA yet and cannot sign; ask another member");
        }

        CertificateRequest csr;
        try
        {
            csr = CertificateRequest.LoadSigningRequestPem(csrPem, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.Default);
        }
        catch (CryptographicException ex)
        {
            return (null, $"not a PKCS#10 request in PEM with a valid signature ({ex.Message})");
        }

        address ??= _node.Read(st => st.Get(StoreKeys.Node(name))) is { } kv ? TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.NodeDto, new List<string>())?.Address : null;
        System.Net.IPAddress[] addresses = address is not null && System.Net.IPAddress.TryParse(address, out var ip) ? [ip] : [];
        using var leaf = pki.Issue(csr.PublicKey, "node", name, addresses, [], ClusterPki.NodeLifetime, DateTimeOffset.UtcNow);
        if (!audit)
        {
            // The caller writes the audit line with its own transaction (a join's enrollment).
            return (pki.ChainPem(leaf), null);
        }

        var entry = Audit.Op(Who(ctx), Audit.CertificateIssued, name, $"node certificate until {leaf.NotAfter.ToUniversalTime():u}");
        _ = Task.Run(async () =>
        {
            try
            {
                await _services.GetRequiredService<IControlStore>().TxnAsync(new TxnRequest([], [entry], [])).ConfigureAwait(false);
            }
            catch (ControlApiException)
            {
                // The certificate stands; the audit entry is best effort here, like refusals.
            }
        });
        return (pki.ChainPem(leaf), null);
    }

    /// <summary>POST /v1/pki/node {csr}: a node's new certificate, asked with its current certificate (or its key): renewal.</summary>
    private async Task SignNodeAsync(HttpContext ctx)
    {
        var caller = Identify(ctx);
        if (!caller.IsNode && caller.Role != "pending-node")
        {
            await ErrorAsync(ctx, caller.Problem is null && caller != Caller.Anonymous ? 403 : 401, caller.Problem is null && caller != Caller.Anonymous ? ErrorCodes.Forbidden : ErrorCodes.Unauthenticated, caller.Problem ?? $"{Describe(caller)} is not a node: a node renews its certificate with its current one").ConfigureAwait(false);
            return;
        }

        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        var request = Parse(ctx, body, ControlJsonContext.Default.NodeCertificateRequest, out var error);
        if (request is null)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidJson, error).ConfigureAwait(false);
            return;
        }

        var (pem, problem) = SignNode(ctx, caller.Name, request.Csr);
        if (pem is null)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, $"csr: {problem}").ConfigureAwait(false);
            return;
        }

        await JsonAsync(ctx, 200, new NodeCertificateResponse(pem), ControlJsonContext.Default.NodeCertificateResponse).ConfigureAwait(false);
    }

    /// <summary>
    /// POST /v1/pki/member {csr, addresses, raft}: signs a joining member's certificate and hands it the CA (this member's
    /// issuing key included: every member can sign). Only over TLS, for an admin or a node the scheduler placed a voter
    /// on (whose certificate then names that node and only its own address). Audited.
    /// </summary>
    private async Task SignMemberAsync(HttpContext ctx)
    {
        if (!ctx.Request.IsHttps || _services.GetService<MemberTls>() is not { Pki: { } pki })
        {
            await ErrorAsync(ctx, 503, ErrorCodes.NotFound, "this member cannot sign: it serves no TLS or has no CA yet; ask another member").ConfigureAwait(false);
            return;
        }

        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        var request = Parse(ctx, body, ControlJsonContext.Default.MemberCertificateRequest, out var error);
        if (request is null)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidJson, error).ConfigureAwait(false);
            return;
        }

        CertificateRequest csr;
        try
        {
            csr = CertificateRequest.LoadSigningRequestPem(request.Csr, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.Default);
        }
        catch (CryptographicException ex)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, $"csr: not a PKCS#10 request in PEM with a valid signature ({ex.Message})").ConfigureAwait(false);
            return;
        }

        var caller = Identify(ctx);
        var addresses = new List<IPAddress>();
        foreach (var text in request.Addresses ?? [])
        {
            if (!IPAddress.TryParse(text, out var address))
            {
                await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, $"addresses: \"{text}\" is not an IP address").ConfigureAwait(false);
                return;
            }

            addresses.Add(address);
        }

        string? raft = null;
        if (request.Raft is { } raftText)
        {
            if (!IPEndPoint.TryParse(raftText, out var raftEndPoint) || raftEndPoint.Port == 0)
            {
                await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, $"raft: \"{raftText}\" is not an ip:port").ConfigureAwait(false);
                return;
            }

            raft = Raft.ControlNode.Format(raftEndPoint);
            addresses.Add(raftEndPoint.Address);
        }

        var name = caller.IsNode ? caller.Name : csr.SubjectName.Name.StartsWith("CN=", StringComparison.Ordinal) ? csr.SubjectName.Name[3..] : "member";
        if (caller.IsNode && NodeAddress(caller.Name) is var own && (own is null || addresses.Any(a => a.ToString() != own)))
        {
            await ErrorAsync(ctx, 403, ErrorCodes.Forbidden, $"node {caller.Name} may have a member certificate only for its own address ({own ?? "unknown"})").ConfigureAwait(false);
            return;
        }

        if (Inputs.Name(name, "the member's name") is { } problem)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, problem).ConfigureAwait(false);
            return;
        }

        using var leaf = pki.Issue(csr.PublicKey, "member", name, addresses.Distinct(), ["localhost"], ClusterPki.MemberLifetime, DateTimeOffset.UtcNow, raft);
        await AuditAsync(ctx, Audit.CertificateIssued, name, $"member certificate for {string.Join(", ", addresses.Distinct())}{(raft is null ? "" : $", raft {raft}")} until {leaf.NotAfter.ToUniversalTime():u}; the CA sent with it").ConfigureAwait(false);
        await JsonAsync(ctx, 200, new MemberCertificateResponse(leaf.ExportCertificatePem(), pki.Issuing.ExportCertificatePem(), pki.Root.ExportCertificatePem(), pki.IssuingKeyPem()), ControlJsonContext.Default.MemberCertificateResponse).ConfigureAwait(false);
    }
}
