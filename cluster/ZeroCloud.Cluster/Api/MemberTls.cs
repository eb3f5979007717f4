using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ZeroCloud.Model;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Pki;

namespace ZeroCloud.Cluster.Api;

/// <summary>
/// A member's TLS: the cluster's CA (in <c>&lt;data&gt;/pki/</c>, keys 0600), the certificate its API serves (with the
/// issuing CA and the root in the chain it sends), and renewal at two thirds of that certificate's life. The first
/// member makes the CA; a member that joins sends a CSR to a peer it verifies against the root it was given
/// (<c>--ca-file</c>) and receives its certificate and the CA over that TLS connection.
/// </summary>
public sealed class MemberTls : IDisposable
{
    private readonly string _folder;
    private readonly string _name;
    private readonly IReadOnlyList<IPAddress> _addresses;
    private readonly string? _raft;
    private SslStreamCertificateContext? _context;
    private X509Certificate2? _leaf;

    private MemberTls(string folder, string name, IReadOnlyList<IPAddress> addresses, string? raft, ClusterTrust trust, ClusterPki? pki)
    {
        _folder = folder;
        _name = name;
        _addresses = addresses;
        _raft = raft;
        Trust = trust;
        Pki = pki;
    }

    /// <summary>The cluster's root, which every certificate must chain to.</summary>
    public ClusterTrust Trust { get; }

    /// <summary>The CA; null until a joining member has received it.</summary>
    public ClusterPki? Pki { get; private set; }

    /// <summary>The certificate the API serves; null until this member has one.</summary>
    public X509Certificate2? Certificate => _leaf;

    /// <summary>Whether <paramref name="peer"/> is a member certificate of this cluster (chained to its root through the issuing CA).</summary>
    public bool IsMember(X509Certificate2 peer, X509Chain? chain) =>
        Trust.Problem(peer, [.. chain?.ChainElements.Select(e => e.Certificate) ?? [], .. ChainOf()]) is null
        && ClusterPki.IdentityOf(peer) is ("member", _);

    /// <summary>
    /// The TLS options of one handshake of the API: the current certificate and its chain, TLS 1.3. A client may present
    /// a certificate (nodes do); one that does not chain to the cluster's root fails the handshake. A client without
    /// one goes on, to the routes that take a bearer credential or none.
    /// </summary>
    public SslServerAuthenticationOptions ServerOptions() => new()
    {
        ServerCertificateContext = _context ?? throw new System.Security.Authentication.AuthenticationException("this member has no certificate yet (it has not received one from a peer)"),
        EnabledSslProtocols = ClusterTrust.Protocols,
        ClientCertificateRequired = true,
        RemoteCertificateValidationCallback = (_, presented, chain, _) =>
        {
            if (presented is null)
            {
                return true;
            }

            using var leaf = X509CertificateLoader.LoadCertificate(presented.GetRawCertData());
            return Trust.Problem(leaf, [.. chain?.ChainElements.Select(e => e.Certificate) ?? [], .. ChainOf()]) is null;
        },
    };

    /// <summary>The CA saved in <paramref name="dataDirectory"/>, made anew when <paramref name="bootstrap"/> finds none; null when there is none to load.</summary>
    public static MemberTls? Load(string dataDirectory, string name, IReadOnlyList<IPAddress> addresses, bool bootstrap, ClusterTrust? given, string? raftEndpoint = null)
    {
        var folder = Path.Combine(dataDirectory, "pki");
        var pki = ClusterPki.Load(folder);
        if (pki is null && bootstrap && given is null)
        {
            pki = ClusterPki.Create(name.Length > 0 ? name : "zerocloud", DateTimeOffset.UtcNow);
            pki.Save(folder);
        }

        if (pki is null)
        {
            return given is null ? null : new MemberTls(folder, name, addresses, raftEndpoint, given, null);
        }

        if (given is not null && ClusterPki.Fingerprint(pki.Root) != given.Fingerprint)
        {
            throw new InvalidOperationException($"{folder} holds the CA of another cluster (root {ClusterPki.Fingerprint(pki.Root)[..16]}…) than --ca-file ({given.Fingerprint[..16]}…)");
        }

        var tls = new MemberTls(folder, name, addresses, raftEndpoint, new ClusterTrust(X509CertificateLoader.LoadCertificate(pki.Root.RawData)), pki);
        tls.LoadOrIssue(DateTimeOffset.UtcNow);
        return tls;
    }

