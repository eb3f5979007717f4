using ZeroCloud.Model.Api;

namespace ZeroCloud.Node;

/// <summary>
/// The agent's heartbeat: POST /v1/nodes/{name}/heartbeat to a control-plane member every nodes.heartbeat (the
/// answer says how often); when a member does not answer, the next one in the list, so a lost member costs one
/// beat. Inventory goes with every beat; the node's grain writes only what changed.
/// </summary>
internal sealed class Heartbeat(IReadOnlyList<string> endpoints, string name, string? token, Func<HeartbeatRequest> report, Action<string> log)
{
    private int _current;

    public NodeStatusDto? Last { get; private set; }

    public async Task RunAsync(CancellationToken ct)
    {
        var clients = endpoints.Select(e => new ControlClient(new Uri(e), new HttpClient { Timeout = TimeSpan.FromSeconds(3) }) { Token = token }).ToList();
        var interval = TimeSpan.FromSeconds(1);
        string? lastStatus = null;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var started = DateTime.UtcNow;
                var beat = report();
                for (var tried = 0; tried < clients.Count; tried++)
                {
                    var client = clients[_current];
                    try
                    {
                        Last = await client.HeartbeatAsync(name, beat, ct).ConfigureAwait(false);
                        interval = TimeSpan.FromSeconds(Math.Clamp(Last.HeartbeatSeconds, 0.1, 60));
                        if (Last.Status != lastStatus)
                        {
                            log($"heartbeat via {client.Server}: node {name} is {Last.Status} (every {interval.TotalSeconds:0.###} s)");
                            lastStatus = Last.Status;
                        }

                        break;
                    }
                    catch (ControlApiException ex) when (ex.Status is 401 or 403)
                    {
                        // A refusal is final: a wrong token or a machine the cluster does not enroll.
                        throw new UnauthorizedAccessException($"{client.Server} refused this node: {ex.Message}");
                    }
                    catch (ControlApiException ex) when (!ct.IsCancellationRequested)
                    {
                        log($"heartbeat via {client.Server}: {ex.Message}");
                        _current = (_current + 1) % clients.Count;
                    }
                }

                var wait = interval - (DateTime.UtcNow - started);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, ct).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // stopping
        }
        finally
        {
            foreach (var c in clients)
            {
                c.Dispose();
            }
        }
    }
}
