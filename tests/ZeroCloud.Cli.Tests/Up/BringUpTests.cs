using ZeroCloud.Cli.Up;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Config;

namespace ZeroCloud.Cli.Tests.Up;

/// <summary>zc up's pure parts: the lab plan made before anything is touched, and a server's progress from its events.</summary>
public class BringUpTests
{
    private static ClusterConfig Config(string network, string known = "")
    {
        var result = ClusterConfigLoader.Load($$"""
            apiVersion: zerocloud.io/v1
            kind: Cluster
            metadata: { name: t }
            spec:
              network: {{network}}
            {{known}}
            """, "t.yaml");
        Assert.True(result.IsValid, string.Join("\n", result.Diagnostics));
        return result.Config!;
    }

    private const string Network = "{ subnet: 10.9.0.0/24, gateway: 10.9.0.1, dhcp: { range: 10.9.0.100-10.9.0.104 } }";

    [Fact]
    public void The_plan_puts_the_seed_on_the_first_free_address_and_known_machines_first()
    {
        var config = Config(Network, """
              nodes:
                known: [ { name: a, mac: "52:54:00:00:00:aa", ip: 10.9.0.2 } ]
            """);

        var plan = LabPlan.Make(config, 3, "/lab", "zc-t", out var problem, out _);

        Assert.Null(problem);
        Assert.Equal("10.9.0.3", plan!.SeedAddress);
        Assert.Equal(["52:54:00:00:00:aa", "52:54:00:7a:00:02", "52:54:00:7a:00:03"], plan.Servers.Select(s => s.Mac));
        Assert.Equal(("s001", "zc-t-s001", "/lab/s001"), (plan.Servers[0].Id, plan.Servers[0].Namespace, plan.Servers[0].Directory));
        Assert.Equal(["zc-t-sw", "zc-t-seed", "zc-t-s001", "zc-t-s002", "zc-t-s003"], plan.ToState("zc-t-sw", DateTime.UnixEpoch).Namespaces);
    }

    [Theory]
    [InlineData(6, true, "between 1 and 5 (the DHCP range 10.9.0.100-10.9.0.104 holds 5 addresses)")]
    [InlineData(0, true, "between 1 and 5")]
    public void More_servers_than_the_range_holds_is_a_usage_error(int count, bool usage, string said)
    {
        Assert.Null(LabPlan.Make(Config(Network), count, "/lab", "zc-t", out var problem, out var isUsage));
        Assert.Equal(usage, isUsage);
        Assert.Contains(said, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_network_without_a_full_dhcp_range_cannot_be_a_lab()
    {
        Assert.Null(LabPlan.Make(Config("{ subnet: 10.9.0.0/24, dhcp: { mode: proxy } }"), 3, "/lab", "zc-t", out var problem, out var usage));
        Assert.False(usage);
        Assert.Contains("dhcp.mode must be full", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_server_moves_forward_through_its_boot_events_and_is_lost_when_its_node_goes_down()
    {
        var v = new ServerView(new LabServer("s001", "ns", "52:54:00:00:00:01", "/lab/s001"));
        var now = DateTime.UtcNow;
        v.Apply(new BootEvent(BootPhase.Dhcp, now, Address: "10.9.0.100"));
        v.Apply(new BootEvent(BootPhase.Failed, now, Detail: "tftp: timed out (attempt 1)"));
        v.Apply(new BootEvent(BootPhase.Tftp, now));
        v.Apply(new BootEvent(BootPhase.Dhcp, now, Address: "10.9.0.100"));
        Assert.Equal((ServerPhase.Tftp, "10.9.0.100", "tftp: timed out (attempt 1)"), (v.Phase, v.Address, v.Problem));
        Assert.True(v.Reached(ServerPhase.Dhcp));

        v.Apply(NodeStatus.Ready); // no name yet: not its node
        Assert.Equal(ServerPhase.Tftp, v.Phase);
        v.Apply(new BootEvent(BootPhase.Booted, now, Name: "s001"));
        v.Apply(NodeStatus.Ready);
        Assert.True(v.IsIn);
        v.Apply(NodeStatus.Down);
        Assert.Equal((ServerPhase.LostDown, "lost (Down)"), (v.Phase, v.PhaseText));
        Assert.False(v.Reached(ServerPhase.Dhcp));
    }

    [Fact]
    public void A_server_whose_processes_are_gone_before_it_is_in_is_lost_with_where_it_was()
    {
        var v = new ServerView(new LabServer("s005", "ns", "52:54:00:00:00:05", "/lab/s005"));
        v.SwitchedOff();

        Assert.Equal(ServerPhase.LostOff, v.Phase);
        Assert.Equal("its processes are gone (was at powered on)", v.Problem);
    }
}
