using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace ZeroCloud.Model.Pki;

/// <summary>
/// What a client of the cluster trusts: its root certificate (from a file), or only the root's SHA-256 fingerprint (from
/// a kernel command line, <c>zc.ca=</c>), in which case the root is taken from the chain the server presents and kept
/// once its fingerprint matched. A server is accepted when its chain ends at that root
/// (<see cref="X509ChainTrustMode.CustomRootTrust"/>, no system roots) and its certificate names the address dialled.
/// </summary>
public sealed class ClusterTrust
{
    private readonly string _fingerprint;

    public ClusterTrust(X509Certificate2 root)
    {
        Root = root;
        _fingerprint = ClusterPki.Fingerprint(root);
    }

    private ClusterTrust(string fingerprint) => _fingerprint = fingerprint.ToLowerInvariant();

    /// <summary>Trust pinned by the root's fingerprint (64 hex digits).</summary>
    public static ClusterTrust Pinned(string fingerprint) =>
        fingerprint is { Length: 64 } && fingerprint.All(char.IsAsciiHexDigit) ? new ClusterTrust(fingerprint) : throw new ArgumentException($"\"{fingerprint}\" is not a SHA-256 fingerprint (64 hex digits)", nameof(fingerprint));

    /// <summary>Trust in the root certificate(s) in a PEM file.</summary>
    public static ClusterTrust FromFile(string path)
    {
        var collection = new X509Certificate2Collection();
        collection.ImportFromPemFile(path);
        return collection.Count > 0 ? new ClusterTrust(collection[^1]) : throw new ArgumentException($"{path} holds no certificate", nameof(path));
    }

    /// <summary>Trust in the root in a PEM file; null with the reason (file and what is wrong) when it cannot be read.</summary>
    public static ClusterTrust? TryFromFile(string path, out string? problem)
    {
        try
        {
            problem = null;
            return FromFile(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            problem = $"{path}: {ex.Message}";
            return null;
        }
    }

    /// <summary>Trust in a PEM root.</summary>
    public static ClusterTrust FromPem(string pem) => new(X509Certificate2.CreateFromPem(pem));

    /// <summary>The root; null while only its fingerprint is known and no server has shown it yet.</summary>
    public X509Certificate2? Root { get; private set; }

    /// <summary>The root's SHA-256 fingerprint.</summary>
    public string Fingerprint => _fingerprint;

    /// <summary>The TLS versions the cluster speaks.</summary>
    public const SslProtocols Protocols = SslProtocols.Tls13;

    /// <summary>Whether <paramref name="leaf"/> (with the intermediates in <paramref name="presented"/>) chains to the root; else why not.</summary>
    public string? Problem(X509Certificate2 leaf, X509Chain? presented) =>
        Problem(leaf, presented is null ? [] : [.. presented.ChainElements.Select(e => e.Certificate)]);

    /// <summary>Whether <paramref name="leaf"/> chains to the root through <paramref name="intermediates"/> (the root may be among them); else why not.</summary>
    public string? Problem(X509Certificate2 leaf, IReadOnlyList<X509Certificate2> intermediates)
    {
        var root = Root;
        if (root is null)
        {
            // Pinned: the root is the presented certificate with the pinned fingerprint.
            var pinned = intermediates.FirstOrDefault(c => ClusterPki.Fingerprint(c) == _fingerprint);
            if (pinned is not null)
            {
                root = X509CertificateLoader.LoadCertificate(pinned.RawData);
            }
        }

        if (root is null)
        {
            return $"the server's chain does not end at the cluster root {_fingerprint[..16]}…";
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        foreach (var certificate in intermediates)
        {
            chain.ChainPolicy.ExtraStore.Add(certificate);
        }

        if (!chain.Build(leaf))
        {
            return $"the certificate of {leaf.Subject} does not chain to the cluster root ({string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()))})";
        }

        if (ClusterPki.Fingerprint(chain.ChainElements[^1].Certificate) != _fingerprint)
        {
            return $"the certificate of {leaf.Subject} chains to another root than the cluster's";
        }

        Root ??= root;
        return null;
    }

    /// <summary>The check a TLS client runs on the server: chains to the root, names the host dialled.</summary>
    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) != 0)
        {
            return false;
        }

        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return Problem(leaf, chain) is null;
    }

    /// <summary>Takes <paramref name="pem"/> as the root when its fingerprint is the pinned one (from anywhere: the pin is what is trusted); false otherwise.</summary>
    public bool Accept(string pem)
    {
        try
        {
            var root = X509Certificate2.CreateFromPem(pem);
            if (ClusterPki.Fingerprint(root) == _fingerprint)
            {
                Root ??= root;
                return true;
            }

            root.Dispose();
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            // not a certificate
        }

        return Root is not null;
    }

    /// <summary>
    /// A pinned trust learns its root from <c>GET /v1/pki/root</c> of one of <paramref name="servers"/> (a TLS server
    /// does not send its self-signed root): the certificate is public, and it is kept only when its SHA-256 is the
    /// pinned one, so the connection that fetches it need not be verified. True once the root is known.
    /// </summary>
    public async Task<bool> LearnRootAsync(IEnumerable<string> servers, CancellationToken ct)
    {
        if (Root is not null)
        {
            return true;
        }

        // The fetched certificate is checked against the pin below; the connection itself proves nothing and need not.
#pragma warning disable CA5359
        using var http = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, _, _, _) => true, EnabledSslProtocols = Protocols },
        })
        { Timeout = TimeSpan.FromSeconds(10) };
