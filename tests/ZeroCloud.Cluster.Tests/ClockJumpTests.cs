using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Model.Api;
using ZeroCloud.Orleans;

namespace ZeroCloud.Cluster.Tests;

/// <summary>
/// A wall-clock step on every member (+30 s, during 2 s without beats, through the members' clock hook, never the host's clock) while nodes
/// keep beating: node liveness is elapsed time on the monotonic clock, so no node turns Suspect or Down and no Raft
/// member is removed.
/// </summary>
[Collection("control")]
[Trait("Category", "Lab")]
public sealed class ClockJumpTests : IDisposable
{
    private readonly string _offset = Path.Combine(Directory.CreateTempSubdirectory("zc-clock-").FullName, "offset");

    public void Dispose() => Directory.Delete(Path.GetDirectoryName(_offset)!, recursive: true);

    private const string Spec = """
        apiVersion: zerocloud.io/v1
        kind: Cluster
        metadata: { name: clock }
        spec:
          network: { subnet: 10.81.0.0/24, gateway: 10.81.0.1 }
          controlPlane: { replicas: 3 }
          nodes: { heartbeat: 1s, downAfter: 6s }
          services:
            - { name: hello, image: builtin/hello, replicas: 1 }
        """;

    [Fact]
    public async Task A_30_second_forward_step_of_the_wall_clock_changes_no_nodes_status_and_removes_no_member()
    {
        await File.WriteAllTextAsync(_offset, "0");
        await using var cluster = await ControlCluster.StartWithSilosAsync(3, new Dictionary<string, string> { [OffsetTimeProvider.Variable] = _offset });
        var observer = cluster.Members[0];
        await cluster.WaitForActiveSilosAsync(3, observer);
        await observer.Client.ApplyAsync(System.Text.Encoding.UTF8.GetBytes(Spec), "clock.yaml");
        var token = await cluster.JoinTokenAsync();
        string[] nodes = ["c1", "c2", "c3"];

        // Three nodes beat every 500 ms, each through its own member, as agents do; paused for 2 s around the step
        // (under the 3 s after which a silent node is Suspect), so that the grains' checks fall in the silence.
        using var stop = new CancellationTokenSource();
        var paused = false;
        var beating = nodes.Select((name, i) => Task.Run(async () =>
        {
            var client = ControlCluster.NodeClient(cluster.Members[i], token);
            while (!stop.IsCancellationRequested)
            {
                if (Volatile.Read(ref paused))
                {
                    await Task.Delay(50, CancellationToken.None);
                    continue;
                }

                try
                {
                    await client.HeartbeatAsync(name, new HeartbeatRequest(2, 4L << 30), stop.Token);
                }
                catch (Exception ex) when (ex is ControlApiException or HttpRequestException or OperationCanceledException)
                {
                    // the next beat
                }

                await Task.Delay(500, CancellationToken.None);
            }
        })).ToList();

        await cluster.WaitForAsync(async () => (await observer.Client.NodesAsync()).Nodes.Count(n => nodes.Contains(n.Name) && n.Status == NodeStatus.Ready) == 3, "three Ready nodes");
        await Task.Delay(2000);
        var before = (await observer.Client.NodesAsync()).Nodes.Where(n => nodes.Contains(n.Name)).ToDictionary(n => n.Name, n => n.Transitions);
        var members = (await observer.Client.StatusAsync()).Members.Count;

        // Every member's wall clock jumps 30 s ahead (five times downAfter) at once.
        Volatile.Write(ref paused, true);
        await Task.Delay(200);
        await File.WriteAllTextAsync(_offset, "30");
        await Task.Delay(1800);
        Volatile.Write(ref paused, false);
        for (var i = 0; i < 12; i++)
        {
            await Task.Delay(500);
            var now = (await observer.Client.NodesAsync()).Nodes.Where(n => nodes.Contains(n.Name)).ToList();
            var moved = now.Where(n => n.Status != NodeStatus.Ready || n.Transitions != before[n.Name]).ToList();
            Assert.True(moved.Count == 0, string.Join("; ", moved.Select(n => $"{n.Name} is {n.Status} after the clock step (transitions {before[n.Name]} → {n.Transitions})")) + "\n" + string.Join("\n", cluster.Members.Select(m => m.Output)));
        }

        // Positive control: the node grains' wall clock did step (a beat's answer carries the time the grain saw it).
        var seen = await ControlCluster.NodeClient(observer, token).HeartbeatAsync("c1", new HeartbeatRequest(2, 4L << 30));
        Assert.True(seen.LastSeen > DateTime.UtcNow.AddSeconds(20), $"the grain's clock says {seen.LastSeen:O}; the host's is {DateTime.UtcNow:O}\n{observer.Output}");
        Assert.Equal(members, (await observer.Client.StatusAsync()).Members.Count);
        await stop.CancelAsync();
        await Task.WhenAll(beating);
    }
}
