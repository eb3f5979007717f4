using System.Globalization;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Lab;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Cluster.Tests;

/// <summary>
/// Issue 19 (decision 0012): a member the leader cannot reach campaigns for ever, as one killed while a snapshot was
/// installed on it did. With nobody touching it, its watchdog sees it has been a candidate for --stranded-after while
/// the two others follow one leader, has them remove it, moves its folder aside and starts again empty; once the
/// leader can reach it, it is a member again with the whole state. A member whose peers have no leader is left alone.
/// </summary>
[Collection("control")]
[Trait("Category", "Lab")]
public sealed class StrandedMemberTests
{
    private static async Task IptablesAsync(string action, int port)
    {
        // Every packet to the member's Raft port: the leader's appends and heartbeats never arrive; its own calls to
        // the others (pre-votes, votes) and every API still work.
        var (code, text) = await Processes.RunAsync("iptables", [action, "INPUT", "-i", "lo", "-p", "tcp", "--dport", port.ToString(CultureInfo.InvariantCulture), "-j", "DROP"], TimeSpan.FromSeconds(10));
        Assert.True(code == 0 || action == "-D", $"iptables {action}: {text}");
    }

    [LabFact]
    public async Task A_member_the_leader_cannot_reach_repairs_itself_and_rejoins_with_the_state()
    {
        await using var cluster = await ControlCluster.StartAsync(3, "--stranded-after", "5");
        var leader = cluster.Leader();
        for (var i = 0; i < 10; i++)
        {
            await leader.Client.PutAsync($"/k/{i}", $"{i}");
        }

        var victim = cluster.Members.First(m => m != leader);
        await cluster.WaitForAsync(async () => (await victim.Client.GetAsync("/k/9", stale: true)) is not null, "the victim to have the writes");
        await IptablesAsync("-I", victim.RaftPort);
        try
        {
            await cluster.WaitForAsync(async () => (await victim.Client.StatusAsync()).Role == "candidate", "the cut-off member to campaign");
            await leader.Client.PutAsync("/while-stranded", "yes");
            await cluster.WaitForAsync(
                () => Task.FromResult(victim.Output.Contains("removed from the configuration; its stranded folder is kept at", StringComparison.Ordinal)),
                "the stranded member to have itself removed",
                TimeSpan.FromSeconds(60));
            Assert.Contains("is stranded: a candidate for", victim.Output, StringComparison.Ordinal);
            Assert.Contains("while 2 of the 2 other members follow", victim.Output, StringComparison.Ordinal);
        }
        finally
        {
            await IptablesAsync("-D", victim.RaftPort);
        }

        // The leader reaches it now: it is added as a new member and sent the state, with nobody's help.
        await cluster.WaitForAsync(async () => (await victim.Client.GetAsync("/while-stranded", stale: true))?.Value == "yes", "the repaired member to have the state");
        await cluster.WaitForMembersAsync(3);
        Assert.Equal(10, (await victim.Client.RangeAsync("/k/", stale: true)).Kvs.Count);
        Assert.Single(Directory.GetDirectories(Path.GetDirectoryName(victim.DataDirectory)!, Path.GetFileName(victim.DataDirectory) + ".stranded-*"));
        Assert.True(victim.IsRunning);
    }
}