#pragma warning restore CA5359
        foreach (var server in servers)
        {
            try
            {
                var pem = await http.GetStringAsync(new Uri(new Uri(server), "/v1/pki/root"), ct).ConfigureAwait(false);
                var root = X509Certificate2.CreateFromPem(pem);
                if (ClusterPki.Fingerprint(root) == _fingerprint)
                {
                    Root ??= root;
                    return true;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or System.Security.Cryptography.CryptographicException or UriFormatException && !ct.IsCancellationRequested)
            {
                // the next server
            }
        }

        return false;
    }

    /// <summary>
    /// An HTTP handler that trusts only the cluster: for the CLI, agents, services and members talking to the API. With
    /// <paramref name="clientCertificate"/> it presents that certificate (looked up per connection: it is renewed while
    /// running) when the server asks for one.
    /// </summary>
    public SocketsHttpHandler Handler(Func<X509Certificate2?>? clientCertificate = null) => HandlerWith(clientCertificate ?? ClientCertificate);

    /// <summary>The client certificate <see cref="Handler"/> presents when it is given none (a service's <c>--cert-file</c>).</summary>
    public Func<X509Certificate2?>? ClientCertificate { get; set; }

    private SocketsHttpHandler HandlerWith(Func<X509Certificate2?>? clientCertificate) => new()
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        UseCookies = false,
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        ConnectTimeout = TimeSpan.FromSeconds(5),
        SslOptions = new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = Validate,
            EnabledSslProtocols = Protocols,
            LocalCertificateSelectionCallback = clientCertificate is null ? null : (_, _, _, _, _) => clientCertificate()!,
        },
    };

    /// <summary>An HTTP client over <see cref="Handler"/>.</summary>
    public HttpClient Client(TimeSpan timeout, Func<X509Certificate2?>? clientCertificate = null) => new(Handler(clientCertificate)) { Timeout = timeout };

    /// <summary>
    /// An HTTP/2 client over <see cref="Handler"/> (HTTP/1.1 where the server offers no more): every call in flight
    /// shares one TLS connection (more only past the server's stream limit), for a caller that sends many small calls
    /// at once, such as a DHCP replica committing a burst of leases (one TLS handshake each, 64 at a time, left a busy
    /// machine's replicas ACKing seconds late).
    /// </summary>
    public HttpClient MultiplexedClient(TimeSpan timeout, Func<X509Certificate2?>? clientCertificate = null)
    {
        var handler = Handler(clientCertificate);
        handler.EnableMultipleHttp2Connections = true;
        return new(handler)
        {
            Timeout = timeout,
            DefaultRequestVersion = System.Net.HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };
    }
}
