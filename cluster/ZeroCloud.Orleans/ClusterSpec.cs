using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Config;
using ZeroCloud.Orleans.Grains;

namespace ZeroCloud.Orleans;

/// <summary>The applied cluster.yaml as this silo last saw it (null until one is applied), and its store revision.</summary>
public sealed class ClusterSpecCache
{
    private volatile Snapshot? _current;

    public sealed record Snapshot(ClusterConfig Config, long Revision);

    public Snapshot? Current => _current;

    /// <summary>Node liveness from <c>nodes.heartbeat</c> and <c>nodes.downAfter</c>: Suspect after three missed heartbeats (at most half of downAfter), Down after downAfter.</summary>
    public NodeLiveness Liveness(NodeLiveness fallback) => _current is { } s
        ? new NodeLiveness(TimeSpan.FromTicks(Math.Min(s.Config.Spec.Nodes.Heartbeat.Ticks * 3, s.Config.Spec.Nodes.DownAfter.Ticks / 2)), s.Config.Spec.Nodes.DownAfter)
        : fallback;

    /// <summary>Parses a stored spec; a spec that does not load (it was validated when applied) is ignored.</summary>
    public bool Update(KvDto? kv)
    {
        if (kv is null || (_current is { } c && c.Revision >= kv.ModRevision))
        {
            return false;
        }

        var loaded = ClusterConfigLoader.Load(Encoding.UTF8.GetBytes(kv.Value), StoreKeys.Spec);
        if (loaded.Config is not { } config || !loaded.IsValid)
        {
            return false;
        }

        _current = new Snapshot(config, kv.ModRevision);
        return true;
    }
}

/// <summary>
/// Runs in every silo: follows <c>/zc/spec</c> into <see cref="ClusterSpecCache"/>, tells every service's grain when
/// the spec changes, and ticks the scheduler every few seconds (which keeps its single activation alive and lets it
/// sweep for nodes whose grains are not active). Every silo does this; the grains make it idempotent.
/// </summary>
public sealed partial class ClusterReconciler(IControlStore client, ClusterSpecCache cache, IGrainFactory grains, ILogger<ClusterReconciler> logger) : BackgroundService
{
    public static readonly TimeSpan TickEvery = TimeSpan.FromSeconds(2);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var tick = new PeriodicTimer(TickEvery);
        var watch = FollowSpecAsync(stoppingToken);
        try
        {
            while (await tick.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    await grains.GetGrain<ISchedulerGrain>(SchedulerGrain.Key).TickAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    LogTickFailed(logger, ex.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping
        }

        await watch.ConfigureAwait(false);
    }

    private async Task FollowSpecAsync(CancellationToken ct)
    {
        long from;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                // The revision first, then the spec: a change in between is in both, and Update ignores a repeat.
                var status = await client.StatusAsync(ct).ConfigureAwait(false);
                var kv = await client.GetAsync(StoreKeys.Spec, ct: ct).ConfigureAwait(false);
                var before = cache.Current;
                if (cache.Update(kv))
                {
                    await NotifyAsync(before).ConfigureAwait(false);
                }

                from = status.Revision + 1;
                await foreach (var e in client.WatchAsync(StoreKeys.Spec, from, ct).ConfigureAwait(false))
                {
                    from = e.Revision + 1;
                    if (e.Key != StoreKeys.Spec || e.Type != "put")
                    {
                        continue;
                    }

                    before = cache.Current;
                    if (cache.Update(new KvDto(e.Key, e.Value, 0, e.Revision, 0)))
                    {
                        await NotifyAsync(before).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // compacted, member restarting, silo stopping: read the spec again and watch from there
                LogWatchFailed(logger, ex.Message);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task NotifyAsync(ClusterSpecCache.Snapshot? before)
    {
        var now = cache.Current!;
        LogSpec(logger, now.Revision, now.Config.Spec.Services.Length);
        var names = now.Config.Spec.Services.Select(s => s.Name).Concat(before?.Config.Spec.Services.Select(s => s.Name) ?? []).Distinct();
        foreach (var name in names)
        {
            try
            {
                await grains.GetGrain<IServiceGrain>(name).SyncAsync(now.Revision).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is TimeoutException or OrleansException or ControlApiException)
            {
                LogTickFailed(logger, $"service {name}: {ex.Message}");
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "spec at revision {Revision}: {Services} services")]
    private static partial void LogSpec(ILogger logger, long revision, int services);

    [LoggerMessage(Level = LogLevel.Debug, Message = "following /zc/spec: {Problem}; again in 1 s")]
    private static partial void LogWatchFailed(ILogger logger, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "reconcile tick: {Problem}")]
    private static partial void LogTickFailed(ILogger logger, string problem);
}
