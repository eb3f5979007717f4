using Microsoft.Extensions.Logging;
using ZeroCloud.Cluster.Power;
using ZeroCloud.Cluster.Raft;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Config;
using ZeroCloud.Orleans.Grains;

namespace ZeroCloud.Control;

/// <summary>
/// Fencing through the BMC of a node about to be written Down: when its BMC says it is on, its next boot is set to PXE
/// (once) and it is power-cycled (a hard reset): it boots the node image from the network again and rejoins, whatever
/// its own boot order says. A node is Suspect for at most downAfter less suspectAfter of silence before it gets here, so
/// that is the limit after which a Suspect node is fenced (a node held Suspect by a mass silence is never fenced). Both steps are power jobs, recorded and audited like <c>zc power</c>
/// with who = fencing. Never fenced: a node without a BMC (nothing to do), one whose BMC says it is off (it runs
/// nothing; an operator may have switched it off), one labelled <c>zerocloud.io/maintenance: "true"</c> in
/// <c>spec.nodes.known</c>, and any node while this member cannot make a linearizable read (the side without quorum
/// must not power-cycle the rack), and one a power job switched within spec.nodes.bootTimeout (it is
/// booting: <c>zc power cycle</c>, or an earlier fence; see <see cref="BootingFor"/>). Mass silence never gets here: the grain holds the transition. At most
/// <see cref="MaxFences"/> fences per <see cref="Window"/> on a member.
/// </summary>
public sealed partial class BmcFencer(PowerService power, ControlNode node, TimeProvider time, ILogger<BmcFencer> logger) : INodeFencer
{
    public const string MaintenanceLabel = "zerocloud.io/maintenance";

    /// <summary>How the power jobs of fencing start their who.</summary>
    public const string Fencing = "fencing: ";
    public const int MaxFences = 3;
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(10);

    private readonly Queue<long> _recent = new();

    public async Task<string?> FenceAsync(string name, TimeSpan silent, CancellationToken ct)
    {
        if (power.BmcOf(name, out _) is null)
        {
            return null;
        }

        if (power.LabelsOf(name).TryGetValue(MaintenanceLabel, out var maintenance) && maintenance == "true")
        {
            return $"not fenced: labelled {MaintenanceLabel}: \"true\"";
        }

        // A machine switched by a power job a moment ago (zc power cycle, or an earlier fence) is booting: a boot takes
        // longer than downAfter, so its silence is expected, and another reset would only start it over.
        if (Booting(name) is { } b)
        {
            return $"not fenced: {b.Job.Action} job {b.Job.Id} ({b.Job.Who}) switched it {b.Ago.TotalSeconds:0} s ago, within spec.nodes.bootTimeout ({Durations.Format(b.Window)}): it is booting";
        }

        // Only the side with quorum fences: this member must reach a majority now.
        using (var barrier = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            barrier.CancelAfter(TimeSpan.FromSeconds(5));
            try
            {
                await node.ReadBarrierAsync(barrier.Token).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // whatever stops the barrier, this member does not fence
            catch (Exception ex) when (!ct.IsCancellationRequested)
#pragma warning restore CA1031
            {
                return $"not fenced: this member cannot reach a majority ({ex.Message})";
            }
        }

        lock (_recent)
        {
            while (_recent.Count > 0 && time.GetElapsedTime(_recent.Peek()) > Window)
            {
                _recent.Dequeue();
            }

            if (_recent.Count >= MaxFences)
            {
                LogRateLimited(name, MaxFences, Window.TotalMinutes);
                return $"not fenced: {MaxFences} fences in the last {Window.TotalMinutes:0} minutes on this member already";
            }

            _recent.Enqueue(time.GetTimestamp());
        }

        var who = $"{Fencing}node {name} silent for {silent.TotalSeconds:0.0}s";
        var status = await power.RunAsync(name, PowerActions.Status, who, ct).ConfigureAwait(false);
        if (status.State != PowerJobStates.Succeeded)
        {
            return $"its BMC could not be read ({status.Error}): not fenced (job {status.Id})";
        }

        if (status.Power == "off")
        {
            return $"its BMC says it is off: nothing to fence (job {status.Id})";
        }

        var cycle = await power.RunAsync(name, PowerActions.Pxe, who, ct).ConfigureAwait(false);
        return cycle.State == PowerJobStates.Succeeded
            ? $"power-cycled through its BMC to boot from the network ({cycle.Bmc}; job {cycle.Id})"
            : $"the power cycle failed ({cycle.Error}; job {cycle.Id})";
    }

    /// <summary>
    /// When <paramref name="name"/> may be fenced again: the end of spec.nodes.bootTimeout after the last power job
    /// that switched it, for a machine with a BMC; null when it has none, no job switched it within that time, or the
    /// last one switched it off.
    /// </summary>
    public TimeSpan? BootingFor(string name) =>
        power.BmcOf(name, out _) is not null && Booting(name) is { Job.Action: not PowerActions.Off } b && b.Ago >= TimeSpan.Zero ? b.Window - b.Ago : null;

    /// <summary>
    /// The last job that switched <paramref name="name"/> and how long ago, when that is within spec.nodes.bootTimeout
    /// (either way: a member whose clock is a little behind the job's counts it as within).
    /// </summary>
    private (PowerJobDto Job, TimeSpan Ago, TimeSpan Window)? Booting(string name)
    {
        var window = power.BootTimeout;
        return power.LastSwitch(name) is { Finished: { } finished } last && time.GetUtcNow().UtcDateTime - finished is var ago && ago < window && ago > -window
            ? (last, ago, window)
            : null;
    }

    /// <summary>The successful PXE cycles fencing ran on <paramref name="name"/> that finished after <paramref name="since"/>.</summary>
    public int FencedSince(string name, DateTime since) =>
        power.Jobs(name).Count(j => j is { Action: PowerActions.Pxe, State: PowerJobStates.Succeeded, Finished: { } finished } && finished > since && j.Who.StartsWith(Fencing, StringComparison.Ordinal));

    [LoggerMessage(Level = LogLevel.Warning, Message = "node {Node} is not fenced: {Max} fences in {Minutes} minutes on this member already (a rack-wide failure is not fenced node by node)")]
    private partial void LogRateLimited(string node, int max, double minutes);
}
