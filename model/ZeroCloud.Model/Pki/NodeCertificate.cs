using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ZeroCloud.Model.Pki;

/// <summary>
/// A node's client certificate: its key is made here, in memory, and only a CSR leaves; the control plane signs it
/// (<c>urn:zerocloud:node:&lt;name&gt;</c>, <see cref="ClusterPki.NodeLifetime"/>) when the node joins, and again when
/// the node asks with its current certificate at two thirds of its life. <see cref="Current"/> is what the node's TLS
/// connections present; it changes under them (each new connection takes the newest).
/// </summary>
public sealed class NodeCertificate(string name, TimeProvider time) : IDisposable
{
    private readonly Lock _lock = new();
    private X509Certificate2? _current;
    private ECDsa? _pending;

    /// <summary>The certificate with its key; null until the control plane signed one.</summary>
    public X509Certificate2? Current
    {
        get
        {
            lock (_lock)
            {
                return _current;
            }
        }
    }

    /// <summary>A CSR for a new key (kept here until <see cref="Accept"/> takes the certificate signed for it).</summary>
    public string Request()
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        lock (_lock)
        {
            _pending?.Dispose();
            _pending = key;
        }

        return new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256).CreateSigningRequestPem();
    }

    /// <summary>The issuing CA's certificate(s) that came with the current certificate (PEM): what a TLS server sends after its leaf.</summary>
    public string IntermediatesPem { get; private set; } = "";

    /// <summary>Takes the certificate (PEM, leaf first) signed for the last <see cref="Request"/>; false when it is not for that key or not this node's.</summary>
    public bool Accept(string pem)
    {
        lock (_lock)
        {
            if (_pending is null)
            {
                return false;
            }

            using var leaf = X509Certificate2.CreateFromPem(pem);
            if (ClusterPki.IdentityOf(leaf) != ("node", name) || !leaf.GetECDsaPublicKey()!.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(_pending.ExportSubjectPublicKeyInfo()))
            {
                return false;
            }

            _current = ForTls(leaf.CopyWithPrivateKey(_pending));
            var all = new X509Certificate2Collection();
            all.ImportFromPem(pem);
            IntermediatesPem = string.Concat(all.Skip(1).Select(c => c.ExportCertificatePem() + "\n"));
            _pending.Dispose();
            _pending = null;
            return true;
        }
    }

    /// <summary>
    /// <paramref name="withKey"/> made usable as a TLS client certificate: on Windows SslStream needs the key in a
    /// PKCS#12 store; elsewhere the certificate is used as it is (a PKCS#12 round trip costs key derivation, which a
    /// thousand simulated nodes on one machine notice). Takes ownership of <paramref name="withKey"/>.
    /// </summary>
    public static X509Certificate2 ForTls(X509Certificate2 withKey)
    {
        ArgumentNullException.ThrowIfNull(withKey);
        if (!OperatingSystem.IsWindows())
        {
            return withKey;
        }

        using (withKey)
        {
            return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
        }
    }

    /// <summary>Whether the certificate is past two thirds of its life (or there is none) by this node's clock.</summary>
    public bool Due => Current is not { } leaf || ClusterPki.PastTwoThirds(leaf, time.GetUtcNow());

    /// <summary>
    /// When <see cref="Due"/>: a new key, its CSR to <paramref name="sign"/> (the control plane, reached with the current
    /// certificate), and the answer taken. True when it renewed.
    /// </summary>
    public async Task<bool> RenewIfDueAsync(Func<string, Task<string>> sign)
    {
        ArgumentNullException.ThrowIfNull(sign);
        if (!Due)
        {
            return false;
        }

        var pem = await sign(Request()).ConfigureAwait(false);
        return Accept(pem) ? true : throw new CryptographicException($"the control plane answered the CSR of node {name} with a certificate that is not for its key or its name");
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _pending?.Dispose();
            _current?.Dispose();
        }
    }
}
