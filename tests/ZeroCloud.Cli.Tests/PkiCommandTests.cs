using ZeroCloud.Model.Pki;

namespace ZeroCloud.Cli.Tests;

/// <summary>zc pki backup and restore: the CA leaves a member only encrypted, and comes back only with its passphrase.</summary>
public sealed class PkiCommandTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("zc-pki-cli-").FullName;

    [Fact]
    public void A_backup_restores_the_same_ca_into_an_empty_member_and_not_with_a_wrong_passphrase()
    {
        var member = Path.Combine(_root, "member");
        using (var ca = ClusterPki.Create("lab", DateTimeOffset.UtcNow))
        {
            ca.Save(Path.Combine(member, "pki"));
        }

        var passphrase = Path.Combine(_root, "passphrase");
        File.WriteAllText(passphrase, "correct horse battery staple\n");
        var backup = Path.Combine(_root, "ca.backup");
        var (code, stdout, stderr) = Zc.Run(["pki", "backup", "--data", member, "--passphrase-file", passphrase, "-o", backup]);
        Assert.True(code == 0, stderr);
        Assert.Contains("backed up the CA of root", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("BEGIN PRIVATE KEY", File.ReadAllText(backup), StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(backup));
        }

        var wrong = Path.Combine(_root, "wrong");
        File.WriteAllText(wrong, "not the passphrase at all\n");
        (code, _, stderr) = Zc.Run(["pki", "restore", "--data", Path.Combine(_root, "other"), "--passphrase-file", wrong, backup]);
        Assert.Equal(1, code);
        Assert.Contains("passphrase", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_root, "other", "pki", "ca.key")));

        var rebuilt = Path.Combine(_root, "rebuilt");
        (code, _, stderr) = Zc.Run(["pki", "restore", "--data", rebuilt, "--passphrase-file", passphrase, backup]);
        Assert.True(code == 0, stderr);
        using var original = ClusterPki.Load(Path.Combine(member, "pki"))!;
        using var restored = ClusterPki.Load(Path.Combine(rebuilt, "pki"))!;
        Assert.Equal(ClusterPki.Fingerprint(original.Root), ClusterPki.Fingerprint(restored.Root));
        Assert.Equal(ClusterPki.Fingerprint(original.Issuing), ClusterPki.Fingerprint(restored.Issuing));

        // Never over a CA that is there; a short passphrase is refused before anything is read.
        (code, _, stderr) = Zc.Run(["pki", "restore", "--data", rebuilt, "--passphrase-file", passphrase, backup]);
        Assert.Equal(2, code);
        Assert.Contains("holds a CA already", stderr, StringComparison.Ordinal);
        File.WriteAllText(wrong, "short\n");
        (code, _, stderr) = Zc.Run(["pki", "backup", "--data", member, "--passphrase-file", wrong, "-o", backup]);
        Assert.Equal(2, code);
        Assert.Contains("fewer than 12 characters", stderr, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_root, true);
}
