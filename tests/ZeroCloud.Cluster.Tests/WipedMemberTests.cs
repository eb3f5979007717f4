using ZeroCloud.Cluster.Raft;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Cluster.Tests;

/// <summary>
/// Issue 19: a member whose folder is wiped comes back under the same endpoint without its term and its vote. It is
/// removed from the configuration before its Raft node starts, joins as a new member that is sent the state, and no
/// member ever votes twice in a term: every member's votes.log (the wiped one's from before the wipe included) has
/// at most one candidate per term, through several elections forced after it rejoined.
/// </summary>
[Collection("control")]
[Trait("Category", "Lab")]
public sealed class WipedMemberTests
{
    [LabFact]
    public async Task A_wiped_member_is_removed_before_it_starts_rejoins_as_a_new_member_and_no_member_votes_twice_in_a_term()
    {
        await using var cluster = await ControlCluster.StartAsync(3);
        var leader = cluster.Leader();
        for (var i = 0; i < 20; i++)
        {
            await leader.Client.PutAsync($"/before/{i}", $"{i}");
        }

        // Elections before the wipe, so that the victim has votes to forget: the leader stops, one of the others leads.
        await ForceElectionAsync(cluster, leader);
        leader = await cluster.WaitForLeaderAsync();
        var victim = cluster.Members.Last(m => m != leader);
        await cluster.WaitForAsync(async () => (await victim.Client.GetAsync("/before/19", stale: true)) is not null, "the victim to have the writes");
        Assert.Equal(0, await victim.TerminateAsync(TimeSpan.FromSeconds(30)));
        var before = VoteRecordingLog.Read(victim.DataDirectory);
        Assert.NotEmpty(before);

        // Wiped: nothing left, not even its certificate; it starts with --peers (and the root, as any joining member).
        Directory.Delete(victim.DataDirectory, recursive: true);
        var adds = Count(cluster, "adding member");
        var removals = Count(cluster, "removing member");
        await leader.Client.PutAsync("/while-away", "yes");
        victim.Start("--peers", string.Join(',', cluster.Members.Where(m => m != victim).Select(m => m.Api)));
        await cluster.WaitForAsync(async () => (await victim.Client.GetAsync("/while-away", stale: true))?.Value == "yes", "the wiped member to rejoin and be sent the state");
        await cluster.WaitForMembersAsync(3);
        Assert.Contains("is a member of the cluster", victim.Output, StringComparison.Ordinal);
        Assert.Contains("it forgot its term and its vote, so it is removed from the configuration before it starts", victim.Output, StringComparison.Ordinal);
        Assert.Equal(removals + 1, Count(cluster, "removing member"));
        Assert.Equal(adds + 1, Count(cluster, "adding member"));
        Assert.Equal(20, (await victim.Client.RangeAsync("/before/", stale: true)).Kvs.Count);

        // More elections with it back; then no member voted for two candidates in one term, the wiped one's votes
        // from before the wipe counted with its new ones.
        for (var i = 0; i < 2; i++)
        {
            await ForceElectionAsync(cluster, await cluster.WaitForLeaderAsync());
        }

        await cluster.WaitForLeaderAsync();
        foreach (var member in cluster.Members)
        {
            var votes = VoteRecordingLog.Read(member.DataDirectory);
            if (member == victim)
            {
                votes = [.. before, .. votes];
            }

            Assert.NotEmpty(votes);
            var twice = votes.GroupBy(v => v.Term).Where(g => g.Select(v => v.Member).Distinct().Count() > 1).ToList();
            Assert.True(twice.Count == 0, $"{member.Name} voted twice in term(s) {string.Join(", ", twice.Select(g => $"{g.Key}: {string.Join(" and ", g.Select(v => v.Member).Distinct())}"))}");
        }
    }

    /// <summary>Lines with <paramref name="text"/> in every member's output (a membership change is logged by the member that makes it).</summary>
    private static int Count(ControlCluster cluster, string text) =>
        cluster.Members.Sum(m => m.Output.Split('\n').Count(l => l.Contains(text, StringComparison.Ordinal)));

    /// <summary>Stops the leader, waits for another to lead, and starts it again (with its folder: it remembers).</summary>
    private static async Task ForceElectionAsync(ControlCluster cluster, ControlMember leader)
    {
        Assert.Equal(0, await leader.TerminateAsync(TimeSpan.FromSeconds(30)));
        await cluster.WaitForLeaderAsync(notThis: leader);
        leader.Start("--peers", string.Join(',', cluster.Members.Where(m => m != leader && m.IsRunning).Select(m => m.Api)));
        await cluster.WaitForMembersAsync(3);
        await cluster.WaitForAsync(async () => (await leader.Client.StatusAsync()).Role is "follower" or "leader", "the stopped leader to be back");
    }
}
