using ZeroCloud.Model.Config;

namespace ZeroCloud.Model.Tests.Config;

public class SpecDiffTests
{
    private static ClusterConfig Load(string services, string nodes = "nodes: { heartbeat: 1s }", int replicas = 3)
    {
        var yaml = $$"""
            apiVersion: zerocloud.io/v1
            kind: Cluster
            metadata: { name: d }
            spec:
              network: { subnet: 10.0.0.0/24, gateway: 10.0.0.1 }
              controlPlane: { replicas: {{replicas}} }
              {{nodes}}
              services:
            {{services}}
            """;
        var result = ClusterConfigLoader.Load(yaml, "d.yaml");
        Assert.True(result.IsValid, string.Join("\n", result.Diagnostics));
        return result.Config!;
    }

    [Fact]
    public void Lists_each_added_removed_and_changed_thing_and_nothing_for_the_same_spec()
    {
        var before = Load("""
                - { name: web, image: builtin/hello, replicas: 4, spread: node }
                - { name: old, image: builtin/hello, replicas: 2 }
            """);
        var after = Load(
            """
                - { name: web, image: builtin/hello, replicas: 2, spread: node, resources: { memory: 128Mi } }
                - { name: dns, image: builtin/dhcp, replicas: 1 }
            """,
            "nodes: { heartbeat: 500ms, known: [ { mac: \"52:54:00:00:00:07\", name: n7 } ] }",
            5);
        Assert.Equal(
            [
                "~ controlPlane.replicas: 3 → 5",
                "~ nodes.heartbeat: 1s → 500ms",
                "+ known node n7 (52:54:00:00:00:07)",
                "+ service dns (builtin/dhcp × 1)",
                "- service old (its 2 instances stop)",
                "~ service web: replicas 4 → 2; resources 100m/64Mi → 100m/128Mi",
            ],
            SpecDiff.Describe(before, after));
        Assert.Empty(SpecDiff.Describe(after, after));
        Assert.Equal(["+ cluster d: 2 services, 0 known nodes, control plane 3", "+ service web (builtin/hello × 4)", "+ service old (builtin/hello × 2)"], SpecDiff.Describe(null, before));
    }
}
