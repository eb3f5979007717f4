using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Cluster.Tests;

/// <summary>
/// Code inside a member (the membership table, grain storage, grains) uses the store in-process: it never sends a
/// request to its own API, and a follower's write reaches the leader in one forwarded hop. Counted at Kestrel on
/// every member (<c>GET /v1/metrics</c>).
/// </summary>
[Collection("control")]
[Trait("Category", "Lab")]
public class InProcessStoreTests
{
    private const string Spec = """
        apiVersion: zerocloud.io/v1
        kind: Cluster
        metadata: { name: inproc }
        spec:
          network: { subnet: 10.81.0.0/24, gateway: 10.81.0.1 }
          services:
            - { name: hello, image: builtin/hello, replicas: 1 }
        """;

    private static readonly string[] StoreRoutes = ["kv", "txn", "watch"];

    [Fact]
    public async Task A_heartbeat_transition_a_grain_storage_write_and_membership_writes_make_no_request_from_a_member_to_itself()
    {
        await using var cluster = await ControlCluster.StartWithSilosAsync(3);
        var observer = cluster.Members[0];
        await cluster.WaitForActiveSilosAsync(3, observer, "three active silos (each one's joining is membership-table writes)");

        var termBefore = (await observer.Client.StatusAsync()).Term;

        // The test's own store reads carry their own agent, so they can be told apart.
        using var http = cluster.Trust!.Client(TimeSpan.FromSeconds(20));
        http.DefaultRequestHeaders.UserAgent.ParseAdd("zc-test/1");
        using var reader = new ControlClient(new Uri(observer.Api), http) { Token = cluster.AdminCredential };

        // A grain-storage write: the applied spec wakes the service grain, which persists its state.
        await observer.Client.ApplyAsync(System.Text.Encoding.UTF8.GetBytes(Spec), "inproc.yaml");
        // A heartbeat transition: the node grain writes n1's Ready to /zc/nodes/n1, through every member in turn.
        var token = await cluster.JoinTokenAsync();
        foreach (var member in cluster.Members)
        {
            var status = await ControlCluster.NodeClient(member, token).HeartbeatAsync($"n{member.Name}", new HeartbeatRequest(4, 8L << 30));
            Assert.Equal(NodeStatus.Ready, status.Status);
        }

        await cluster.WaitForAsync(async () => (await reader.RangeAsync("/zc/grains/")).Kvs.Count > 0, "a grain's state in the store");
        await cluster.WaitForAsync(async () => (await reader.RangeAsync("/zc/nodes/")).Kvs.Count == 3, "three nodes written by their grains");

        var leader = cluster.Leader();
        // Forwarded writes go to whoever leads when they are made: when leadership moved during the test (a loaded CI
        // machine), the earlier leader holds some of them, and only the totals below are checked.
        var leadershipMoved = (await leader.Client.StatusAsync()).Term != termBefore;
        var forwarded = 0L;
        foreach (var member in cluster.Members)
        {
            var requests = (await member.Client.MetricsAsync()).Requests;
            Assert.DoesNotContain(requests, r => r.Origin == "self");
            var fromInside = requests.Where(r => StoreRoutes.Contains(r.Route) && r.Origin == "client" && r.Agent != "zc-test").ToList();
            Assert.True(fromInside.Count == 0, $"{member.Name}: store requests that did not come from the test or another member: {string.Join(", ", fromInside)}");
            var hops = requests.Where(r => r.Origin == "member").Sum(r => r.Count);
            if (member != leader && !leadershipMoved)
            {
                Assert.Equal(0, hops);
            }

            forwarded += hops;
        }

        // Positive controls: the counting sees the test's reads, and the followers' writes went to the leader in one hop.
        Assert.Contains((await observer.Client.MetricsAsync()).Requests, r => r.Route == "kv" && r.Agent == "zc-test" && r.Count > 0);
        Assert.True(forwarded > 0, "no write was forwarded to the leader, though two silos live on followers");
    }
}
