using System.Text.Json;
using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Api;
using ZeroCloud.Orleans.Scheduling;

namespace ZeroCloud.Orleans.Grains;

/// <summary>What one planning round did.</summary>
[GenerateSerializer]
[Immutable]
public sealed record PlanOutcome([property: Id(0)] long Revision, [property: Id(1)] int Added, [property: Id(2)] int Removed, [property: Id(3)] IReadOnlyList<string> Unplaced);

public interface ISchedulerGrain : IGrainWithStringKey
{
    /// <summary>Reads the spec, the nodes and the placements, and commits whatever <see cref="Planner"/> decides.</summary>
    Task<PlanOutcome> PlanAsync(string reason);

    /// <summary>Asks for a plan soon: requests within <see cref="SchedulerGrain.Debounce"/> are planned together, in one round.</summary>
    Task RequestAsync(string reason);

    /// <summary>Called every couple of seconds by every silo: keeps the one activation alive, plans now and then, and wakes node grains.</summary>
    Task TickAsync();
}

/// <summary>
/// The cluster's one scheduler: a single grain ("cluster"), so placement decisions are made in one place, one at a
/// time (Orleans runs a grain's calls one by one). Orleans can, for a moment during a membership change, have two
/// activations of one grain; so every commit also compares the revision of <c>/zc/scheduler</c> and of the spec it
/// read, and a planner that lost the race re-reads and plans again. Two silos can therefore never place the same
/// instance twice. Node transitions ask through <see cref="RequestAsync"/>, which gathers requests for
/// <see cref="Debounce"/> into one plan.
/// </summary>
public sealed partial class SchedulerGrain(IControlStore client, ClusterSpecCache cache, TimeProvider time, ILogger<SchedulerGrain> logger) : Grain, ISchedulerGrain
{
    public const string Key = "cluster";

    /// <summary>A full plan at least this often even when nothing asked for one (level-triggered backstop).</summary>
    private static readonly TimeSpan PlanEvery = TimeSpan.FromSeconds(10);

    /// <summary>How long a requested plan waits for more requests (a thousand nodes turning Ready is one plan, not a thousand).</summary>
    public static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(200);

    /// <summary>Node grains are woken at least this often, and at once when the set of silos changes.</summary>
    private static readonly TimeSpan SweepEvery = TimeSpan.FromSeconds(30);

    private readonly List<string> _requested = [];
    private IGrainTimer? _pending;
    private DateTime _lastPlan = DateTime.MinValue;
    private DateTime _lastSweep = DateTime.MinValue;
    private string _silos = "";

    public Task RequestAsync(string reason)
    {
        if (_requested.Count < 20)
        {
            _requested.Add(reason);
        }
        else if (_requested.Count == 20)
        {
            _requested.Add("...");
        }

        _pending ??= this.RegisterGrainTimer(
            async _ =>
            {
                _pending?.Dispose();
                _pending = null;
                var reasons = string.Join(", ", _requested);
                _requested.Clear();
                await PlanAsync(reasons).ConfigureAwait(true);
            },
            new GrainTimerCreationOptions(Debounce, Timeout.InfiniteTimeSpan));
        return Task.CompletedTask;
    }

    /// <summary>Reserves their address for the trusted nodes that have none yet (<see cref="Planner.NewReservations"/>), each key created once.</summary>
    private async Task ReserveAsync(ZeroCloud.Model.Config.ClusterConfig spec, IReadOnlyList<NodeDto> nodes, IReadOnlySet<string> trusted)
    {
        var skipped = new List<string>();
        var existing = TypedValues.ReadAll((await client.RangeAsync(StoreKeys.Reservations).ConfigureAwait(true)).Kvs, ControlJsonContext.Default.ReservationDto, skipped);
        foreach (var reservation in Planner.NewReservations(spec, nodes, trusted, existing, time.GetUtcNow().UtcDateTime))
        {
            var key = StoreKeys.Reservation(ZeroCloud.Model.Net.MacAddress.Parse(reservation.Mac));
            var made = await client.TxnAsync(new TxnRequest(
                [new CompareDto(key, "version", "=", Number: 0)],
                [new OpDto("put", key, JsonSerializer.Serialize(reservation, ControlJsonContext.Default.ReservationDto))],
                [])).ConfigureAwait(true);
            if (made.Succeeded)
            {
                LogReserved(reservation.Address, reservation.Node, reservation.Mac);
            }
        }
    }

