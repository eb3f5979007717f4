using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Cluster.Tests;

/// <summary>The scheduler and service grains on a real three-member control plane, fed by heartbeats through any member.</summary>
[Collection("control")]
[Trait("Category", "Lab")]
public class SchedulingTests
{
    private static string Spec(int hello) => $$"""
        apiVersion: zerocloud.io/v1
        kind: Cluster
        metadata: { name: sched }
        spec:
          network: { subnet: 10.0.0.0/24, gateway: 10.0.0.1 }
          nodes: { heartbeat: 500ms, downAfter: 3s }
          services:
            - { name: hello, image: builtin/hello, replicas: {{hello}}, spread: node, resources: { cpu: 100m, memory: 32Mi } }
            - { name: edge, image: builtin/hello, replicas: 2, nodeSelector: { rack: r2 } }
            - { name: huge, image: builtin/hello, replicas: 1, resources: { memory: 64Gi } }
        """;

    private static string? _credentials;

    private static Task<(int Code, string Output)> ZcAsync(params string[] args) => ControlCluster.RunDllAsync(ControlCluster.ZcDll, _credentials, args);

    [Fact]
    public async Task Applied_services_are_placed_across_ready_nodes_and_moved_off_a_node_that_goes_down_even_after_a_member_dies()
    {
        await using var cluster = await ControlCluster.StartWithSilosAsync(3);
        _credentials = cluster.CredentialsFile;
        await cluster.WaitForAsync(
            async () => ((await cluster.Members[0].Client.StatusAsync()).Silos ?? []).Count(s => s.Status == "active") == 3,
            "three active silos",
            TimeSpan.FromSeconds(60));

        // Four agents heartbeat every 300 ms, each beat through the next member.
        var token = await cluster.JoinTokenAsync();
        string[] names = ["n1", "n2", "n3", "n4"];
        var silent = new ConcurrentDictionary<string, bool>();
        using var stop = new CancellationTokenSource();
        var beats = Task.Run(async () =>
        {
            var i = 0;
            while (!stop.IsCancellationRequested)
            {
                foreach (var name in names.Where(n => !silent.ContainsKey(n)))
                {
                    var via = cluster.Members[i++ % 3];
                    if (!via.IsRunning)
                    {
                        via = cluster.Members.First(m => m.IsRunning);
                    }

                    try
                    {
                        var labels = new Dictionary<string, string> { ["rack"] = name is "n3" or "n4" ? "r2" : "r1" };
                        await ControlCluster.NodeClient(via, token).HeartbeatAsync(name, new HeartbeatRequest(2, 2L << 30, "10.0.0.10", labels, ["process"]), stop.Token);
                    }
                    catch (Exception ex) when (ex is ControlApiException or OperationCanceledException)
                    {
                        // a member going away: the next beat goes elsewhere
                    }
                }

                try
                {
                    await Task.Delay(300, stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        });

        var client = cluster.Members[1].Client;
        await client.ApplyAsync(Encoding.UTF8.GetBytes(Spec(4)), "sched.yaml");
        await cluster.WaitForAsync(
            async () => (await client.ServicesAsync()).Services.Where(s => s.Name is "hello" or "edge").All(s => s.Placed == s.Desired),
            "hello and edge to be placed",
            TimeSpan.FromSeconds(60));

        // Replicas placed before every node was Ready spread out to the others once they are.
        await cluster.WaitForAsync(
            async () => (await client.InstancesAsync()).Instances.Where(v => v.Instance.Service == "hello").Select(v => v.Instance.Node).Distinct().Count() == 4,
            "hello on four distinct nodes",
            TimeSpan.FromSeconds(30));
        var instances = (await client.InstancesAsync()).Instances.Select(v => v.Instance).ToList();
        Assert.Equal(names, instances.Where(p => p.Service == "hello").Select(p => p.Node).Order());
        Assert.All(instances.Where(p => p.Service == "edge"), p => Assert.Contains(p.Node, (string[])["n3", "n4"]));
        Assert.DoesNotContain(instances, p => p.Service == "huge");
        var services = await client.ServicesAsync();
        Assert.Contains(services.Scheduler!.Unplaced, u => u.StartsWith("huge: 1 of 1 replicas unplaced", StringComparison.Ordinal));
        Assert.Equal(0, services.Services.Single(s => s.Name == "huge").Placed);

        var badNode = await Assert.ThrowsAsync<ControlApiException>(() => client.InstancesAsync("n1/../n2"));
        Assert.Equal((400, "invalid_name"), (badNode.Status, badNode.Code));

        // The same through the CLI.
        var (code, shown) = await ZcAsync("get", "services", "--server", cluster.Members[1].Api);
        Assert.Equal(0, code);
        Assert.Matches(@"hello\s+builtin/hello\s+4\s+4\s+0\s+0", shown);
        Assert.Contains("unplaced: huge: 1 of 1 replicas unplaced: no Ready node has 100m CPU and 65536Mi memory free", shown, StringComparison.Ordinal);
        (code, shown) = await ZcAsync("get", "instances", "--server", cluster.Members[1].Api);
        Assert.Equal(0, code);
        Assert.Matches(@"edge-0\s+edge\s+n[34]\s+Pending", shown);
        (code, shown) = await ZcAsync("get", "nodes", "--server", cluster.Members[1].Api);
        Assert.Equal(0, code);
        // DISK - (it reports no disk), VMS - (it runs none).
        Assert.Matches(@"n3\s+Ready\s+\S+\s+2\s+2048Mi\s+10\.0\.0\.10\s+-\s+-\s+rack=r2", shown);

        // Each service's grain keeps its observations in the store through grain storage.
        await cluster.WaitForAsync(async () => (await client.RangeAsync("/zc/grains/service/")).Kvs.Count >= 3, "service grain state in the store");

        // n4 goes silent: Down after spec.nodes.downAfter (3 s), its instances move to the other nodes.
        silent["n4"] = true;
        var quiet = Stopwatch.StartNew();
        await cluster.WaitForAsync(async () => (await client.NodesAsync()).Nodes.Single(n => n.Name == "n4").Status == NodeStatus.Down, "n4 to be Down", TimeSpan.FromSeconds(30));
        var downAfter = quiet.Elapsed;
        await cluster.WaitForAsync(
            async () =>
            {
                var now = (await client.InstancesAsync()).Instances.Select(v => v.Instance).ToList();
                return now.All(p => p.Node != "n4") && now.Count(p => p.Service == "hello") == 4 && now.Count(p => p.Service == "edge") == 2;
            },
            "n4's instances to be placed elsewhere",
            TimeSpan.FromSeconds(30));
        var moved = quiet.Elapsed;
        instances = [.. (await client.InstancesAsync()).Instances.Select(v => v.Instance)];
        Assert.Equal(instances.Count, instances.Select(p => p.Id).Distinct().Count());
        Assert.All(instances.Where(p => p.Service == "hello").GroupBy(p => p.Node), g => Assert.InRange(g.Count(), 1, 2));
        Assert.All(instances.Where(p => p.Service == "edge"), p => Assert.Equal("n3", p.Node));

        // zc apply shows what it will change; --dry-run stops there.
        var twoFile = Path.Combine(Path.GetTempPath(), $"sched-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(twoFile, Spec(2));
        (code, shown) = await ZcAsync("apply", "-f", twoFile, "--dry-run", "--server", cluster.Members[1].Api);
        File.Delete(twoFile);
        Assert.True(code == 0, shown);
        Assert.Contains("~ service hello: replicas 4 → 2", shown, StringComparison.Ordinal);
        Assert.Contains("1 change; nothing applied (dry run)", shown, StringComparison.Ordinal);
        Assert.Equal(4, (await client.InstancesAsync()).Instances.Count(v => v.Instance.Service == "hello"));

        // A member dies (its silo with whatever grains it held): a spec change is still planned, by one scheduler.
        await cluster.Members[0].KillAsync();
        client = cluster.Members[2].Client;
        await cluster.WaitForAsync(
            async () =>
            {
                try
                {
                    await client.ApplyAsync(Encoding.UTF8.GetBytes(Spec(2)), "sched.yaml");
                    return true;
                }
                catch (ControlApiException)
                {
                    return false;
                }
            },
            "the spec change to be accepted");
        await cluster.WaitForAsync(
            async () => (await client.InstancesAsync()).Instances.Count(v => v.Instance.Service == "hello") == 2,
            "hello scaled to 2",
            TimeSpan.FromSeconds(60));
        var hello = (await client.InstancesAsync()).Instances.Where(v => v.Instance.Service == "hello").Select(v => v.Instance).ToList();
        Assert.Equal(["hello-0", "hello-1"], hello.Select(p => p.Id).Order());
        Assert.Equal(2, hello.Select(p => p.Node).Distinct().Count());

        await stop.CancelAsync();
        await beats;
        Console.WriteLine($"n4 Down {downAfter.TotalSeconds:0.0}s after its last heartbeat; its instances placed elsewhere after {moved.TotalSeconds:0.0}s");
    }
}
