using ZeroCloud.Cluster.Tests.Lab;

namespace ZeroCloud.Cluster.Tests;

[Collection("control")]
[Trait("Category", "Lab")]
public class MembershipTests
{
    [Fact]
    public async Task Grows_from_one_to_three_to_five_shrinks_to_three_and_replaces_a_dead_member()
    {
        await using var cluster = await ControlCluster.StartAsync(1);
        await cluster.Members[0].Client.PutAsync("/k/0", "v");

        // 1 → 3 → 5: each new member asks a running one to add it (--peers) and catches up.
        for (var size = 2; size <= 5; size++)
        {
            cluster.Add();
            await cluster.WaitForMembersAsync(size);
            await cluster.Leader().Client.PutAsync($"/k/{size}", "v");
        }

        foreach (var m in cluster.Members)
        {
            await cluster.WaitForAsync(async () => (await m.Client.RangeAsync("/k/", stale: true)).Kvs.Count == 5, $"{m.Name} to hold every key");
        }

        // 5 → 3: remove two followers through any member, then stop them.
        var leader = cluster.Leader();
        var removed = cluster.Members.Where(m => m != leader).Take(2).ToList();
        var asker = cluster.Members.First(m => m != leader && !removed.Contains(m));
        foreach (var m in removed)
        {
            var after = await asker.Client.RemoveMemberAsync(m.RaftId);
            Assert.DoesNotContain(after.Members, x => x.Id == m.RaftId);
            await m.KillAsync();
        }

        await cluster.WaitForMembersAsync(3);
        await cluster.Leader().Client.PutAsync("/k/after-shrink", "v");

        // Replace a dead member: kill a follower, remove it, add a fresh one; writes go on throughout.
        leader = cluster.Leader();
        var dead = cluster.Members.First(m => m.IsRunning && m != leader);
        await dead.KillAsync();
        await leader.Client.PutAsync("/k/one-down", "v");
        await leader.Client.RemoveMemberAsync(dead.Name);
        var replacement = cluster.Add("replacement");
        await cluster.WaitForMembersAsync(3);
        await cluster.WaitForAsync(async () => (await replacement.Client.RangeAsync("/k/", stale: true)).Kvs.Count == 7, "the replacement to catch up");
        await cluster.WaitForAsync(
            async () =>
            {
                var members = (await replacement.Client.MembersAsync()).Members;
                return members.Count == 3 && members.Any(m => m.Id == replacement.RaftId) && members.All(m => m.Id != dead.RaftId);
            },
            "the replacement to see the new membership");

        // The membership survives restarts: every member restarted from its data comes back into the same 3.
        foreach (var m in cluster.Members.Where(m => m.IsRunning).ToList())
        {
            await m.KillAsync();
            m.Start();
            await cluster.WaitForAsync(async () => (await m.Client.MembersAsync()).Members.Count == 3, $"{m.Name} to know its cluster after a restart");
        }

        await cluster.WaitForLeaderAsync();
        await cluster.WaitForAsync(async () => (await cluster.Leader().Client.PutAsync("/k/end", "v")).Succeeded, "a write after the restarts");
    }

    [Fact]
    public async Task A_follower_behind_the_compacted_log_is_sent_a_snapshot()
    {
        await using var cluster = await ControlCluster.StartAsync(3, "--snapshot-every", "50");
        var leader = cluster.Leader();
        var lagging = cluster.Members.First(m => m != leader);
        await lagging.KillAsync();
        var writer = cluster.Members.First(m => m != leader && m != lagging);
        for (var i = 0; i < 300; i++)
        {
            await writer.Client.PutAsync($"/snap/{i:D3}", $"{i}");
        }

        var leaderStatus = await leader.Client.StatusAsync();
        Assert.True(leaderStatus.SnapshotIndex >= 250, $"the leader snapshotted (snapshot index {leaderStatus.SnapshotIndex})");

        lagging.Start();
        await cluster.WaitForAsync(async () => (await lagging.Client.RangeAsync("/snap/", stale: true)).Kvs.Count == 300, "the lagging member to catch up");
        Assert.Contains("restored snapshot", lagging.Output, StringComparison.Ordinal);
        await cluster.WaitForAsync(
            async () => (await Task.WhenAll(cluster.Members.Select(m => m.Client.StatusAsync()))).Select(s => s.Revision).Distinct().Count() == 1,
            "every member at the same revision");

        // Its watch history came with the snapshot: the last changes can be watched from it.
        var last = (await lagging.Client.GetAsync("/snap/299", stale: true))!.ModRevision;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await foreach (var e in lagging.Client.WatchAsync("/snap/", last, stop.Token))
        {
            Assert.Equal("/snap/299", e.Key);
            break;
        }
    }
}
