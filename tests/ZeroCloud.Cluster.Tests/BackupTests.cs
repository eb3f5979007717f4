using Xunit.Abstractions;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Cluster.Tests;

/// <summary>
/// <c>zc backup</c> and <c>zc restore</c> with real processes: a backup restored into a new member's folder and
/// started with --bootstrap holds the same keys with the same revisions, members that join it are sent the state, a
/// damaged backup is refused before anything is written; and the way out when quorum is lost for good: a backup of
/// the survivor's own copy (--stale), restored, makes a working control plane again.
/// </summary>
[Collection("control")]
[Trait("Category", "Lab")]
public sealed class BackupTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("zc-backup-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private async Task<string> ZcAsync(ControlCluster cluster, int expected, params string[] args)
    {
        var (code, text) = await ControlCluster.RunDllAsync(ControlCluster.ZcDll, cluster.CredentialsFile, args);
        Assert.True(code == expected, $"zc {string.Join(' ', args)} exited {code}, expected {expected}:\n{text}");
        output.WriteLine($"$ zc {string.Join(' ', args)}\n{text.Trim()}");
        return text;
    }

    private static async Task<ControlMember> StartRestoredAsync(ControlCluster cluster, string name, string folder)
    {
        var member = new ControlMember(name, folder, ["--no-silo"]);
        member.Connect(cluster.Trust!, cluster.AdminCredential);
        member.Start("--bootstrap");
        await cluster.WaitForAsync(async () => (await member.Client.StatusAsync()).Role == "leader", $"the restored member {name} to lead");
        return member;
    }

    [LabFact]
    public async Task A_backup_restores_into_a_new_control_plane_with_the_same_keys_and_revisions_and_a_lost_quorum_is_recovered_from_a_survivor()
    {
        await using var cluster = await ControlCluster.StartAsync(3);
        var leader = cluster.Leader();
        await leader.Client.PutAsync("/app/a", "1");
        await leader.Client.PutAsync("/app/a", "2");
        await leader.Client.PutAsync("/app/c", "gone");
        await leader.Client.DeleteAsync("/app/c");
        for (var i = 0; i < 50; i++)
        {
            await leader.Client.PutAsync($"/app/many/{i:00}", new string('v', i * 10));
        }

        var file = Path.Combine(_root, "cluster.backup");
        var said = await ZcAsync(cluster, 0, "backup", "-o", file, "--server", leader.Api);
        Assert.Contains("backup of", said, StringComparison.Ordinal);
        var before = (await leader.Client.RangeAsync("/app/")).Kvs;

        // A damaged backup is refused, and nothing is written.
        var bad = Path.Combine(_root, "bad.backup");
        var bytes = await File.ReadAllBytesAsync(file);
        bytes[^10] ^= 0x01;
        await File.WriteAllBytesAsync(bad, bytes);
        var refused = await ZcAsync(cluster, 1, "restore", bad, "--data", Path.Combine(_root, "never"));
        Assert.Contains("does not match the SHA-256", refused, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_root, "never")));

        // Restored with the cluster's CA into a new member, started alone: the same keys with the same revisions.
        var restored = Path.Combine(_root, "r1");
        await ZcAsync(cluster, 0, "restore", file, "--data", restored, "--pki", Path.Combine(cluster.Members[0].DataDirectory, "pki"));
        await ZcAsync(cluster, 2, "restore", file, "--data", restored);
        await using var r1 = await StartRestoredAsync(cluster, "r1", restored);
        var after = (await r1.Client.RangeAsync("/app/")).Kvs;
        Assert.Equal(before, after);
        Assert.Null(await r1.Client.GetAsync("/app/c"));
        var write = await r1.Client.PutAsync("/app/new", "after the restore");
        Assert.True(write.Revision > before.Max(k => k.ModRevision));

        // A member that joins the restored control plane is sent the state (the snapshot the restore wrote).
        await using var r2 = new ControlMember("r2", Path.Combine(_root, "r2"), ["--no-silo"]);
        r2.Connect(cluster.Trust!, cluster.AdminCredential);
        r2.Identity = ["--token-file", cluster.AdminCredentialFile!, "--ca-file", cluster.CaFile!];
        r2.Start("--peers", r1.Api);
        await cluster.WaitForAsync(async () => (await r2.Client.RangeAsync("/app/", stale: true)).Kvs.Count == before.Count + 1, "the joined member to hold the restored state");
        Assert.Equal(before, (await r2.Client.RangeAsync("/app/", stale: true)).Kvs.Where(k => k.Key != "/app/new").ToList());

        // Quorum lost for good: two of the three old members are gone. The survivor refuses a linearizable backup,
        // gives its own copy with --stale, and that copy restored is a working control plane.
        await leader.Client.PutAsync("/app/last", "x");
        var survivor = cluster.Members.First(m => m != leader);
        await cluster.WaitForAsync(async () => (await survivor.Client.GetAsync("/app/last", stale: true)) is not null, "the survivor to have the last write");
        foreach (var m in cluster.Members.Where(m => m != survivor))
        {
            await m.KillAsync();
        }

        var lost = Path.Combine(_root, "lost.backup");
        var noQuorum = await ZcAsync(cluster, 2, "backup", "-o", lost, "--server", survivor.Api);
        Assert.Contains("needs the leader and a majority", noQuorum, StringComparison.Ordinal);
        Assert.Contains("its own copy, --stale", await ZcAsync(cluster, 0, "backup", "-o", lost, "--stale", "--server", survivor.Api), StringComparison.Ordinal);
        var recovered = Path.Combine(_root, "r3");
        await ZcAsync(cluster, 0, "restore", lost, "--data", recovered, "--pki", Path.Combine(survivor.DataDirectory, "pki"));
        await using var r3 = await StartRestoredAsync(cluster, "r3", recovered);
        Assert.Equal("x", (await r3.Client.GetAsync("/app/last"))!.Value);
        Assert.Equal(before.Count + 1, (await r3.Client.RangeAsync("/app/")).Kvs.Count);
        Assert.True((await r3.Client.PutAsync("/app/after-recovery", "y")).Succeeded);
    }
}
