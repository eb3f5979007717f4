using ZeroCloud.Model.Api;

namespace ZeroCloud.Cluster.Raft;

/// <summary>
/// The stranded-member watchdog's judgement (decision 0012), apart from how it asks: whether a member that made no
/// progress for a while is stranded, given what the other members of its configuration say of themselves.
/// </summary>
public static class StrandedVerdict
{
    /// <summary>
    /// Why the member <paramref name="self"/> (<paramref name="role"/>: candidate or follower, its commit index
    /// unchanged for <paramref name="stuck"/>) is stranded; null when it is not its problem alone. Stranded: a
    /// configuration of at least three, a quorum of the others (<paramref name="answers"/>, null where a member did not
    /// answer) following one leader that is not this member, and this member a candidate, or a follower whose commit
    /// index is below that leader's. A follower level with its leader is idle, not stuck.
    /// </summary>
    public static string? Of(string self, string role, long commitIndex, TimeSpan stuck, int members, IReadOnlyList<StatusResponse?> answers)
    {
        ArgumentNullException.ThrowIfNull(answers);
        if (members < 3 || role is not ("candidate" or "follower"))
        {
            return null;
        }

        var following = answers.OfType<StatusResponse>()
            .Where(s => s.Role is "leader" or "follower" && s.Leader is not null && s.Leader != self)
            .GroupBy(s => s.Leader!)
            .OrderByDescending(g => g.Count())
            .FirstOrDefault();
        var quorum = ((members - 1) / 2) + 1;
        if (following is null || following.Count() < quorum)
        {
            return null;
        }

        var leader = following.FirstOrDefault(s => s.Role == "leader");
        if (role == "follower" && (leader is null || leader.CommitIndex <= commitIndex))
        {
            return null;
        }

        var what = role == "candidate"
            ? $"a candidate for {stuck.TotalSeconds:0} s"
            : $"a follower whose commit index stood at {commitIndex} for {stuck.TotalSeconds:0} s while its leader's is {leader!.CommitIndex}";
        return $"{self} is stranded: {what}, while {following.Count()} of the {members - 1} other members follow {following.Key}";
    }
}