    public async Task<PlanOutcome> PlanAsync(string reason)
    {
        _lastPlan = time.GetUtcNow().UtcDateTime;
        for (var attempt = 1; ; attempt++)
        {
            var specKv = await client.GetAsync(StoreKeys.Spec).ConfigureAwait(true);
            cache.Update(specKv);
            if (specKv is null || cache.Current is not { } spec || spec.Revision != specKv.ModRevision)
            {
                return new PlanOutcome(0, 0, 0, ["no cluster.yaml applied yet"]);
            }

            var last = await client.GetAsync(StoreKeys.Scheduler).ConfigureAwait(true);
            var skipped = new List<string>();
            var nodes = TypedValues.ReadAll((await client.RangeAsync(StoreKeys.Nodes).ConfigureAwait(true)).Kvs, ControlJsonContext.Default.NodeDto, skipped);
            var placed = TypedValues.ReadAll((await client.RangeAsync(StoreKeys.Instances).ConfigureAwait(true)).Kvs, ControlJsonContext.Default.InstanceDto, skipped);
            var states = TypedValues.ReadAll((await client.RangeAsync(StoreKeys.InstanceStates).ConfigureAwait(true)).Kvs, ControlJsonContext.Default.InstanceStateDto, skipped);
            var approvals = TypedValues.ReadAll((await client.RangeAsync(StoreKeys.Approvals).ConfigureAwait(true)).Kvs, ControlJsonContext.Default.ApprovalDto, skipped);
            foreach (var problem in skipped)
            {
                LogSkipped(problem);
            }

            var staticVoters = await ControlPlaneAsync(nodes, placed).ConfigureAwait(true);
            var trusted = Planner.Trusted(spec.Config, nodes, approvals, staticVoters ?? new HashSet<string>());
            await ReserveAsync(spec.Config, nodes, trusted).ConfigureAwait(true);
            var plan = Planner.Compute(spec.Config, spec.Revision, nodes, placed, staticVoters, states, _selfName, trusted);
            var previous = last is null ? null : JsonSerializer.Deserialize(last.Value, ControlJsonContext.Default.SchedulerDto);
            if (plan.IsEmpty && previous is not null && previous.SpecRevision == spec.Revision && previous.Unplaced.SequenceEqual(plan.Unplaced))
            {
                return new PlanOutcome(last!.ModRevision, 0, 0, plan.Unplaced);
            }

            if (staticVoters is not null)
            {
                await ShrinkAsync(plan, nodes).ConfigureAwait(true);
            }

            var decision = new SchedulerDto(reason, time.GetUtcNow().UtcDateTime, spec.Revision, plan.Add.Count, plan.Remove.Count, plan.Unplaced);
            var ops = new List<OpDto>();
            foreach (var r in plan.Remove)
            {
                ops.Add(new OpDto("delete", StoreKeys.Instance(r.Node, r.Id)));
                ops.Add(new OpDto("delete", StoreKeys.InstanceState(r.Node, r.Id)));
            }

            ops.AddRange(plan.Add.Select(a => new OpDto("put", StoreKeys.Instance(a.Node, a.Id), JsonSerializer.Serialize(a, ControlJsonContext.Default.InstanceDto))));
            ops.Add(new OpDto("put", StoreKeys.Scheduler, JsonSerializer.Serialize(decision, ControlJsonContext.Default.SchedulerDto)));
            CompareDto[] compare =
            [
                last is null ? new CompareDto(StoreKeys.Scheduler, "version", "=", Number: 0) : new CompareDto(StoreKeys.Scheduler, "mod", "=", Number: last.ModRevision),
                new CompareDto(StoreKeys.Spec, "mod", "=", Number: specKv.ModRevision),
            ];
            var result = await client.TxnAsync(new TxnRequest(compare, ops, [])).ConfigureAwait(true);
            if (result.Succeeded)
            {
                LogPlanned(reason, plan.Summary, result.Revision);
                return new PlanOutcome(result.Revision, plan.Add.Count, plan.Remove.Count, plan.Unplaced);
            }

            if (attempt >= 5)
            {
                throw new InvalidOperationException($"the placements changed under the scheduler {attempt} times in a row ({reason}); giving up this round");
            }
        }
    }

    /// <summary>
    /// The control plane manages itself when its Raft members are named after nodes (a seed started as a node):
    /// members whose node is Down are removed (their replacement is then placed as a <c>control</c> instance), and the
    /// nodes whose member runs outside any instance are returned. Null when no member is a node: the control plane
    /// runs outside the cluster and nothing of it is placed.
    /// </summary>
    /// <summary>The node name of the member this grain's client talks to (its silo's own member).</summary>
    private string? _selfName;

