using System.Net;
using ZeroCloud.Model.Config;
using ZeroCloud.Model.Net;

namespace ZeroCloud.Model.Tests.Config;

public class ClusterConfigTests
{
    [Fact]
    public void The_example_at_the_repository_root_validates()
    {
        var result = ClusterConfigLoader.LoadFile("cluster.yaml");
        Assert.True(result.IsValid, string.Join("\n", result.Diagnostics));
        var spec = result.Config!.Spec;
        Assert.Equal("lab", result.Config.Metadata.Name);
        Assert.Equal(new Ipv4Subnet(IPAddress.Parse("10.77.0.0"), 24), spec.Network.Subnet);
        Assert.Equal("10.77.0.100-10.77.0.250", spec.Network.Dhcp.Range.ToString());
        Assert.Equal(TimeSpan.FromHours(1), spec.Network.Dhcp.LeaseTime);
        Assert.Equal(3, spec.ControlPlane.Replicas);
        Assert.Equal(3, spec.Nodes.Known.Length);
        var node = spec.Nodes.Known[0];
        Assert.Equal(MacAddress.Parse("52:54:00:00:00:01"), node.Mac);
        Assert.Equal("r1", node.Labels["rack"]);
        var hello = spec.Services.Single(s => s.Name == "hello");
        Assert.Equal(new ResourceSpec(100, 32L << 20), hello.Resources);
        Assert.Equal(SpreadPolicy.Node, hello.Spread);
        Assert.Equal(new HealthCheckSpec("/healthz", 8080, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(2), 3), hello.Health);
    }

    [Fact]
    public void Defaults_are_filled_in_for_everything_optional()
    {
        var result = ClusterConfigLoader.Load("""
            apiVersion: zerocloud.io/v1
            kind: Cluster
            metadata: { name: tiny }
            spec:
              network:
                subnet: 10.0.0.0/24
                gateway: 10.0.0.254
              nodes:
                known:
                  - mac: 52:54:00:AB:CD:EF
              services:
                - name: web
                  image: builtin/hello
                  ports: [80]
                  health: { http: /ok }
            """, "tiny.yaml");
        Assert.True(result.IsValid, string.Join("\n", result.Diagnostics));
        var spec = result.Config!.Spec;
        Assert.Equal("zc0", spec.Network.Interface);
        Assert.Equal(IPAddress.Parse("10.0.0.254"), Assert.Single(spec.Network.Dns));
        Assert.Equal(DhcpMode.Full, spec.Network.Dhcp.Mode);
        // Upper half of the hosts, kept clear of the gateway at .254.
        Assert.Equal("10.0.0.128-10.0.0.253", spec.Network.Dhcp.Range.ToString());
        Assert.Equal(TimeSpan.FromHours(1), spec.Network.Dhcp.LeaseTime);
        Assert.Equal(3, spec.ControlPlane.Replicas);
        Assert.Equal(EnrollMode.Auto, spec.Nodes.Enroll);
        Assert.Equal(TimeSpan.FromSeconds(1), spec.Nodes.Heartbeat);
        Assert.Equal(TimeSpan.FromSeconds(5), spec.Nodes.DownAfter);
        Assert.Equal(TimeSpan.FromMinutes(5), spec.Nodes.BootTimeout);
        // An unquoted MAC stays a MAC (YAML 1.1 would read it as a base-60 number) and a missing name is derived from it.
        Assert.Equal("node-525400abcdef", spec.Nodes.Known[0].Name);
        Assert.Equal(new BootSpec("distro", RuntimeKind.Auto), spec.Boot);
        var web = Assert.Single(spec.Services);
        Assert.Equal(1, web.Replicas);
        Assert.Equal(ResourceSpec.Default, web.Resources);
        Assert.Equal(SpreadPolicy.None, web.Spread);
        Assert.Equal(80, web.Health!.Port);
    }

    [Fact]
    public void A_file_with_five_different_mistakes_reports_all_five_in_order()
    {
        var result = ClusterConfigLoader.Load("""
            apiVersion: zerocloud.io/v1
            kind: Cluster
            metadata:
              name: lab
            spec:
              network:
                subnet: 10.77.0.0/24
                gateway: 10.77.1.1
                dhcp:
                  range: 10.77.0.200-10.77.0.100
              controlPlane:
                replicas: 4
              nodes:
                hartbeat: 1s
              services:
                - name: web
                  image: builtin/hello
                  resources: { memory: 32MB }
            """, "cluster.yaml");
        Assert.False(result.IsValid);
        Assert.Equal(
            [
                "cluster.yaml:8:14: spec.network.gateway: 10.77.1.1 is outside the subnet 10.77.0.0/24: the gateway must be reachable on the provisioning network",
                "cluster.yaml:10:14: spec.network.dhcp.range: end 10.77.0.100 is before start 10.77.0.200",
                "cluster.yaml:12:15: spec.controlPlane.replicas: 4 is not one of 1, 3, 5, 7: Raft needs an odd number of voters (3 survives one lost node, 5 survives two)",
                "cluster.yaml:14:5: spec.nodes.hartbeat: unknown field 'hartbeat' (did you mean 'heartbeat'?)",
                "cluster.yaml:18:28: spec.services[0].resources.memory: \"32MB\" is not a memory quantity: write bytes with an optional suffix, such as 32Mi, 1Gi, 512M or 1048576 (more than 0)",
            ],
            result.Diagnostics.Select(d => d.ToString()));
    }

    [Fact]
    public void Default_range_avoids_a_gateway_in_the_middle_of_the_upper_half()
    {
        var subnet = new Ipv4Subnet(IPAddress.Parse("10.0.0.0"), 24);
        Assert.Equal("10.0.0.128-10.0.0.254", ClusterConfigLoader.DefaultRange(subnet, null).ToString());
        Assert.Equal("10.0.0.128-10.0.0.199", ClusterConfigLoader.DefaultRange(subnet, IPAddress.Parse("10.0.0.200")).ToString());
        Assert.Equal("10.0.0.131-10.0.0.254", ClusterConfigLoader.DefaultRange(subnet, IPAddress.Parse("10.0.0.130")).ToString());
        Assert.Null(ClusterConfigLoader.DefaultRange(new Ipv4Subnet(IPAddress.Parse("10.0.0.0"), 31), null));
    }
}
