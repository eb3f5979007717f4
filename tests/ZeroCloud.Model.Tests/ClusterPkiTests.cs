using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ZeroCloud.Model.Pki;

namespace ZeroCloud.Model.Tests;

public class ClusterPkiTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    [Fact]
    public void A_leaf_chains_to_its_cluster_root_and_names_its_holder()
    {
        using var pki = ClusterPki.Create("lab", Now);
        using var leaf = pki.IssueWithKey("member", "seed", [IPAddress.Parse("10.77.0.2")], ["localhost"], ClusterPki.MemberLifetime, Now);

        Assert.Null(new ClusterTrust(pki.Root).Problem(leaf, Chain(pki)));
        Assert.Equal(("member", "seed"), ClusterPki.IdentityOf(leaf));
        Assert.True(leaf.HasPrivateKey);
        Assert.True(leaf.NotAfter <= (Now + ClusterPki.MemberLifetime).UtcDateTime.AddSeconds(1));
        Assert.True(pki.Root.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.False(leaf.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
    }

    [Fact]
    public void A_member_certificate_names_its_raft_endpoint_apart_from_its_identity()
    {
        using var pki = ClusterPki.Create("lab", Now);
        using var leaf = pki.IssueWithKey("member", "seed", [IPAddress.Loopback], ["localhost"], ClusterPki.MemberLifetime, Now, "127.0.0.1:7071");
        Assert.Equal(("member", "seed"), ClusterPki.IdentityOf(leaf));
        Assert.Equal("127.0.0.1:7071", ClusterPki.RaftEndpointOf(leaf));
        using var plain = pki.IssueWithKey("member", "old", [IPAddress.Loopback], ["localhost"], ClusterPki.MemberLifetime, Now);
        Assert.Null(ClusterPki.RaftEndpointOf(plain));
    }

    [Fact]
    public void A_secret_opens_with_its_cluster_key_under_its_own_name_only()
    {
        using var pki = ClusterPki.Create("lab", Now);
        var box = SecretBox.For(pki);
        var value = "s3cret"u8.ToArray();
        var sealedValue = box.Seal("bmc", value, ["power"], Now.UtcDateTime, Now.UtcDateTime);
        Assert.Null(SecretBox.Problem(sealedValue));
        Assert.Equal(value, box.Open(sealedValue));
        // The same CA reloaded (another member's copy) derives the same key.
        var folder = Directory.CreateTempSubdirectory("zc-pki-").FullName;
        pki.Save(folder);
        using var copy = ClusterPki.Load(folder)!;
        Assert.Equal(value, SecretBox.For(copy).Open(sealedValue));

        Assert.Contains("altered or moved", Assert.Throws<CryptographicException>(() => box.Open(sealedValue with { Name = "other" })).Message, StringComparison.Ordinal);
        using var theirs = ClusterPki.Create("lab", Now);
        Assert.Contains("another CA", Assert.Throws<CryptographicException>(() => SecretBox.For(theirs).Open(sealedValue)).Message, StringComparison.Ordinal);
        Assert.Equal("the tag is not 16 bytes of base64", SecretBox.Problem(sealedValue with { Tag = "AAAA" }));
    }

    [Fact]
    public void A_leaf_of_another_cluster_is_refused_by_root_and_by_pin()
    {
        using var ours = ClusterPki.Create("lab", Now);
        using var theirs = ClusterPki.Create("lab", Now);
        using var foreign = theirs.IssueWithKey("member", "seed", [IPAddress.Loopback], [], ClusterPki.MemberLifetime, Now);

        Assert.NotNull(new ClusterTrust(ours.Root).Problem(foreign, Chain(theirs)));
        Assert.NotNull(ClusterTrust.Pinned(ClusterPki.Fingerprint(ours.Root)).Problem(foreign, Chain(theirs)));
    }

    [Fact]
    public void A_pinned_fingerprint_learns_the_root_from_the_first_chain_that_matches()
    {
        using var pki = ClusterPki.Create("lab", Now);
        using var leaf = pki.IssueWithKey("member", "m1", [IPAddress.Loopback], [], ClusterPki.MemberLifetime, Now);
        var trust = ClusterTrust.Pinned(ClusterPki.Fingerprint(pki.Root));
        Assert.Null(trust.Root);

        Assert.Null(trust.Problem(leaf, Chain(pki)));
        Assert.Equal(pki.Root.RawData, trust.Root!.RawData);
        Assert.Throws<ArgumentException>(() => ClusterTrust.Pinned("not-a-fingerprint"));
    }

    [Fact]
    public void Saved_and_loaded_the_ca_signs_alike_and_keeps_its_keys_owner_only()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"zc-pki-{Guid.NewGuid():N}");
        try
        {
            using (var pki = ClusterPki.Create("lab", Now))
            {
                pki.Save(folder);
            }

            using var loaded = ClusterPki.Load(folder)!;
            using var leaf = loaded.IssueWithKey("member", "m2", [IPAddress.Loopback], [], ClusterPki.MemberLifetime, Now);
            Assert.Null(ClusterTrust.FromFile(Path.Combine(folder, "root.crt")).Problem(leaf, Chain(loaded)));
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(folder, "ca.key")));
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(folder, "root.key")));
            }

            Assert.Null(ClusterPki.Load(Path.Combine(folder, "nothing-here")));
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    [Fact]
    public void A_backup_holds_no_key_in_the_clear_and_restores_only_with_its_passphrase()
    {
        using var pki = ClusterPki.Create("lab", Now);
        var backup = pki.Backup("correct horse battery staple");

        Assert.DoesNotContain("BEGIN PRIVATE KEY", backup, StringComparison.Ordinal);
        Assert.Equal(2, backup.Split("BEGIN ENCRYPTED PRIVATE KEY").Length - 1);
        Assert.ThrowsAny<CryptographicException>(() => ClusterPki.Restore(backup, "wrong"));

        using var restored = ClusterPki.Restore(backup, "correct horse battery staple");
        Assert.Equal(pki.Root.RawData, restored.Root.RawData);
        Assert.True(restored.Root.HasPrivateKey);
        using var leaf = restored.IssueWithKey("admin", "ops", [], [], TimeSpan.FromDays(1), Now);
        Assert.Null(new ClusterTrust(pki.Root).Problem(leaf, Chain(restored)));
    }

    private static X509Chain Chain(ClusterPki pki)
    {
        var chain = new X509Chain();
        chain.ChainPolicy.ExtraStore.Add(pki.Issuing);
        chain.ChainPolicy.ExtraStore.Add(pki.Root);
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(pki.Root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.Build(pki.Issuing);
        return chain;
    }
}
