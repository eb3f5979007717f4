using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ZeroCloud.Model.Pki;

/// <summary>
/// The cluster's certificate authority, made with the BCL (<see cref="CertificateRequest"/>, ECDSA P-256): a root that
/// signs one issuing CA, which signs every leaf. Kept as PEM files in a member's data folder (<c>pki/</c>, keys 0600);
/// never in the key/value store. A leaf names its holder in a URI SAN, <c>urn:zerocloud:&lt;role&gt;:&lt;name&gt;</c>.
/// </summary>
public sealed class ClusterPki : IDisposable
{
    /// <summary>How long the root lives.</summary>
    public static readonly TimeSpan RootLifetime = TimeSpan.FromDays(3650);

    /// <summary>How long the issuing CA lives.</summary>
    public static readonly TimeSpan IssuingLifetime = TimeSpan.FromDays(1825);

    /// <summary>How long a member's certificate lives; a member renews its own at two thirds of that.</summary>
    public static readonly TimeSpan MemberLifetime = TimeSpan.FromDays(90);

    /// <summary>A node's client certificate lives a day; its agent renews it at two thirds of that.</summary>
    public static readonly TimeSpan NodeLifetime = TimeSpan.FromHours(24);

    /// <summary>Whether <paramref name="leaf"/> is past two thirds of its life at <paramref name="now"/> (when members and nodes renew).</summary>
    public static bool PastTwoThirds(X509Certificate2 leaf, DateTimeOffset now)
    {
        var life = leaf.NotAfter.ToUniversalTime() - leaf.NotBefore.ToUniversalTime();
        return now.UtcDateTime >= leaf.NotBefore.ToUniversalTime() + (life * 2 / 3);
    }

    /// <summary>The leaf and the issuing CA as PEM, leaf first: what a node is handed, and presents.</summary>
    public string ChainPem(X509Certificate2 leaf) => leaf.ExportCertificatePem() + "\n" + Issuing.ExportCertificatePem() + "\n";

    private ClusterPki(X509Certificate2 root, X509Certificate2 issuing)
    {
        Root = root;
        Issuing = issuing;
    }

    /// <summary>The root (public part only once loaded from a member that is not the first).</summary>
    public X509Certificate2 Root { get; }

    /// <summary>The issuing CA, with its private key.</summary>
    public X509Certificate2 Issuing { get; }

    /// <summary>A new root and issuing CA for the cluster <paramref name="cluster"/>.</summary>
    public static ClusterPki Create(string cluster, DateTimeOffset now)
    {
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootRequest = new CertificateRequest($"CN=ZeroCloud root CA, O={Escape(cluster)}", rootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        rootRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootRequest.PublicKey, false));
        var root = rootRequest.CreateSelfSigned(now.AddMinutes(-5), now + RootLifetime);

