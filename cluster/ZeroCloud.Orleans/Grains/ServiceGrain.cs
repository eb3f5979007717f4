using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Orleans.Grains;

/// <summary>A service as its grain last observed it; kept in the Raft store through grain storage, written only when it changes.</summary>
[GenerateSerializer]
public sealed class ServiceState
{
    [Id(0)]
    public int Desired { get; set; }

    [Id(1)]
    public int Placed { get; set; }

    [Id(2)]
    public int Running { get; set; }

    [Id(3)]
    public int Healthy { get; set; }

    [Id(4)]
    public long SpecRevision { get; set; }

    [Id(5)]
    public long PlansAsked { get; set; }
}

[GenerateSerializer]
[Immutable]
public sealed record ServiceView([property: Id(0)] string Name, [property: Id(1)] int Desired, [property: Id(2)] int Placed, [property: Id(3)] int Running, [property: Id(4)] int Healthy, [property: Id(5)] long PlansAsked);

public interface IServiceGrain : IGrainWithStringKey
{
    /// <summary>Compares desired and observed replicas (after the spec reached <paramref name="specRevision"/>), and asks the scheduler to plan when they differ.</summary>
    Task<ServiceView> SyncAsync(long specRevision);
}

/// <summary>
/// One service of the applied spec: every few seconds (and on every spec change) it compares the replicas wanted with
/// those placed, running and healthy; when wanted and placed differ it asks the one <see cref="SchedulerGrain"/> to
/// plan. It never places anything itself, so placement stays in one place. A service gone from the spec with no
/// placements left clears its state and goes idle.
/// </summary>
public sealed partial class ServiceGrain(
    [PersistentState("service", ControlSilo.StorageName)] IPersistentState<ServiceState> state,
    IControlStore client,
    ClusterSpecCache spec,
    ILogger<ServiceGrain> logger) : Grain, IServiceGrain
{
    private static readonly TimeSpan Every = TimeSpan.FromSeconds(5);
    private IGrainTimer? _timer;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _timer = this.RegisterGrainTimer(_ => SyncAsync(0), new GrainTimerCreationOptions(Every, Every) { KeepAlive = true });
        return Task.CompletedTask;
    }

    public async Task<ServiceView> SyncAsync(long specRevision)
    {
        if (spec.Current is not { } current || current.Revision < specRevision)
        {
            spec.Update(await client.GetAsync(StoreKeys.Spec).ConfigureAwait(true));
            current = spec.Current;
        }

        var name = this.GetPrimaryKeyString();
        var service = current?.Config.Spec.Services.FirstOrDefault(s => s.Name == name);
        // Bad records are reported by the scheduler, which reads the same ranges; here they are only left out.
        var skipped = new List<string>();
        var placements = TypedValues.ReadAll((await client.RangeAsync(StoreKeys.Instances).ConfigureAwait(true)).Kvs, ControlJsonContext.Default.InstanceDto, skipped)
            .Where(p => p.Service == name)
            .ToList();
        var states = TypedValues.ReadAll((await client.RangeAsync(StoreKeys.InstanceStates).ConfigureAwait(true)).Kvs, ControlJsonContext.Default.InstanceStateDto, skipped);
        var counts = service is null
            ? new ServiceDto(name, "", 0, placements.Count, 0, 0)
            : ServiceCounts.Compute([service], placements, states)[0];

        var s = state.State;
        var failing = placements.Count(p => Scheduling.Planner.OverBudget(states.FirstOrDefault(st => st.Node == p.Node && st.Id == p.Id)));
        if (counts.Desired != counts.Placed || failing > 0)
        {
            LogDiffers(name, counts.Desired, counts.Placed, failing);
            s.PlansAsked++;
            await GrainFactory.GetGrain<ISchedulerGrain>(SchedulerGrain.Key).PlanAsync($"service {name}: {counts.Placed} of {counts.Desired} placed, {failing} failing").ConfigureAwait(true);
        }

        if (service is null && counts.Placed == 0)
        {
            if (state.RecordExists)
            {
                await state.ClearStateAsync().ConfigureAwait(true);
            }

            _timer?.Dispose();
            DeactivateOnIdle();
            return new ServiceView(name, 0, 0, 0, 0, 0);
        }

        var revision = current?.Revision ?? 0;
        if (s.Desired != counts.Desired || s.Placed != counts.Placed || s.Running != counts.Running || s.Healthy != counts.Healthy || s.SpecRevision != revision || !state.RecordExists)
        {
            (s.Desired, s.Placed, s.Running, s.Healthy, s.SpecRevision) = (counts.Desired, counts.Placed, counts.Running, counts.Healthy, revision);
            await state.WriteStateAsync().ConfigureAwait(true);
        }

        return new ServiceView(name, s.Desired, s.Placed, s.Running, s.Healthy, s.PlansAsked);
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "service {Service}: {Placed} of {Desired} replicas placed, {Failing} failed beyond their restart budget; asking the scheduler")]
    private partial void LogDiffers(string service, int desired, int placed, int failing);
}
