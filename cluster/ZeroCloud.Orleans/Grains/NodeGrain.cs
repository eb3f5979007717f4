using Microsoft.Extensions.Logging;

namespace ZeroCloud.Orleans.Grains;

/// <summary>What an agent reports with each heartbeat.</summary>
[GenerateSerializer]
[Immutable]
public sealed record NodeBeat([property: Id(0)] int Cpus, [property: Id(1)] long MemoryBytes);

/// <summary>A machine as its grain sees it, and which silo holds the grain.</summary>
[GenerateSerializer]
[Immutable]
public sealed record NodeView(
    [property: Id(0)] string Name,
    [property: Id(1)] string Status,
    [property: Id(2)] DateTime? LastSeen,
    [property: Id(3)] int Cpus,
    [property: Id(4)] long MemoryBytes,
    [property: Id(5)] long Transitions,
    [property: Id(6)] string Silo);

/// <summary>The durable part of a node: its status and inventory; heartbeats themselves are not stored.</summary>
[GenerateSerializer]
public sealed class NodeState
{
    [Id(0)]
    public string Status { get; set; } = "Unknown";

    [Id(1)]
    public int Cpus { get; set; }

    [Id(2)]
    public long MemoryBytes { get; set; }

    [Id(3)]
    public long Transitions { get; set; }
}

public interface INodeGrain : IGrainWithStringKey
{
    Task<NodeView> HeartbeatAsync(NodeBeat beat);

    Task<NodeView> GetAsync();
}

/// <summary>How long a node may be silent before it is Suspect, and then Down.</summary>
public sealed record NodeLiveness(TimeSpan SuspectAfter, TimeSpan DownAfter);

/// <summary>
/// One machine. Heartbeats land in memory; only transitions (Ready, Suspect, Down) and inventory changes are written
/// to the store, so a steady cluster writes nothing per heartbeat. The state survives the silo that held it.
/// </summary>
public sealed partial class NodeGrain(
    [PersistentState("node", ControlSilo.StorageName)] IPersistentState<NodeState> state,
    NodeLiveness liveness,
    TimeProvider time,
    ILogger<NodeGrain> logger) : Grain, INodeGrain
{
    private DateTime? _lastSeen;
    private IGrainTimer? _timer;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _timer = this.RegisterGrainTimer(CheckAsync, new GrainTimerCreationOptions(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1)) { KeepAlive = true });
        return Task.CompletedTask;
    }

    public async Task<NodeView> HeartbeatAsync(NodeBeat beat)
    {
        _lastSeen = time.GetUtcNow().UtcDateTime;
        var s = state.State;
        if (s.Status != "Ready" || s.Cpus != beat.Cpus || s.MemoryBytes != beat.MemoryBytes)
        {
            s.Cpus = beat.Cpus;
            s.MemoryBytes = beat.MemoryBytes;
            await TransitionAsync("Ready").ConfigureAwait(true);
        }

        return View();
    }

    public Task<NodeView> GetAsync() => Task.FromResult(View());

    private async Task CheckAsync(CancellationToken cancellationToken)
    {
        if (state.State.Status is "Unknown" or "Down")
        {
            return;
        }

        // A grain reactivated elsewhere has not heard from its node yet: the silence starts now.
        _lastSeen ??= time.GetUtcNow().UtcDateTime;
        var silent = time.GetUtcNow().UtcDateTime - _lastSeen.Value;
        var next = silent >= liveness.DownAfter ? "Down" : silent >= liveness.SuspectAfter ? "Suspect" : state.State.Status;
        if (next != state.State.Status)
        {
            await TransitionAsync(next).ConfigureAwait(true);
        }
    }

    private async Task TransitionAsync(string status)
    {
        var from = state.State.Status;
        state.State.Status = status;
        state.State.Transitions++;
        await state.WriteStateAsync().ConfigureAwait(true);
        LogTransition(this.GetPrimaryKeyString(), from, status);
    }

    private NodeView View() => new(
        this.GetPrimaryKeyString(), state.State.Status, _lastSeen, state.State.Cpus, state.State.MemoryBytes, state.State.Transitions, RuntimeIdentity);

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "node {Node}: {From} -> {To}")]
    private partial void LogTransition(string node, string from, string to);
}