        using var issuingKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issuingRequest = new CertificateRequest($"CN=ZeroCloud issuing CA, O={Escape(cluster)}", issuingKey, HashAlgorithmName.SHA256);
        issuingRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        issuingRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        issuingRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(issuingRequest.PublicKey, false));
        issuingRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, true, false));
        using var issuingPublic = issuingRequest.Create(root, now.AddMinutes(-5), now + IssuingLifetime, Serial());
        var issuing = issuingPublic.CopyWithPrivateKey(issuingKey);
        return new ClusterPki(root, issuing);
    }

    /// <summary>
    /// Signs a leaf for <paramref name="publicKey"/>: role and name in its URI SAN, the addresses and DNS names it serves
    /// under, usable for TLS servers and clients, for <paramref name="lifetime"/>.
    /// </summary>
    public X509Certificate2 Issue(PublicKey publicKey, string role, string name, IEnumerable<IPAddress> addresses, IEnumerable<string> dnsNames, TimeSpan lifetime, DateTimeOffset now, string? raftEndpoint = null)
    {
        var request = new CertificateRequest(new X500DistinguishedName($"CN={Escape(name)}, OU={Escape(role)}"), publicKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(Identity(role, name));
        if (raftEndpoint is not null)
        {
            san.AddUri(Identity(RaftRole, raftEndpoint));
        }

        foreach (var address in addresses)
        {
            san.AddIpAddress(address);
        }

        foreach (var dns in dnsNames)
        {
            san.AddDnsName(dns);
        }

        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Issuing, true, false));
        var notAfter = now + lifetime;
        if (notAfter > Issuing.NotAfter)
        {
            notAfter = Issuing.NotAfter;
        }

        return request.Create(Issuing, now.AddMinutes(-5), notAfter, Serial());
    }

    /// <summary>A member's certificate with a new key of its own: for the first member (which holds the CA) and for renewals.</summary>
    public X509Certificate2 IssueWithKey(string role, string name, IEnumerable<IPAddress> addresses, IEnumerable<string> dnsNames, TimeSpan lifetime, DateTimeOffset now, string? raftEndpoint = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var leaf = Issue(new CertificateRequest("CN=x", key, HashAlgorithmName.SHA256).PublicKey, role, name, addresses, dnsNames, lifetime, now, raftEndpoint);
        return leaf.CopyWithPrivateKey(key);
    }

    /// <summary>The role in the URI SAN of the certificates that sign image manifests (<see cref="ImageSigning"/>).</summary>
    public const string ImageSignerRole = "images";

    /// <summary>Code signing (RFC 5280 id-kp-codeSigning): the only use of an image signer's certificate.</summary>
    public const string CodeSigningOid = "1.3.6.1.5.5.7.3.3";

    /// <summary>
    /// A certificate (with a new key) that signs image manifests: issued by the issuing CA, usable for code signing only,
    /// named <c>urn:zerocloud:images:&lt;member&gt;</c>; it lives as long as the issuing CA.
    /// </summary>
    public X509Certificate2 IssueImageSigner(string member, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={Escape(member)}, OU={ImageSignerRole}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(CodeSigningOid)], true));
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(Identity(ImageSignerRole, member));
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Issuing, true, false));
        using var leaf = request.Create(Issuing, now.AddMinutes(-5), Issuing.NotAfter, Serial());
        return leaf.CopyWithPrivateKey(key);
    }

    /// <summary>The URI SAN that names a leaf's holder.</summary>
    public static Uri Identity(string role, string name) => new($"urn:zerocloud:{role}:{name}");

    /// <summary>
    /// The second URI SAN of a member certificate, <c>urn:zerocloud:raft:&lt;ip&gt;:&lt;port&gt;</c>: where its Raft
    /// listens, which is how a Raft peer is found in the cluster's configuration (several members may share an address).
    /// </summary>
    public const string RaftRole = "raft";

    /// <summary>The role and name in a leaf's first URI SAN of ours; null when it has none.</summary>
    public static (string Role, string Name)? IdentityOf(X509Certificate2 leaf) =>
        IdentitiesOf(leaf).Where(i => i.Role != RaftRole).Select(i => ((string Role, string Name)?)i).FirstOrDefault();

    /// <summary>The Raft endpoint a member certificate names (<see cref="RaftRole"/>); null when it names none.</summary>
    public static string? RaftEndpointOf(X509Certificate2 leaf) =>
        IdentitiesOf(leaf).Where(i => i.Role == RaftRole).Select(i => i.Name).FirstOrDefault();

    private static IEnumerable<(string Role, string Name)> IdentitiesOf(X509Certificate2 leaf)
    {
        foreach (var extension in leaf.Extensions)
        {
            if (extension is X509SubjectAlternativeNameExtension)
            {
                var reader = new System.Formats.Asn1.AsnReader(extension.RawData, System.Formats.Asn1.AsnEncodingRules.DER).ReadSequence();
                while (reader.HasData)
                {
                    var tag = reader.PeekTag();
                    if (tag.TagClass == System.Formats.Asn1.TagClass.ContextSpecific && tag.TagValue == 6)
                    {
                        var uri = reader.ReadCharacterString(System.Formats.Asn1.UniversalTagNumber.IA5String, tag);
                        var parts = uri.Split(':', 4);
                        if (parts is ["urn", "zerocloud", var role, var name])
                        {
                            yield return (role, name);
                        }
                    }
                    else
                    {
                        reader.ReadEncodedValue();
                    }
                }
            }
        }
    }

    /// <summary>The SHA-256 of a certificate's DER, lower-case hex: how a root is pinned (<c>zc.ca=</c>).</summary>
    public static string Fingerprint(X509Certificate2 certificate) => Convert.ToHexStringLower(certificate.GetCertHash(HashAlgorithmName.SHA256));

    private const string RootFile = "root.crt";
    private const string RootKeyFile = "root.key";
    private const string IssuingFile = "ca.crt";
    private const string IssuingKeyFile = "ca.key";

    /// <summary>Writes the CA to <paramref name="folder"/> (0700; keys 0600). The root's key is written only when this copy has it.</summary>
    public void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        File.WriteAllText(Path.Combine(folder, RootFile), Root.ExportCertificatePem() + "\n");
        File.WriteAllText(Path.Combine(folder, IssuingFile), Issuing.ExportCertificatePem() + "\n");
        SecretFile.Write(Path.Combine(folder, IssuingKeyFile), Issuing.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        if (Root.GetECDsaPrivateKey() is { } rootKey)
        {
            using (rootKey)
            {
                SecretFile.Write(Path.Combine(folder, RootKeyFile), rootKey.ExportPkcs8PrivateKeyPem());
            }
        }
    }

    /// <summary>The CA saved in <paramref name="folder"/>; null when there is none (no issuing key there).</summary>
    public static ClusterPki? Load(string folder)
    {
        var issuingKey = Path.Combine(folder, IssuingKeyFile);
        if (!File.Exists(issuingKey))
        {
            return null;
        }

        var rootKey = Path.Combine(folder, RootKeyFile);
        var root = File.Exists(rootKey) ? X509Certificate2.CreateFromPemFile(Path.Combine(folder, RootFile), rootKey) : X509CertificateLoader.LoadCertificateFromFile(Path.Combine(folder, RootFile));
        return new ClusterPki(root, X509Certificate2.CreateFromPemFile(Path.Combine(folder, IssuingFile), issuingKey));
    }

    /// <summary>The CA from PEM text received from another member: the root (no key), the issuing CA and its key.</summary>
    public static ClusterPki FromPem(string rootPem, string issuingPem, string issuingKeyPem) =>
        new(X509Certificate2.CreateFromPem(rootPem), X509Certificate2.CreateFromPem(issuingPem, issuingKeyPem));

    /// <summary>The issuing CA's key as PKCS#8 PEM (for a new member, over TLS only).</summary>
    public string IssuingKeyPem()
    {
        using var key = Issuing.GetECDsaPrivateKey()!;
        return key.ExportPkcs8PrivateKeyPem();
    }

    /// <summary>
    /// The root and issuing CA with their keys, each key encrypted to <paramref name="passphrase"/> (PKCS#8, PBES2 with
    /// AES-256-CBC and PBKDF2-SHA256, 600,000 iterations): what <c>zc pki backup</c> writes.
    /// </summary>
    public string Backup(string passphrase)
    {
        var parameters = new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 600_000);
        var text = new System.Text.StringBuilder();
        text.AppendLine(Root.ExportCertificatePem());
        if (Root.GetECDsaPrivateKey() is { } rootKey)
        {
            using (rootKey)
            {
                text.AppendLine(rootKey.ExportEncryptedPkcs8PrivateKeyPem(passphrase, parameters));
            }
        }

        text.AppendLine(Issuing.ExportCertificatePem());
        using (var issuingKey = Issuing.GetECDsaPrivateKey()!)
        {
            text.AppendLine(issuingKey.ExportEncryptedPkcs8PrivateKeyPem(passphrase, parameters));
        }

        return text.ToString();
    }

    /// <summary>Reads a backup made by <see cref="Backup"/>; throws <see cref="CryptographicException"/> on a wrong passphrase.</summary>
    public static ClusterPki Restore(string backup, string passphrase)
    {
        var certificates = new List<X509Certificate2>();
        var keys = new List<ECDsa>();
        foreach (var (label, pem) in PemBlocks(backup))
        {
            if (label == "CERTIFICATE")
            {
                certificates.Add(X509Certificate2.CreateFromPem(pem));
            }
            else if (label == "ENCRYPTED PRIVATE KEY")
            {
                var key = ECDsa.Create();
                key.ImportFromEncryptedPem(pem, passphrase);
                keys.Add(key);
            }
        }

        if (certificates.Count != 2 || keys.Count is < 1 or > 2)
        {
            throw new CryptographicException($"not a ZeroCloud CA backup: {certificates.Count} certificates and {keys.Count} keys, expected 2 and 2");
        }

        var root = keys.Count == 2 ? certificates[0].CopyWithPrivateKey(keys[0]) : certificates[0];
        var issuing = certificates[1].CopyWithPrivateKey(keys[^1]);
        return new ClusterPki(root, issuing);
    }

    private static IEnumerable<(string Label, string Pem)> PemBlocks(string text)
    {
        var at = 0;
        while (true)
        {
            var begin = text.IndexOf("-----BEGIN ", at, StringComparison.Ordinal);
            if (begin < 0)
            {
                yield break;
            }

            var labelEnd = text.IndexOf("-----", begin + 11, StringComparison.Ordinal);
            var label = text[(begin + 11)..labelEnd];
            var endMarker = $"-----END {label}-----";
            var end = text.IndexOf(endMarker, labelEnd, StringComparison.Ordinal);
            if (end < 0)
            {
                yield break;
            }

            yield return (label, text[begin..(end + endMarker.Length)]);
            at = end + endMarker.Length;
        }
    }

    private static byte[] Serial() => RandomNumberGenerator.GetBytes(16) is var s ? [(byte)(s[0] & 0x7f), .. s[1..]] : [];

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace(",", "\\,", StringComparison.Ordinal).Replace("=", "\\=", StringComparison.Ordinal).Replace("+", "\\+", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);

    public void Dispose()
    {
        Root.Dispose();
        Issuing.Dispose();
    }
}
