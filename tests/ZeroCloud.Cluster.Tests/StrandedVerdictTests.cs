using ZeroCloud.Cluster.Raft;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Cluster.Tests;

/// <summary>
/// The stranded-member watchdog's judgement on its own (the lab test <c>StrandedMemberTests</c> shows the candidate
/// case end to end): the follower stuck below its leader's commit index, and every case in which the member must keep
/// its state because the trouble is not its own.
/// </summary>
public class StrandedVerdictTests
{
    private static readonly TimeSpan Stuck = TimeSpan.FromSeconds(31);

    private static StatusResponse Status(string id, string role, string? leader, long commit) =>
        new(id, id, $"https://{id}:7070", role, leader, 7, commit, commit, 0, commit, 0, 0, []);

    [Fact]
    public void A_follower_whose_commit_index_stands_below_the_leader_a_quorum_follows_is_stranded()
    {
        var reason = StrandedVerdict.Of("m3", "follower", 40, Stuck, 3, [Status("m1", "leader", "m1", 95), Status("m2", "follower", "m1", 95)]);
        Assert.Equal("m3 is stranded: a follower whose commit index stood at 40 for 31 s while its leader's is 95, while 2 of the 2 other members follow m1", reason);

        // Five members: three of the four others (the cluster's quorum) must follow the leader; the leader's commit index counts.
        Assert.NotNull(StrandedVerdict.Of("m5", "follower", 40, Stuck, 5, [Status("m1", "leader", "m1", 95), Status("m2", "follower", "m1", 41), Status("m3", "follower", "m1", 41), null]));
        Assert.Null(StrandedVerdict.Of("m5", "follower", 40, Stuck, 5, [Status("m1", "leader", "m1", 95), Status("m2", "follower", "m1", 41), null, null]));
    }

    [Fact]
    public void A_follower_level_with_its_leader_is_idle_not_stuck_and_one_without_the_leader_s_answer_is_left_alone()
    {
        Assert.Null(StrandedVerdict.Of("m3", "follower", 95, Stuck, 3, [Status("m1", "leader", "m1", 95), Status("m2", "follower", "m1", 95)]));
        Assert.Null(StrandedVerdict.Of("m3", "follower", 40, Stuck, 3, [null, Status("m2", "follower", "m1", 95), Status("m4", "follower", "m1", 95)]));
    }

    [Fact]
    public void A_candidate_is_stranded_only_while_a_quorum_of_the_others_follows_one_leader_that_is_not_itself()
    {
        Assert.Equal(
            "m3 is stranded: a candidate for 31 s, while 2 of the 2 other members follow m1",
            StrandedVerdict.Of("m3", "candidate", 40, Stuck, 3, [Status("m1", "leader", "m1", 95), Status("m2", "follower", "m1", 95)]));

        // The others have no leader, disagree on it, did not answer, or name this member: not its problem alone.
        Assert.Null(StrandedVerdict.Of("m3", "candidate", 40, Stuck, 3, [Status("m1", "candidate", null, 95), Status("m2", "candidate", null, 95)]));
        Assert.Null(StrandedVerdict.Of("m5", "candidate", 40, Stuck, 5, [Status("m1", "leader", "m1", 95), Status("m2", "follower", "m1", 95), Status("m3", "leader", "m3", 90), null]));
        Assert.Null(StrandedVerdict.Of("m3", "candidate", 40, Stuck, 3, [null, null]));
        Assert.Null(StrandedVerdict.Of("m3", "candidate", 40, Stuck, 3, [Status("m1", "follower", "m3", 95), Status("m2", "follower", "m3", 95)]));
    }

    [Fact]
    public void Never_on_a_cluster_of_fewer_than_three_nor_for_a_leader()
    {
        Assert.Null(StrandedVerdict.Of("m2", "candidate", 40, Stuck, 2, [Status("m1", "leader", "m1", 95)]));
        Assert.Null(StrandedVerdict.Of("m3", "leader", 40, Stuck, 3, [Status("m1", "leader", "m1", 95), Status("m2", "follower", "m1", 95)]));
    }
}
