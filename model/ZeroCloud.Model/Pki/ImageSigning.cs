using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;

namespace ZeroCloud.Model.Pki;

/// <summary>
/// Signatures on image manifests: a detached CMS SignedData (RFC 5652, <see cref="SignedCms"/>) over the manifest's exact
/// bytes, made by a member at <c>zc image push</c> with an image signer certificate from the cluster's issuing CA
/// (<see cref="ClusterPki.IssueImageSigner"/>), which travels in the signature with the issuing CA. Whoever runs an
/// image (the agent, <c>zc-node --firmware</c>) checks the signature and that its signer chains to the cluster's root
/// before it trusts a digest the manifest names.
/// </summary>
public static class ImageSigning
{
    private static readonly Oid Sha256 = new("2.16.840.1.101.3.4.2.1");

    /// <summary>Signs <paramref name="manifest"/> with <paramref name="signer"/> (with its key); the issuing CA goes into the signature too.</summary>
    public static byte[] Sign(ReadOnlySpan<byte> manifest, X509Certificate2 signer, X509Certificate2 issuing, DateTimeOffset now)
    {
        var cms = new SignedCms(new ContentInfo(manifest.ToArray()), detached: true);
        var cmsSigner = new CmsSigner(SubjectIdentifierType.IssuerAndSerialNumber, signer)
        {
            IncludeOption = X509IncludeOption.EndCertOnly,
            DigestAlgorithm = Sha256,
        };
        cmsSigner.Certificates.Add(X509CertificateLoader.LoadCertificate(issuing.RawData));
        cmsSigner.SignedAttributes.Add(new Pkcs9SigningTime(now.UtcDateTime));
        cms.ComputeSignature(cmsSigner, silent: true);
        return cms.Encode();
    }

    /// <summary>
    /// Null when <paramref name="signature"/> is a signature of this cluster on exactly <paramref name="manifest"/>: it
    /// verifies, and its signer is an image signer whose chain ends at <paramref name="root"/> at the time it signed.
    /// Else what is wrong, starting with <paramref name="what"/> (e.g. "image hello@sha256:…").
    /// </summary>
    public static string? Problem(ReadOnlySpan<byte> manifest, ReadOnlySpan<byte> signature, X509Certificate2 root, string what)
    {
        if (signature.IsEmpty)
        {
            return $"{what} is not signed: its manifest has no signature (push it with zc image push)";
        }

        var cms = new SignedCms(new ContentInfo(manifest.ToArray()), detached: true);
        try
        {
            cms.Decode(signature);
        }
        catch (CryptographicException ex)
        {
            return $"{what}: its signature is not a CMS signature ({ex.Message})";
        }

        if (cms.SignerInfos.Count != 1)
        {
            return $"{what}: its signature has {cms.SignerInfos.Count} signers; the cluster signs with one";
        }

        var info = cms.SignerInfos[0];
        try
        {
            info.CheckSignature(verifySignatureOnly: true);
        }
        catch (CryptographicException)
        {
            return $"{what}: the signature does not match the manifest (it was altered after it was signed)";
        }

        if (info.Certificate is not { } signer)
        {
            return $"{what}: its signature carries no signer certificate";
        }

        if (ClusterPki.IdentityOf(signer) is not (ClusterPki.ImageSignerRole, _)
            || !signer.Extensions.OfType<X509EnhancedKeyUsageExtension>().Any(e => e.EnhancedKeyUsages.Cast<Oid>().Any(o => o.Value == ClusterPki.CodeSigningOid)))
        {
            return $"{what}: signed by {signer.Subject}, which is not an image signer of a cluster (no code-signing use, no urn:zerocloud:{ClusterPki.ImageSignerRole}: name)";
        }

        var signedAt = info.SignedAttributes.Cast<CryptographicAttributeObject>()
            .SelectMany(a => a.Values.Cast<AsnEncodedData>())
            .OfType<Pkcs9SigningTime>()
            .Select(t => (DateTime?)t.SigningTime)
            .FirstOrDefault() ?? DateTime.UtcNow;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.ExtraStore.AddRange(cms.Certificates);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = signedAt.ToLocalTime();
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(ClusterPki.CodeSigningOid));
        if (!chain.Build(signer) || !chain.ChainElements[^1].Certificate.RawData.AsSpan().SequenceEqual(root.RawData))
        {
            var why = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
            return $"{what}: signed by {signer.Issuer}, which does not chain to this cluster's root {ClusterPki.Fingerprint(root)[..16]}… ({(why.Length > 0 ? why : "another cluster's CA")}); refusing it";
        }

        return null;
    }
}
