using ZeroCloud.Lab;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Boot.Tests;

/// <summary>zc-node as an ordinary process on a Linux host: inventory, hello, and the refusals it can get.</summary>
[Collection("lab")]
[Trait("Category", "Lab")]
public sealed class NodeProcessTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(60);

    private static async Task<(NetnsLab Lab, LabProcess Netboot)> StartAsync(string enroll)
    {
        var lab = await NetnsLab.CreateAsync("srv", "host");
        await lab.AddressAsync("srv", "10.77.0.2/24");
        await lab.AddressAsync("host", "10.77.0.20/24");
        await lab.MacAsync("host", "52:54:00:00:00:20");
        var config = lab.PathOf("cluster.yaml");
        await File.WriteAllTextAsync(config, $$"""
            apiVersion: zerocloud.io/v1
            kind: Cluster
            metadata: { name: lab }
            spec:
              network: { interface: eth0, subnet: 10.77.0.0/24 }
              nodes:
                enroll: {{enroll}}
                known: [ { mac: "52:54:00:00:00:20", name: host-20 } ]
            """);
        Directory.CreateDirectory(lab.PathOf("root"));
        var netboot = lab.Start("srv", "dotnet", NetnsLab.ServiceBinary("ZeroCloud.Netboot.Service", "zc-netboot.dll"), "-f", config, "--root", lab.PathOf("root"), "--token", "t0ken");
        await netboot.WaitForLineAsync(l => l.Contains("http: serving", StringComparison.Ordinal), Long, what: "the netboot server");
        return (lab, netboot);
    }

    private static Task<(int Code, string Output)> Node(NetnsLab lab, params string[] args) =>
        lab.RunAsync("host", Long, "dotnet", [NetnsLab.ServiceBinary("ZeroCloud.Node", "zc-node.dll", "node"), .. args]);

    [LabFact]
    public async Task A_host_joins_with_its_inventory()
    {
        var (lab, netboot) = await StartAsync("auto");
        await using var _ = lab;
        var (code, output) = await Node(lab, "--join", "http://10.77.0.2:8080", "--token", "t0ken", "--name", "host-20");
        Assert.True(code == 0, output);
        Assert.Contains("hello accepted by http://10.77.0.2:8080/v1/nodes/hello as host-20 (52:54:00:00:00:20)", output, StringComparison.Ordinal);
        await netboot.WaitForLineAsync(l => l.Contains("nodes: hello from host-20 (52:54:00:00:00:20) at 10.77.0.20", StringComparison.Ordinal), Long, what: "the hello log line");
        var (_, nodes) = await lab.RunAsync("host", Long, "curl", "-sS", "-H", "Authorization: Bearer t0ken", "http://10.77.0.2:8080/v1/nodes");
        Assert.Contains("\"mac\": \"52:54:00:00:00:20\"", nodes, StringComparison.Ordinal);
        // Without the join token the inventories are not listed.
        var (_, anonymous) = await lab.RunAsync("host", Long, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://10.77.0.2:8080/v1/nodes");
        Assert.Equal("401", anonymous.Trim());
        Assert.Contains($"\"cpus\": {Environment.ProcessorCount}", nodes, StringComparison.Ordinal);
    }

    [LabFact]
    public async Task A_wrong_token_is_refused_on_both_sides()
    {
        var (lab, netboot) = await StartAsync("auto");
        await using var _ = lab;
        var (code, output) = await Node(lab, "--join", "http://10.77.0.2:8080", "--token", "wrong");
        Assert.Equal(1, code);
        Assert.Contains("refused this node", output, StringComparison.Ordinal);
        Assert.Contains("wrong or missing join token", output, StringComparison.Ordinal);
        await netboot.WaitForLineAsync(l => l.Contains("refused hello from 52:54:00:00:00:20", StringComparison.Ordinal), Long, what: "the refusal log line");
    }

    [LabFact]
    public async Task An_unlisted_machine_is_refused_under_enroll_known()
    {
        var (lab, _) = await StartAsync("known");
        await using var _lab = lab;
        await lab.MacAsync("host", "52:54:00:00:00:99");
        var (code, output) = await Node(lab, "--join", "http://10.77.0.2:8080", "--token", "t0ken");
        Assert.Equal(1, code);
        Assert.Contains("is not listed under spec.nodes.known", output, StringComparison.Ordinal);
    }

    [LabFact]
    public async Task Missing_join_and_control_is_a_usage_error()
    {
        var (lab, _) = await StartAsync("auto");
        await using var _lab = lab;
        var (code, output) = await Node(lab);
        Assert.Equal(2, code);
        Assert.Contains("--join <endpoint> or --control <member> is required", output, StringComparison.Ordinal);
    }
}
