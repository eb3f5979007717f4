using System.Security.Cryptography.X509Certificates;

namespace ZeroCloud.Model.Pki;

/// <summary>
/// A client certificate kept in two PEM files (the certificate, and its key, 0600) that another process renews: read
/// again whenever either file changed, so each new TLS connection presents the newest. What the services a node's
/// agent starts (dhcp, netboot) present to the control plane: the node's certificate, written by the agent.
/// </summary>
public sealed class CertificateFiles(string certificateFile, string keyFile)
{
    private readonly Lock _lock = new();
    private X509Certificate2? _current;
    private (DateTime, DateTime) _stamp;

    /// <summary>Null with the reason when the files cannot be read as a certificate and its key.</summary>
    public string? Problem
    {
        get
        {
            try
            {
                return Current is null ? $"{certificateFile}, {keyFile}: no certificate" : null;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                return $"{certificateFile}, {keyFile}: {ex.Message}";
            }
        }
    }

    /// <summary>The certificate with its key, as the files hold it now.</summary>
    public X509Certificate2? Current
    {
        get
        {
            lock (_lock)
            {
                var stamp = (File.GetLastWriteTimeUtc(certificateFile), File.GetLastWriteTimeUtc(keyFile));
                if (_current is null || stamp != _stamp)
                {
                    try
                    {
                        _current = NodeCertificate.ForTls(X509Certificate2.CreateFromPemFile(certificateFile, keyFile));
                        _stamp = stamp;
                    }
                    catch (System.Security.Cryptography.CryptographicException) when (_current is not null)
                    {
                        // Caught between the key and the certificate being written: the previous pair until the next call.
                    }
                }

                return _current;
            }
        }
    }

    /// <summary>
    /// Writes <paramref name="certificate"/> (with its key) to the two files: the key first, 0600; <paramref name="intermediatesPem"/>
    /// (the issuing CA) after the leaf, so that a service that serves TLS with these files sends it.
    /// </summary>
    public static void Write(X509Certificate2 certificate, string certificateFile, string keyFile, string intermediatesPem = "")
    {
        using var key = certificate.GetECDsaPrivateKey() ?? throw new ArgumentException("the certificate has no ECDSA private key", nameof(certificate));
        SecretFile.Write(keyFile, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(certificateFile, certificate.ExportCertificatePem() + "\n" + intermediatesPem);
    }

    /// <summary>The certificates after the leaf in the certificate file (the issuing CA): what a TLS server sends with its leaf.</summary>
    public X509Certificate2Collection Intermediates()
    {
        var all = new X509Certificate2Collection();
        all.ImportFromPemFile(certificateFile);
        var rest = new X509Certificate2Collection();
        foreach (var c in all.Skip(1))
        {
            rest.Add(c);
        }

        return rest;
    }
}