    private async Task<IReadOnlySet<string>?> ControlPlaneAsync(List<NodeDto> nodes, List<InstanceDto> placed)
    {
        var byName = nodes.ToDictionary(n => n.Name, StringComparer.Ordinal);
        var members = (await client.MembersAsync().ConfigureAwait(true)).Members;
        _selfName = members.FirstOrDefault(m => m.Self)?.Name;
        var onNodes = members.Where(m => m.Name is not null && byName.ContainsKey(m.Name)).ToList();
        if (onNodes.Count == 0)
        {
            return null;
        }

        foreach (var m in onNodes.Where(m => byName[m.Name!].Status == NodeStatus.Down && !m.Self))
        {
            try
            {
                await client.RemoveMemberAsync(m.Id).ConfigureAwait(true);
                LogRemovedVoter(m.Name!, m.Id);
            }
            catch (ControlApiException ex)
            {
                LogRemoveFailed(m.Name!, ex.Message);
            }
        }

        var controlNodes = placed.Where(p => p.Service == Planner.ControlService).Select(p => p.Node).ToHashSet(StringComparer.Ordinal);
        return onNodes.Where(m => byName[m.Name!].Status != NodeStatus.Down && !controlNodes.Contains(m.Name!)).Select(m => m.Name!).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>
    /// controlPlane.replicas went down: a voter whose control instance the plan removes while its node is alive leaves
    /// the Raft membership first, one at a time, so that stopping its process never costs the quorum (removing two of
    /// three processes before their members would leave one member that can no longer change anything).
    /// </summary>
    private async Task ShrinkAsync(Plan plan, List<NodeDto> nodes)
    {
        var down = nodes.Where(n => n.Status == NodeStatus.Down).Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
        var leaving = plan.Remove
            .Where(r => r.Service == Planner.ControlService && !down.Contains(r.Node) && !plan.Add.Any(a => a.Service == Planner.ControlService && a.Node == r.Node))
            .Select(r => r.Node)
            .OrderBy(n => n == _selfName ? 1 : 0)
            .ToList();
        foreach (var node in leaving)
        {
            var members = (await client.MembersAsync().ConfigureAwait(true)).Members;
            if (members.FirstOrDefault(m => m.Name == node) is { } member)
            {
                // A failure throws: the placement stays, and the next plan tries again.
                await client.RemoveMemberAsync(member.Id).ConfigureAwait(true);
                LogShrunk(node, member.Id, members.Count - 1);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "scheduler: reserved {Address} for node {Node} ({Mac}): no other machine gets it from DHCP")]
    private partial void LogReserved(string address, string node, string mac);

    [LoggerMessage(Level = LogLevel.Warning, Message = "scheduler: a record in the store cannot be used and is left out of the plan: {Problem}")]
    private partial void LogSkipped(string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "control plane: fewer voters wanted; removed the Raft member {Member} of node {Node} before stopping it ({Count} members left)")]
    private partial void LogShrunk(string node, string member, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "control plane: node {Node} is Down; removed its Raft member {Member}")]
    private partial void LogRemovedVoter(string node, string member);

    [LoggerMessage(Level = LogLevel.Warning, Message = "control plane: could not remove the member of Down node {Node}: {Problem}")]
    private partial void LogRemoveFailed(string node, string problem);

    public async Task TickAsync()
    {
        var now = time.GetUtcNow().UtcDateTime;
        if (cache.Current is not null && now - _lastPlan >= PlanEvery)
        {
            await PlanAsync("periodic").ConfigureAwait(true);
        }

        // A node grain lives only while something calls it. If a silo died with a node's grain and the node died too,
        // nothing would call that grain again: wake every grain whose node the store says is alive, and its timer
        // starts counting the silence.
        var hosts = await GrainFactory.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true).ConfigureAwait(true);
        var silos = string.Join(",", hosts.Keys.Select(k => k.ToString()).Order(StringComparer.Ordinal));
        if (now - _lastSweep >= SweepEvery || silos != _silos)
        {
            _silos = silos;
            _lastSweep = now;
            var nodes = await client.RangeAsync(StoreKeys.Nodes, stale: true).ConfigureAwait(true);
            var wakes = new List<Task>();
            foreach (var node in TypedValues.ReadAll(nodes.Kvs, ControlJsonContext.Default.NodeDto, new List<string>()))
            {
                if (node.Status is NodeStatus.Ready or NodeStatus.Suspect)
                {
                    wakes.Add(GrainFactory.GetGrain<INodeGrain>(node.Name).WakeAsync());
                }
            }

            await Task.WhenAll(wakes).ConfigureAwait(true);
        }
    }

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        LogActivated(RuntimeIdentity);
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "scheduler active on {Silo}")]
    private partial void LogActivated(string silo);

    [LoggerMessage(Level = LogLevel.Information, Message = "planned ({Reason}): {Summary}; revision {Revision}")]
    private partial void LogPlanned(string reason, string summary, long revision);
}
