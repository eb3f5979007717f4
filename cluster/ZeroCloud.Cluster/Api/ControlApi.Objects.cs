using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Config;
using static ZeroCloud.Cluster.Api.ApiResults;

namespace ZeroCloud.Cluster.Api;

/// <summary>The typed objects of the cluster, read from the store: nodes, placed instances, services.</summary>
public sealed partial class ControlApi
{
    private async Task NodesAsync(HttpContext ctx)
    {
        if (!IsTrue(ctx.Request.Query["stale"]) && !await BarrierAsync(ctx).ConfigureAwait(false))
        {
            return;
        }

        var (revision, kvs) = _node.Read(s => (s.Revision, s.Range(StoreKeys.Nodes, 0)));
        var skipped = new List<string>();
        var nodes = kvs.Select(kv => TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.NodeDto, skipped)).OfType<NodeDto>().ToList();
        ReportSkipped(skipped);
        await JsonAsync(ctx, 200, new NodesResponse(revision, nodes), ControlJsonContext.Default.NodesResponse).ConfigureAwait(false);
    }

    private async Task InstancesAsync(HttpContext ctx)
    {
        if (!IsTrue(ctx.Request.Query["stale"]) && !await BarrierAsync(ctx).ConfigureAwait(false))
        {
            return;
        }

        var node = ctx.Request.Query["node"] is { Count: > 0 } n ? n.ToString() : null;
        if (node is not null && !IsNodeName(node))
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidName, $"node: \"{node}\" is not a node name (letters, digits, '-', '.', '_'; at most 253)").ConfigureAwait(false);
            return;
        }

        var (revision, placements, states) = ReadInstances(node);
        var stateOf = states.ToDictionary(s => (s.Node, s.Id));
        var views = placements.Select(p => new InstanceView(p, stateOf.GetValueOrDefault((p.Node, p.Id)))).ToList();
        await JsonAsync(ctx, 200, new InstancesResponse(revision, views), ControlJsonContext.Default.InstancesResponse).ConfigureAwait(false);
    }

    private async Task ServicesAsync(HttpContext ctx)
    {
        if (!IsTrue(ctx.Request.Query["stale"]) && !await BarrierAsync(ctx).ConfigureAwait(false))
        {
            return;
        }

        var (revision, spec, scheduler) = _node.Read(s => (s.Revision, s.Get(StoreKeys.Spec), s.Get(StoreKeys.Scheduler)));
        var (_, placements, states) = ReadInstances(null);
        if (spec is null)
        {
            await JsonAsync(ctx, 200, new ServicesResponse(revision, 0, []), ControlJsonContext.Default.ServicesResponse).ConfigureAwait(false);
            return;
        }

        var config = ClusterConfigLoader.Load(spec.Value, StoreKeys.Spec).Config;
        var services = ServiceCounts.Compute(config?.Spec.Services ?? [], placements, states);
        var decision = scheduler is null ? null : JsonSerializer.Deserialize(scheduler.Value, ControlJsonContext.Default.SchedulerDto);
        await JsonAsync(ctx, 200, new ServicesResponse(revision, spec.ModRevision, services, decision), ControlJsonContext.Default.ServicesResponse).ConfigureAwait(false);
    }

    /// <summary>
    /// The token of what is placed on <paramref name="node"/> as this member has applied it (no barrier: a heartbeat
    /// answers with it, and the agent lists its placements, linearizably, when it changes).
    /// </summary>
    public string PlacementsTokenOf(string node) =>
        PlacementsToken.Of(_node.Read(s => s.Range(StoreKeys.Instances + node + "/", 0)).Select(kv => kv.ModRevision));

    private (long Revision, List<InstanceDto> Placements, List<InstanceStateDto> States) ReadInstances(string? node)
    {
        var suffix = node is null ? "" : node + "/";
        var (revision, placed, reported) = _node.Read(s => (s.Revision, s.Range(StoreKeys.Instances + suffix, 0), s.Range(StoreKeys.InstanceStates + suffix, 0)));
        var skipped = new List<string>();
        var result = (
            revision,
            placed.Select(kv => TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.InstanceDto, skipped)).OfType<InstanceDto>().ToList(),
            reported.Select(kv => TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.InstanceStateDto, skipped)).OfType<InstanceStateDto>().ToList());
        ReportSkipped(skipped);
        return result;
    }

    private void ReportSkipped(List<string> skipped)
    {
        foreach (var problem in skipped)
        {
            LogSkipped(problem);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "a record in the store cannot be used and is left out: {Problem}")]
    private partial void LogSkipped(string problem);
}
