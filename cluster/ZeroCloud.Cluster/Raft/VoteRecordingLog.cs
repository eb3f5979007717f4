using System.Globalization;
using System.Reflection;
using DotNext.Net.Cluster;
using DotNext.Net.Cluster.Consensus.Raft;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;

namespace ZeroCloud.Cluster.Raft;

/// <summary>
/// DotNext's write-ahead log, which also appends every vote this member casts to <c>votes.log</c> beside it, after
/// the vote is on disk and before it is answered: one line per vote, <c>&lt;term&gt; &lt;member id&gt;</c> (its own id when
/// it campaigns). Raft allows one vote per term; a member that voted twice in a term (after it lost its state, say)
/// shows it there, and the file is what an operator or a test reads to check. DotNext implements the two calls
/// explicitly; this class re-implements them and calls DotNext's own implementations, found once by reflection.
/// </summary>
internal sealed class VoteRecordingLog : WriteAheadLog, IPersistentState
{
    public const string FileName = "votes.log";

    private static readonly MethodInfo BaseIncrement = Implementation(nameof(IPersistentState.IncrementTermAsync));
    private static readonly MethodInfo BaseVote = Implementation(nameof(IPersistentState.UpdateVotedForAsync));

    private readonly Func<ClusterMemberId, CancellationToken, ValueTask<long>> _increment;
    private readonly Func<ClusterMemberId, CancellationToken, ValueTask> _vote;
    private readonly string _file;
    private readonly Lock _lock = new();

    public VoteRecordingLog(Options options, IStateMachine machine, string folder)
        : base(options, machine)
    {
        _file = Path.Combine(folder, FileName);
        _increment = BaseIncrement.CreateDelegate<Func<ClusterMemberId, CancellationToken, ValueTask<long>>>(this);
        _vote = BaseVote.CreateDelegate<Func<ClusterMemberId, CancellationToken, ValueTask>>(this);
    }

    async ValueTask<long> IPersistentState.IncrementTermAsync(ClusterMemberId member, CancellationToken token)
    {
        var term = await _increment(member, token).ConfigureAwait(false);
        Record(term, member);
        return term;
    }

    async ValueTask IPersistentState.UpdateVotedForAsync(ClusterMemberId member, CancellationToken token)
    {
        await _vote(member, token).ConfigureAwait(false);
        Record(((IPersistentState)this).Term, member);
    }

    /// <summary>The votes recorded in <paramref name="folder"/>: (term, member id), in the order they were cast.</summary>
    public static List<(long Term, string Member)> Read(string folder)
    {
        var file = Path.Combine(folder, FileName);
        return !File.Exists(file) ? [] : [.. File.ReadLines(file)
            .Select(l => l.Split(' '))
            .Where(f => f.Length >= 2 && long.TryParse(f[0], CultureInfo.InvariantCulture, out _))
            .Select(f => (long.Parse(f[0], CultureInfo.InvariantCulture), f[1]))];
    }

    private void Record(long term, ClusterMemberId member)
    {
        lock (_lock)
        {
            File.AppendAllText(_file, string.Create(CultureInfo.InvariantCulture, $"{term} {member} {DateTime.UtcNow:O}\n"));
        }
    }

    private static MethodInfo Implementation(string name)
    {
        var map = typeof(WriteAheadLog).GetInterfaceMap(typeof(IPersistentState));
        var index = Array.FindIndex(map.InterfaceMethods, m => m.Name == name);
        return index >= 0 ? map.TargetMethods[index] : throw new MissingMethodException(nameof(WriteAheadLog), name);
    }
}