    /// <summary>Uses the saved certificate while it is before two thirds of its life and names this member's addresses; else issues a new one.</summary>
    public void LoadOrIssue(DateTimeOffset now)
    {
        var certFile = Path.Combine(_folder, "member.crt");
        var keyFile = Path.Combine(_folder, "member.key");
        X509Certificate2? leaf = null;
        if (File.Exists(certFile) && File.Exists(keyFile))
        {
            leaf = X509Certificate2.CreateFromPemFile(certFile, keyFile);
            // Renewed early when it names another Raft endpoint (or none, made before certificates named one).
            if (NeedsRenewal(leaf, now) || Trust.Problem(leaf, ChainOf()) is not null || (_raft is not null && ClusterPki.RaftEndpointOf(leaf) != _raft))
            {
                leaf.Dispose();
                leaf = null;
            }
        }

        if (leaf is null)
        {
            if (Pki is null)
            {
                return;
            }

            leaf = Pki.IssueWithKey("member", _name.Length > 0 ? _name : "member", _addresses, ["localhost"], ClusterPki.MemberLifetime, now, _raft);
            Save(leaf);
        }

        Use(leaf);
    }

    /// <summary>Whether <paramref name="leaf"/> is past two thirds of its life at <paramref name="now"/>.</summary>
    public static bool NeedsRenewal(X509Certificate2 leaf, DateTimeOffset now) => ClusterPki.PastTwoThirds(leaf, now);

    /// <summary>Renews the certificate when it is past two thirds of its life; true when it did.</summary>
    public bool RenewIfDue(DateTimeOffset now)
    {
        if (Pki is null || _leaf is null || !NeedsRenewal(_leaf, now))
        {
            return false;
        }

        var leaf = Pki.IssueWithKey("member", _name.Length > 0 ? _name : "member", _addresses, ["localhost"], ClusterPki.MemberLifetime, now, _raft);
        Save(leaf);
        Use(leaf);
        return true;
    }

    /// <summary>
    /// A joining member: makes a key, sends its CSR to <paramref name="peers"/> in turn (each verified against the root)
    /// with <paramref name="credential"/>, and keeps the certificate and the CA it receives. Retries until one answers.
    /// </summary>
    public async Task EnrollAsync(IReadOnlyList<string> peers, string? credential, Action<string> log, CancellationToken ct, Func<X509Certificate2?>? nodeIdentity = null)
    {
        // As the node it runs on: its client certificate when it has one, else the bearer credential.
        using var http = Trust.Client(TimeSpan.FromSeconds(15), nodeIdentity);
        if (credential is not null && nodeIdentity is null)
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", credential);
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest($"CN={(_name.Length > 0 ? _name : "member")}", key, HashAlgorithmName.SHA256).CreateSigningRequestPem();
        var request = new MemberCertificateRequest(csr, [.. _addresses.Select(a => a.ToString())], _raft);
        for (var attempt = 0; !ct.IsCancellationRequested; attempt++)
        {
            var peer = peers[attempt % peers.Count].TrimEnd('/');
            try
            {
                using var response = await http.PostAsJsonAsync($"{peer}/v1/pki/member", request, ControlJsonContext.Default.MemberCertificateRequest, ct).ConfigureAwait(false);
                if (response.IsSuccessStatusCode && await response.Content.ReadFromJsonAsync(ControlJsonContext.Default.MemberCertificateResponse, ct).ConfigureAwait(false) is { } answer)
                {
                    var pki = ClusterPki.FromPem(answer.Root, answer.Issuing, answer.IssuingKey);
                    if (ClusterPki.Fingerprint(pki.Root) != Trust.Fingerprint)
                    {
                        throw new InvalidOperationException($"{peer} sent the CA of another cluster");
                    }

                    pki.Save(_folder);
                    Pki = pki;
                    using var issued = X509Certificate2.CreateFromPem(answer.Certificate);
                    var leaf = issued.CopyWithPrivateKey(key);
                    Save(leaf);
                    Use(leaf);
                    log($"received this member's certificate and the cluster CA from {peer}");
                    return;
                }

                log($"{peer} did not sign this member's certificate ({(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false)}); retrying");
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException or CryptographicException && !ct.IsCancellationRequested)
            {
                log($"{peer} could not sign this member's certificate ({ex.Message}); retrying");
            }

            await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
        }
    }

    private X509Certificate2[] ChainOf() => Pki is null ? [] : [Pki.Issuing, Pki.Root];

    private void Save(X509Certificate2 leaf)
    {
        File.WriteAllText(Path.Combine(_folder, "member.crt"), leaf.ExportCertificatePem() + "\n");
        using var key = leaf.GetECDsaPrivateKey()!;
        SecretFile.Write(Path.Combine(_folder, "member.key"), key.ExportPkcs8PrivateKeyPem());
    }

    private void Use(X509Certificate2 leaf)
    {
        var chain = new X509Certificate2Collection();
        if (Pki is not null)
        {
            chain.Add(X509CertificateLoader.LoadCertificate(Pki.Issuing.RawData));
            chain.Add(X509CertificateLoader.LoadCertificate(Pki.Root.RawData));
        }

        _context = SslStreamCertificateContext.Create(leaf, chain, offline: true);
        Interlocked.Exchange(ref _leaf, leaf);
    }

    public void Dispose()
    {
        _leaf?.Dispose();
        Pki?.Dispose();
    }
}
