using System.Text.Json;
using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Orleans.Grains;

/// <summary>What an agent reports with each heartbeat.</summary>
[GenerateSerializer]
[Immutable]
public sealed record NodeBeat(
    [property: Id(0)] int Cpus,
    [property: Id(1)] long MemoryBytes,
    [property: Id(2)] string? Address = null,
    [property: Id(3)] IReadOnlyDictionary<string, string>? Labels = null,
    [property: Id(4)] IReadOnlyList<string>? Runtimes = null,
    [property: Id(5)] string? Mac = null,
    [property: Id(6)] IReadOnlyList<string>? Images = null,
    [property: Id(7)] string? Agent = null,
    [property: Id(8)] bool? Persistent = null,
    [property: Id(9)] string? Disk = null,
    [property: Id(10)] IReadOnlyList<string>? Disks = null,
    [property: Id(11)] string? Accelerator = null);

/// <summary>A machine as its grain sees it, and which silo holds the grain.</summary>
[GenerateSerializer]
[Immutable]
public sealed record NodeView(
    [property: Id(0)] string Name,
    [property: Id(1)] NodeStatus Status,
    [property: Id(2)] DateTime? LastSeen,
    [property: Id(3)] int Cpus,
    [property: Id(4)] long MemoryBytes,
    [property: Id(5)] long Transitions,
    [property: Id(6)] string Silo,
    [property: Id(7)] double HeartbeatSeconds,
    [property: Id(8)] string? Refused = null);

public interface INodeGrain : IGrainWithStringKey
{
    Task<NodeView> HeartbeatAsync(NodeBeat beat);

    Task<NodeView> GetAsync();

    /// <summary>Does nothing; calling it activates the grain, whose timer then watches the node's silence.</summary>
    Task WakeAsync();
}

/// <summary>How long a node may be silent before it is Suspect, and then Down (used until a spec is applied).</summary>
public sealed record NodeLiveness(TimeSpan SuspectAfter, TimeSpan DownAfter);

/// <summary>
/// One machine. Heartbeats land in memory; only transitions (Ready, Suspect, Down) and changes of what the agent
/// reports are written to the node's record (<c>/zc/nodes/&lt;name&gt;</c>, a compare-and-swap on its revision), so a
/// steady cluster writes nothing per heartbeat. The record outlives the silo that held the grain; a grain activated
/// elsewhere reads it and starts counting the silence from then. Timings come from the applied spec
/// (<c>nodes.heartbeat</c>, <c>nodes.downAfter</c>). Ready and Down ask the scheduler to plan. Placed on the silo of
/// the member the agent first talks to (an agent keeps its member until that one fails), so a heartbeat is a local call.
/// </summary>
[global::Orleans.Placement.PreferLocalPlacement]
public sealed partial class NodeGrain(IControlStore client, ClusterSpecCache spec, NodeLiveness fallback, TimeProvider time, SilenceMonitor silence, INodeFencer fencer, ILogger<NodeGrain> logger) : Grain, INodeGrain
{
    private NodeDto? _record;
    private long _revision;
    private DateTime? _lastSeen;

    /// <summary>
    /// When the last beat came, on the monotonic clock (<see cref="TimeProvider.GetTimestamp"/>): liveness is elapsed
    /// time, so a step of the wall clock (NTP, an operator's date) never makes a node Suspect or Down.
    /// </summary>
    private long? _lastBeat;

    /// <summary>A transition is being held back by mass silence (logged once per episode).</summary>
    private bool _held;

    /// <summary>How long the node has been silent, on the monotonic clock; a grain that has not heard it yet counts from now.</summary>
    private TimeSpan Silent() => time.GetElapsedTime(_lastBeat ??= time.GetTimestamp());
    private IGrainTimer? _timer;

    /// <summary>How many times a Down node that stays silent is fenced again, each after spec.nodes.bootTimeout.</summary>
    public const int MaxRefences = 2;

