using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Storage;

/// <summary>
/// The storage instance's lifetime: the HTTP server, and the background loop. Every two seconds it looks at the
/// nodes; a repair pass runs when a node's status changed, when the last pass left work, or every 30 s; collection
/// every minute; the scrub every spec.storage.scrubEvery (at 50 MB/s, remembered across restarts in the data folder).
/// </summary>
public sealed partial class StorageService(StorageServer server, StorageEngine engine, ILogger<StorageService> logger, TimeProvider time) : BackgroundService
{
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await server.StartAsync(cancellationToken).ConfigureAwait(false);
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        await server.DisposeAsync().ConfigureAwait(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var lastNodes = "";
        var lastRepair = DateTime.MinValue;
        var lastCollect = time.GetUtcNow().UtcDateTime;
        var pending = 0;
        var scrubStamp = Path.Combine(engine.Chunks.Root, "last-scrub");
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var now = time.GetUtcNow().UtcDateTime;
                var (nodes, _) = await engine.Catalog.NodesAsync(TimeSpan.Zero).ConfigureAwait(false);
                var view = string.Join(",", nodes.Values.OrderBy(n => n.Name, StringComparer.Ordinal).Select(n => $"{n.Name}:{n.Status}:{n.RunsStorage}"));
                var spec = await engine.Catalog.SpecAsync().ConfigureAwait(false);
                // A Down node's copies become lost repairAfter later: look again then, without anything changing.
                var dueLost = nodes.Values.Any(n => n.Status == NodeStatus.Down && now - n.Since >= spec.RepairAfter && now - n.Since < spec.RepairAfter + TimeSpan.FromSeconds(4));
                if (view != lastNodes || pending > 0 || dueLost || now - lastRepair > TimeSpan.FromSeconds(30))
                {
                    lastNodes = view;
                    lastRepair = now;
                    (_, pending) = await engine.RepairPassAsync(stoppingToken).ConfigureAwait(false);
                }

                if (now - lastCollect > TimeSpan.FromMinutes(1))
                {
                    lastCollect = now;
                    var (copies, blobs) = await engine.CollectAsync(stoppingToken).ConfigureAwait(false);
                    if (copies + blobs > 0)
                    {
                        LogCollected(logger, copies, blobs);
                    }
                }

                var scrubbed = File.Exists(scrubStamp) ? File.GetLastWriteTimeUtc(scrubStamp) : DateTime.MinValue;
                if (scrubbed == DateTime.MinValue)
                {
                    await File.WriteAllTextAsync(scrubStamp, "", stoppingToken).ConfigureAwait(false); // the first scrub is one period after the first start
                }
                else if (now - scrubbed >= spec.ScrubEvery)
                {
                    await engine.ScrubAsync(50L << 20, stoppingToken).ConfigureAwait(false);
                    File.SetLastWriteTimeUtc(scrubStamp, time.GetUtcNow().UtcDateTime);
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or ControlApiException or IOException or InvalidOperationException && !stoppingToken.IsCancellationRequested)
            {
                LogLoopFailed(logger, ex.Message);
            }

            try
            {
                await Task.Delay(TimeSpan.FromSeconds(pending > 0 ? 0.5 : 2), time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(EventId = 7030, Level = LogLevel.Information, Message = "collected {Copies} unneeded copies and {Blobs} unreferenced blobs")]
    private static partial void LogCollected(ILogger logger, int copies, int blobs);

    [LoggerMessage(EventId = 7031, Level = LogLevel.Warning, Message = "storage maintenance: {Problem} (again in a moment)")]
    private static partial void LogLoopFailed(ILogger logger, string problem);
}
