using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Images;
using ZeroCloud.Model.Pki;

namespace ZeroCloud.Model.Tests;

public class ImageSigningTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    private static readonly byte[] Manifest = Encoding.UTF8.GetBytes(
        """{"name":"hello","version":"1.0","kernel":"6.1","commandLine":"","files":[{"name":"initrd.img","size":3,"sha256":"""
        + "\"" + new string('a', 64) + "\"}],\"modules\":[],\"libraries\":[],\"binarySize\":1}");

    [Fact]
    public void A_manifest_signed_by_the_cluster_verifies_against_its_root()
    {
        using var pki = ClusterPki.Create("lab", Now);
        using var signer = pki.IssueImageSigner("seed", Now);
        var signature = ImageSigning.Sign(Manifest, signer, pki.Issuing, Now);
        using var root = X509CertificateLoader.LoadCertificate(pki.Root.RawData);
        Assert.Null(ImageSigning.Problem(Manifest, signature, root, "image hello"));
    }

    [Fact]
    public void An_altered_manifest_is_refused()
    {
        using var pki = ClusterPki.Create("lab", Now);
        using var signer = pki.IssueImageSigner("seed", Now);
        var signature = ImageSigning.Sign(Manifest, signer, pki.Issuing, Now);
        var altered = (byte[])Manifest.Clone();
        altered[^3] ^= 1;
        var problem = ImageSigning.Problem(altered, signature, pki.Root, "image hello");
        Assert.NotNull(problem);
        Assert.Contains("altered", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_manifest_signed_by_another_clusters_CA_is_refused()
    {
        using var ours = ClusterPki.Create("lab", Now);
        using var theirs = ClusterPki.Create("lab", Now);
        using var signer = theirs.IssueImageSigner("seed", Now);
        var signature = ImageSigning.Sign(Manifest, signer, theirs.Issuing, Now);
        var problem = ImageSigning.Problem(Manifest, signature, ours.Root, "image hello@sha256:1234");
        Assert.NotNull(problem);
        Assert.StartsWith("image hello@sha256:1234: signed by", problem, StringComparison.Ordinal);
        Assert.Contains("does not chain to this cluster's root", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unsigned_manifest_and_one_signed_by_a_node_certificate_are_refused()
    {
        using var pki = ClusterPki.Create("lab", Now);
        Assert.Contains("is not signed", ImageSigning.Problem(Manifest, [], pki.Root, "image hello"), StringComparison.Ordinal);

        // A node's TLS certificate chains to the root too, but it may not sign images.
        using var node = pki.IssueWithKey("node", "s001", [], [], ClusterPki.NodeLifetime, Now);
        var signature = ImageSigning.Sign(Manifest, node, pki.Issuing, Now);
        Assert.Contains("not an image signer", ImageSigning.Problem(Manifest, signature, pki.Root, "image hello"), StringComparison.Ordinal);
        Assert.Contains("not a CMS signature", ImageSigning.Problem(Manifest, RandomNumberGenerator.GetBytes(64), pki.Root, "image hello"), StringComparison.Ordinal);
    }

    [Fact]
    public void The_manifest_parser_names_what_is_wrong()
    {
        Assert.NotNull(ImageManifest.Parse(Manifest, out var problem));
        Assert.Null(problem);
        Assert.Null(ImageManifest.Parse("{"u8, out problem));
        Assert.Contains("not valid JSON", problem, StringComparison.Ordinal);
        Assert.Null(ImageManifest.Parse(Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(Manifest).Replace("initrd.img", "../../etc/passwd", StringComparison.Ordinal)), out problem));
        Assert.Contains("an image has vmlinuz and initrd.img", problem, StringComparison.Ordinal);
        Assert.Null(ImageManifest.Parse(Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(Manifest).Replace(new string('a', 64), "xyz", StringComparison.Ordinal)), out problem));
        Assert.Contains("not 64 lower-case hex digits", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Pinned_image_references_parse()
    {
        var digest = "sha256:" + new string('b', 64);
        Assert.Null(Inputs.Image("hello@" + digest));
        Assert.NotNull(Inputs.Image("Hello@" + digest));
        Assert.NotNull(Inputs.Image("hello@sha256:12"));
        Assert.Equal(new ImageReference("hello", digest), ImageReference.Parse("hello@" + digest));
        Assert.Equal(new ImageReference("hello", null), ImageReference.Parse("builtin/hello"));
        Assert.Equal(new ImageReference(null, digest), ImageReference.Parse(digest));
        Assert.Null(ImageReference.Parse("docker.io/hello"));
    }

    [Fact]
    public void Retention_keeps_the_current_the_previous_the_pinned_and_the_recent()
    {
        static ImageVersionDto V(int n, DateTime at) => new("sha256:" + new string((char)('a' + n), 64), $"v{n}", "{}", "", at);
        var t0 = Now.UtcDateTime;
        var grace = TimeSpan.FromHours(1);
        var (image, dropped) = ImageRetention.Push(null, "hello", V(0, t0), new HashSet<string>(), t0, grace);
        Assert.Empty(dropped);
        (image, dropped) = ImageRetention.Push(image, "hello", V(1, t0.AddHours(1)), new HashSet<string>(), t0.AddHours(1), grace);
        // v0, retired an hour ago, is not the one before the current (v1 is), but stays for the wall clock's tolerance
        // (30 s: the time it was retired is another member's clock); a minute later it is dropped.
        (image, dropped) = ImageRetention.Push(image, "hello", V(2, t0.AddHours(2)), new HashSet<string>(), t0.AddHours(2).AddSeconds(20), grace);
        Assert.Empty(dropped);
        (image, dropped) = ImageRetention.Prune(image, new HashSet<string>(), t0.AddHours(2).AddMinutes(1), grace);
        Assert.Equal(["v0"], dropped.Select(d => d.Version));
        Assert.Equal(["v1", "v2"], image.Versions.Select(v => v.Version));
        Assert.Equal(V(2, t0).Digest, image.Current);

        // A pinned version stays however old; a recent one stays for the grace period.
        (image, _) = ImageRetention.Push(image, "hello", V(3, t0.AddHours(5)), new HashSet<string> { V(1, t0).Digest }, t0.AddHours(5), grace);
        (image, dropped) = ImageRetention.Push(image, "hello", V(4, t0.AddHours(5.5)), new HashSet<string> { V(1, t0).Digest }, t0.AddHours(5.5), grace);
        Assert.Empty(dropped);
        Assert.Equal(["v1", "v2", "v3", "v4"], image.Versions.Select(v => v.Version));
        (image, dropped) = ImageRetention.Prune(image, new HashSet<string>(), t0.AddHours(9), grace);
        Assert.Equal(["v1", "v2"], dropped.Select(d => d.Version));

        // Pushing an older version again makes it current; nothing is lost.
        (image, dropped) = ImageRetention.Push(image, "hello", V(3, t0.AddHours(10)), new HashSet<string>(), t0.AddHours(10), grace);
        Assert.Empty(dropped);
        Assert.Equal(V(3, t0).Digest, image.Current);
        Assert.Null(image.Version(V(3, t0).Digest)!.Retired);
    }
}
