using System.Diagnostics;
using System.Text.Json;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Model.Api;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Cluster.Tests;

/// <summary>
/// The node image's way in, run as a process: zc-node reads the kernel command line netboot really serves (from a
/// file instead of /proc/cmdline), joins the control plane it names with the token it carries, under the name it
/// gives, and runs the instance the scheduler places on it.
/// </summary>
[Collection("control")]
[Trait("Category", "Lab")]
public class NodeImagePathTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(60);

    private const string Spec = """
        apiVersion: zerocloud.io/v1
        kind: Cluster
        metadata: { name: pid1 }
        spec:
          network: { subnet: 10.79.0.0/24, gateway: 10.79.0.1 }
          nodes:
            heartbeat: 500ms
            downAfter: 3s
            known:
              - { name: rack1-07, mac: "52:54:00:79:00:07" }
          services:
            - name: hello
              image: builtin/hello
              replicas: 1
              ports: [8080]
              health: { http: /healthz, port: 8080 }
        """;

    [LabFact]
    public async Task A_node_started_the_pid1_way_joins_with_the_command_line_netboot_serves_and_runs_its_placed_hello()
    {
        await using var lab = await NetnsLab.CreateAsync("cp", "n1");
        await lab.AddressAsync("cp", "10.79.0.2/24");
        await lab.AddressAsync("n1", "10.79.0.17/24");
        await lab.MacAsync("n1", "52:54:00:79:00:07");
        const string server = "https://10.79.0.2:7070";
        var control = lab.Start("cp", "dotnet", ControlCluster.ZcDll, "serve", "control", "--data", lab.PathOf("control"), "--listen", "10.79.0.2:7070", "--bootstrap");
        await control.WaitForLineAsync(l => l.Contains("Orleans silo started", StringComparison.Ordinal), Long, what: "the control plane's silo");
        // zc speaks with the admin credentials file the bootstrapped member wrote.
        var credentials = $"ZC_CREDENTIALS={await NetnsLab.CredentialsFileAsync(lab.PathOf("control"))}";
        var specFile = lab.PathOf("pid1.yaml");
        await File.WriteAllTextAsync(specFile, Spec);
        var (code, output) = await lab.RunAsync("cp", Long, "env", credentials, "dotnet", ControlCluster.ZcDll, "apply", "-f", specFile, "--server", server);
        Assert.True(code == 0, output);
        (code, output) = await lab.RunAsync("cp", Long, "env", credentials, "dotnet", ControlCluster.ZcDll, "get", "tokens", "--json", "--server", server);
        Assert.True(code == 0, output);
        var tokens = JsonSerializer.Deserialize(output, ControlJsonContext.Default.TokensResponse)!;
        var token = $"{tokens.Tokens[0].Id}.{tokens.Tokens[0].Secret}";

        // netboot as the cluster runs it (--control and the join token), serving the per-machine boot script.
        var root = lab.PathOf("netboot");
        Directory.CreateDirectory(Path.Combine(root, "images", "node"));
        var netboot = lab.Start("cp", "dotnet", NetnsLab.ServiceBinary("ZeroCloud.Netboot.Service", "zc-netboot.dll"), "-f", specFile, "--interface", "eth0", "--root", root, "--http-port", "8880", "--control", server, "--ca-file", Path.Combine(lab.PathOf("control"), "pki", "root.crt"), "--token", token);
        await netboot.WaitForLineAsync(l => l.Contains("http: serving", StringComparison.Ordinal), Long, what: "netboot to serve");
        (code, output) = await lab.RunAsync("n1", Long, "curl", "-sf", "-m", "5", "http://10.79.0.2:8880/boot/52:54:00:79:00:07.ipxe");
        Assert.True(code == 0, output + netboot.Output);
        var kernel = output.Split('\n').Single(l => l.StartsWith("kernel ", StringComparison.Ordinal));
        var cmdline = kernel[(kernel.IndexOf(' ', "kernel ".Length) + 1)..];
        Assert.Contains($"zc.control={server}", cmdline, StringComparison.Ordinal);
        // A single-use ticket for this MAC, never the reusable join token.
        Assert.Contains("zc.ticket=525400790007.", cmdline, StringComparison.Ordinal);
        Assert.DoesNotContain(token, cmdline, StringComparison.Ordinal);
        var cmdlineFile = lab.PathOf("cmdline");
        await File.WriteAllTextAsync(cmdlineFile, cmdline + "\n");

        // The agent gets nothing but the command line, a data folder and where its images are.
        var hello = NetnsLab.ServiceBinary("ZeroCloud.Hello", "zc-hello.dll", "node");
        var agent = lab.Start("n1", "dotnet", NetnsLab.ServiceBinary("ZeroCloud.Node", "zc-node.dll", "node"), "--cmdline", cmdlineFile, "--data", lab.PathOf("n1"), "--image", $"builtin/hello={hello}");

        var deadline = Stopwatch.StartNew();
        InstanceView? placed = null;
        while (placed?.State is not { State: InstanceState.Running, Healthy: true })
        {
            if (deadline.Elapsed > Long)
            {
                throw new TimeoutException($"hello did not run healthy on rack1-07 within {Long.TotalSeconds:0}s\nagent:\n{agent.Output}\ncontrol:\n{control.Output}");
            }

            await Task.Delay(500);
            (code, output) = await lab.RunAsync("cp", Long, "env", credentials, "dotnet", ControlCluster.ZcDll, "get", "instances", "--json", "--server", server);
            placed = code == 0 ? JsonSerializer.Deserialize(output, ControlJsonContext.Default.InstancesResponse)!.Instances.SingleOrDefault(v => v.Instance.Service == "hello") : null;
        }

        // Named as the script named it (the known machine's name), at the address it runs on, with the script's token.
        Assert.Equal("rack1-07", placed.Instance.Node);
        (code, output) = await lab.RunAsync("cp", Long, "env", credentials, "dotnet", ControlCluster.ZcDll, "get", "nodes", "--json", "--server", server);
        var node = JsonSerializer.Deserialize(output, ControlJsonContext.Default.NodesResponse)!.Nodes.Single();
        Assert.Equal(("rack1-07", NodeStatus.Ready, "10.79.0.17"), (node.Name, node.Status, node.Address));
        (code, output) = await lab.RunAsync("cp", Long, "curl", "-sf", "-m", "5", "http://10.79.0.17:8080/");
        Assert.True(code == 0 && output.Contains("hello from", StringComparison.Ordinal), output);
        Assert.Contains("joining the control plane at https://10.79.0.2:7070 as rack1-07", agent.Output, StringComparison.Ordinal);
    }
}