    /// <summary>One-shot: the end of the boot a power job started, when a node still Down is fenced again.</summary>
    private IGrainTimer? _refence;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        await ReadAsync().ConfigureAwait(true);
        // One-shot timer, re-armed for the next moment the node could change state: about one tick per
        // SuspectAfter per node, however often it heartbeats.
        _timer = this.RegisterGrainTimer(CheckAsync, new GrainTimerCreationOptions(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan) { KeepAlive = true });
        _refence = this.RegisterGrainTimer(RefenceAsync, new GrainTimerCreationOptions(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan) { KeepAlive = true });
        Arm();
        ArmRefence();
    }

    public async Task<NodeView> HeartbeatAsync(NodeBeat beat)
    {
        var r = _record;
        var status = NodeStatus.Ready;
        if (r is null || r.Status == NodeStatus.Pending)
        {
            if (EnrollProblem(beat) is { } refused)
            {
                return View() with { Refused = refused };
            }

            if (await WaitsForApprovalAsync(beat).ConfigureAwait(true))
            {
                status = NodeStatus.Pending;
            }
        }

        _lastSeen = time.GetUtcNow().UtcDateTime;
        _lastBeat = time.GetTimestamp();
        if (r is { Status: NodeStatus.Down })
        {
            // It boots again: whatever fencing did is done.
            _refence?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
        if (status == NodeStatus.Ready)
        {
            silence.Beat(this.GetPrimaryKeyString());
        }

        var wasWatched = r is { Status: NodeStatus.Ready or NodeStatus.Suspect };
        if (r is null || r.Status != status || r.Cpus != beat.Cpus || r.MemoryBytes != beat.MemoryBytes
            || (beat.Address is not null && beat.Address != r.Address)
            || (beat.Labels is not null && !SameLabels(beat.Labels, r.Labels))
            || (beat.Runtimes is not null && !(r.Runtimes ?? []).SequenceEqual(beat.Runtimes))
            || (beat.Images is not null && !(r.Images ?? []).SequenceEqual(beat.Images))
            || (beat.Agent is not null && beat.Agent != r.Agent)
            || (beat.Persistent is not null && beat.Persistent != r.Persistent)
            || (beat.Disk is not null && beat.Disk != r.Disk)
            || (beat.Disks is not null && !(r.Disks ?? []).SequenceEqual(beat.Disks))
            || (beat.Runtimes is not null && beat.Accelerator != r.Accelerator))
        {
            await WriteAsync(old => (old ?? Empty()) with
            {
                Cpus = beat.Cpus,
                MemoryBytes = beat.MemoryBytes,
                Address = beat.Address ?? old?.Address,
                Labels = beat.Labels ?? old?.Labels,
                Runtimes = beat.Runtimes ?? old?.Runtimes,
                Images = beat.Images ?? old?.Images,
                Mac = beat.Mac ?? old?.Mac,
                Agent = beat.Agent ?? old?.Agent,
                Persistent = beat.Persistent ?? old?.Persistent,
                Disk = beat.Disk ?? old?.Disk,
                Disks = beat.Disks ?? old?.Disks,
                Accelerator = beat.Runtimes is not null ? beat.Accelerator : old?.Accelerator,
            }, status).ConfigureAwait(true);
            if (!wasWatched && status == NodeStatus.Ready)
            {
                Arm();
            }
        }

        return View();
    }

    public Task<NodeView> GetAsync() => Task.FromResult(View());

    /// <summary>
    /// A node joins with its first heartbeat. With <c>nodes.enroll: known</c> only a machine listed under
    /// <c>nodes.known</c> joins, by its MAC and under the name given there.
    /// </summary>
    private string? EnrollProblem(NodeBeat beat)
    {
        if (spec.Current?.Config.Spec.Nodes is not { Enroll: ZeroCloud.Model.Config.EnrollMode.Known or ZeroCloud.Model.Config.EnrollMode.Approve } nodes)
        {
            return null;
        }

        var mode = nodes.Enroll.ToString().ToLowerInvariant();
        var name = this.GetPrimaryKeyString();
        if (beat.Mac is null || !ZeroCloud.Model.Net.MacAddress.TryParse(beat.Mac, out var mac))
        {
            return $"nodes.enroll is {mode}, and this node sent no MAC address";
        }

        var known = nodes.Known.FirstOrDefault(k => k.Mac == mac);
        return known is null
            ? nodes.Enroll == ZeroCloud.Model.Config.EnrollMode.Known ? $"nodes.enroll is known, and {mac} is not in nodes.known" : null
            : known.Name != name ? $"{mac} is in nodes.known as {known.Name}, not {name}" : null;
    }

    /// <summary>
    /// Under <c>nodes.enroll: approve</c>, a machine that is not listed under <c>nodes.known</c> waits (Pending, given
    /// nothing) until an operator approves it by name (<c>zc node approve</c>), for the MAC it was pending with. MAAS's
    /// commissioning and Omni's machine acceptance are the models. The node of a Raft member (the seed) joins unasked.
    /// </summary>
    private async Task<bool> WaitsForApprovalAsync(NodeBeat beat)
    {
        if (spec.Current?.Config.Spec.Nodes is not { Enroll: ZeroCloud.Model.Config.EnrollMode.Approve } nodes
            || !ZeroCloud.Model.Net.MacAddress.TryParse(beat.Mac, out var mac) || nodes.Known.Any(k => k.Mac == mac))
        {
            return false;
        }

        // The node of a Raft member an operator started (the seed) needs no approval: only a join token or that
        // node's own key can speak under a member's name (a ticket is bound to the name netboot gave its MAC).
        if ((await client.MembersAsync().ConfigureAwait(true)).Members.Any(m => m.Name == this.GetPrimaryKeyString()))
        {
            return false;
        }

        var kv = await client.GetAsync(StoreKeys.Approval(this.GetPrimaryKeyString())).ConfigureAwait(true);
        var approval = kv is null ? null : TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.ApprovalDto, new List<string>());
        return approval is null || !ZeroCloud.Model.Net.MacAddress.TryParse(approval.Mac, out var approved) || approved != mac;
    }

    public Task WakeAsync() => Task.CompletedTask;

    private async Task CheckAsync(CancellationToken cancellationToken)
    {
        if (_record is not { Status: NodeStatus.Ready or NodeStatus.Suspect } r)
        {
            return;
        }

        _lastSeen ??= time.GetUtcNow().UtcDateTime;
        var liveness = spec.Liveness(fallback);
        var silent = Silent();
        var next = silent >= liveness.DownAfter ? NodeStatus.Down : silent >= liveness.SuspectAfter ? NodeStatus.Suspect : r.Status;
        if (next != r.Status && silence.ShouldAsk())
        {
            // Joins may queue on another member than this grain's: asked at most once a second per silo.
            try
            {
                silence.Queued(await GrainFactory.GetGrain<IAdmissionGrain>(0).SinceQueuedAsync().WaitAsync(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(true));
            }
            catch (Exception ex) when (ex is TimeoutException or OrleansException)
            {
                // no answer: this silo's own view only
            }
        }

        try
        {
            // A join storm holds statuses until the last queued join could have been answered (JoinWait) and downAfter
            // more, and a node's status for three downAfter plus JoinWait of silence at most: a flood of joins (bogus
            // ones included) must not switch failure detection off.
            var admitting = silence.Admitting(liveness.DownAfter + SilenceMonitor.JoinWait) && silent < (liveness.DownAfter * 3) + SilenceMonitor.JoinWait;
            if (next != r.Status && (silence.Check(liveness.SuspectAfter) is { Mass: true } || admitting))
            {
                // Most nodes this silo watches are late at once, or joins are queued here (a join storm): the control
                // plane, not this node, is the likely cause. Nothing is written; the node keeps its status until the
                // silence is no longer general and the joins have gone through.
                if (!_held)
                {
                    _held = true;
                    var mass = silence.Check(liveness.SuspectAfter);
                    LogHeld(this.GetPrimaryKeyString(), r.Status, next, mass.Late, mass.Watched, admitting);
                }
            }
            else if (next != r.Status)
            {
                _held = false;
                if (next == NodeStatus.Down)
                {
                    await FenceAsync(r.Name, silent, cancellationToken).ConfigureAwait(true);
                }

                await WriteAsync(old => old ?? r, next).ConfigureAwait(true);
                if (next == NodeStatus.Down)
                {
                    ArmRefence();
                }
            }
            else
            {
                _held = false;
            }
        }
        finally
        {
            Arm();
        }
    }

    /// <summary>Fences the node before it is written Down; a fence that fails is logged and the node goes Down anyway.</summary>
    private async Task FenceAsync(string name, TimeSpan silent, CancellationToken cancellationToken)
    {
        try
        {
            if (await fencer.FenceAsync(name, silent, cancellationToken).ConfigureAwait(true) is { } done)
            {
                LogFenced(name, done);
            }
        }
#pragma warning disable CA1031 // a fence that cannot be done must not keep the node from going Down
        catch (Exception ex) when (ex is not OperationCanceledException)
#pragma warning restore CA1031
        {
            LogFenceFailed(name, ex.Message);
        }
    }

    /// <summary>
    /// A Down node whose machine a power job switched (a fence, or <c>zc power cycle</c>) is given spec.nodes.bootTimeout
    /// to boot; when it is still Down then, it is fenced again (a machine hung in its firmware or its boot is reset),
    /// at most <see cref="MaxRefences"/> times in a row. Then it is left Down for an operator.
    /// </summary>
    private void ArmRefence()
    {
        if (_record is { Status: NodeStatus.Down } r && fencer.BootingFor(r.Name) is { } left)
        {
            _refence?.Change(left + TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);
        }
    }

    private async Task RefenceAsync(CancellationToken cancellationToken)
    {
        if (_record is not { Status: NodeStatus.Down } r || fencer.BootingFor(r.Name) is not null)
        {
            // Back up, or switched again meanwhile (its new boot gets its own time).
            ArmRefence();
            return;
        }

        // Counted from the power jobs since it went Down (the first fence came before): a grain activated on another
        // silo counts the same.
        var refenced = fencer.FencedSince(r.Name, r.Since);
        if (refenced >= MaxRefences)
        {
            LogGivenUp(r.Name, refenced + 1);
            return;
        }

        LogRefencing(r.Name, Silent().TotalSeconds, refenced + 1, MaxRefences);
        await FenceAsync(r.Name, Silent(), cancellationToken).ConfigureAwait(true);
        ArmRefence();
    }

    /// <summary>Sets the timer for when the node, if it stays silent, becomes Suspect or Down; Down and unknown nodes need none.</summary>
    private void Arm()
    {
        if (_record is not { Status: NodeStatus.Ready or NodeStatus.Suspect } r)
        {
            return;
        }

        // A grain activated elsewhere has not heard from its node yet: the silence starts now.
        _lastSeen ??= time.GetUtcNow().UtcDateTime;
        var liveness = spec.Liveness(fallback);
        var due = (r.Status == NodeStatus.Ready ? liveness.SuspectAfter : liveness.DownAfter) - Silent();
        _timer?.Change(due > TimeSpan.FromMilliseconds(20) ? due : TimeSpan.FromMilliseconds(20), Timeout.InfiniteTimeSpan);
    }

    /// <summary>Writes the record with <paramref name="status"/>; when another writer got there first, re-reads and applies the change again.</summary>
    private async Task WriteAsync(Func<NodeDto?, NodeDto> change, NodeStatus status)
    {
        for (var attempt = 1; ; attempt++)
        {
            var from = _record?.Status ?? NodeStatus.Unknown;
            var next = change(_record);
            if (status != from)
            {
                next = next with { Status = status, Since = time.GetUtcNow().UtcDateTime, Transitions = next.Transitions + 1 };
            }

            // What it can run changed on a Ready node (the images an agent read from the catalogue after its join, a
            // runtime it proved): what could not be placed may fit now.
            var canRunMore = status == NodeStatus.Ready && status == from && _record is { } old
                && (!(old.Images ?? []).SequenceEqual(next.Images ?? []) || !(old.Runtimes ?? []).SequenceEqual(next.Runtimes ?? []) || old.Accelerator != next.Accelerator || old.Persistent != next.Persistent || !SameLabels(next.Labels ?? new Dictionary<string, string>(), old.Labels ?? new Dictionary<string, string>()));
            var key = StoreKeys.Node(this.GetPrimaryKeyString());
            var result = await client.PutAsync(key, JsonSerializer.Serialize(next, ControlJsonContext.Default.NodeDto), _revision).ConfigureAwait(true);
            if (result.Succeeded)
            {
                _record = next;
                _revision = result.Revision;
                if (canRunMore)
                {
                    GrainFactory.GetGrain<ISchedulerGrain>(SchedulerGrain.Key).RequestAsync($"node {next.Name} reports what it runs").Ignore();
                }

                if (status != from)
                {
                    if (status is not (NodeStatus.Ready or NodeStatus.Suspect))
                    {
                        silence.Forget(next.Name);
                    }

                    LogTransition(next.Name, from, status);
                    if (status is NodeStatus.Ready or NodeStatus.Down)
                    {
                        // Not awaited: the scheduler may be busy, and a heartbeat must not wait for a plan.
                        GrainFactory.GetGrain<ISchedulerGrain>(SchedulerGrain.Key).RequestAsync($"node {next.Name} {status}").Ignore();
                    }
                }

                return;
            }

            if (attempt >= 3)
            {
                throw new InvalidOperationException($"node {this.GetPrimaryKeyString()}: its record kept changing under this grain");
            }

            await ReadAsync().ConfigureAwait(true);
        }
    }

    private async Task ReadAsync()
    {
        var kv = await client.GetAsync(StoreKeys.Node(this.GetPrimaryKeyString())).ConfigureAwait(true);
        // A record that cannot be used is written over (its revision is kept for the compare-and-swap).
        _record = kv is null ? null : TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.NodeDto, new List<string>());
        _revision = kv?.ModRevision ?? 0;
    }

    private NodeDto Empty() => new(this.GetPrimaryKeyString(), NodeStatus.Unknown, time.GetUtcNow().UtcDateTime, 0, 0, null, null, null, 0);

    private static bool SameLabels(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string>? b) =>
        b is not null && a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out var v) && v == kv.Value);

    private NodeView View() => new(
        this.GetPrimaryKeyString(), _record?.Status ?? NodeStatus.Unknown, _lastSeen, _record?.Cpus ?? 0, _record?.MemoryBytes ?? 0, _record?.Transitions ?? 0, RuntimeIdentity, (spec.Current?.Config.Spec.Nodes.Heartbeat ?? TimeSpan.FromSeconds(1)).TotalSeconds);

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        _refence?.Dispose();
        silence.Forget(this.GetPrimaryKeyString());
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "node {Node}: {From} -> {To}")]
    private partial void LogTransition(string node, NodeStatus from, NodeStatus to);

    [LoggerMessage(Level = LogLevel.Warning, Message = "node {Node}: stays {From} instead of {To}: {Late} of the {Watched} nodes this silo watches are late at once (joins queued on this member: {Admitting}), so the control plane is the likely cause; nothing is written until it passes")]
    private partial void LogHeld(string node, NodeStatus from, NodeStatus to, int late, int watched, bool admitting);

    [LoggerMessage(Level = LogLevel.Warning, Message = "node {Node}: fencing before it goes Down: {Done}")]
    private partial void LogFenced(string node, string done);

    [LoggerMessage(Level = LogLevel.Warning, Message = "node {Node}: still Down, silent for {Silent:0} s, after its machine was switched and given spec.nodes.bootTimeout to boot: fencing it again ({Count} of {Max})")]
    private partial void LogRefencing(string node, double silent, int count, int max);

    [LoggerMessage(Level = LogLevel.Error, Message = "node {Node}: still Down after {Boots} boots started by power jobs, each given spec.nodes.bootTimeout; it is not fenced again: an operator must look at its console or BMC (zc power status)")]
    private partial void LogGivenUp(string node, int boots);

    [LoggerMessage(Level = LogLevel.Error, Message = "node {Node}: could not be fenced ({Reason}); it goes Down unfenced")]
    private partial void LogFenceFailed(string node, string reason);
}
