using System.Diagnostics;
using System.Text.Json;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Model.Api;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Cluster.Tests;

/// <summary>
/// Agents (zc-node) in their own network namespaces run what the scheduler placed, with the process runtime: the
/// hello image answers and passes its health check; a node that dies has its instance run elsewhere.
/// </summary>
[Collection("control")]
[Trait("Category", "Lab")]
public class ProcessRuntimeTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(60);

    private const string Spec = """
        apiVersion: zerocloud.io/v1
        kind: Cluster
        metadata: { name: rt }
        spec:
          network: { subnet: 10.78.0.0/24, gateway: 10.78.0.1 }
          nodes: { heartbeat: 500ms, downAfter: 3s }
          services:
            - name: hello
              image: builtin/hello
              replicas: 2
              spread: node
              ports: [8080]
              health: { http: /healthz, port: 8080 }
            - name: ghost
              image: builtin/storage
              replicas: 1
        """;

    [LabFact]
    public async Task Placed_instances_run_on_the_agents_a_dead_node_s_instance_runs_healthy_elsewhere_and_a_cut_off_node_stops_its_stale_one()
    {
        await using var lab = await NetnsLab.CreateAsync("cp", "n1", "n2", "n3");
        await lab.AddressAsync("cp", "10.78.0.2/24");
        string[] nodes = ["n1", "n2", "n3"];
        for (var i = 0; i < nodes.Length; i++)
        {
            await lab.AddressAsync(nodes[i], $"10.78.0.{11 + i}/24");
        }

        const string server = "https://10.78.0.2:7070";
        var control = lab.Start("cp", "dotnet", ControlCluster.ZcDll, "serve", "control", "--data", lab.PathOf("control"), "--listen", "10.78.0.2:7070", "--bootstrap");
        await control.WaitForLineAsync(l => l.Contains("Orleans silo started", StringComparison.Ordinal), Long, what: "the control plane's silo");
        // zc speaks with the admin credentials file the bootstrapped member wrote.
        var credentials = $"ZC_CREDENTIALS={await NetnsLab.CredentialsFileAsync(lab.PathOf("control"))}";
        var specFile = lab.PathOf("rt.yaml");
        await File.WriteAllTextAsync(specFile, Spec);
        var (code, output) = await lab.RunAsync("cp", Long, "env", credentials, "dotnet", ControlCluster.ZcDll, "apply", "-f", specFile, "--server", server);
        Assert.True(code == 0, output);

        async Task<T> GetAsync<T>(string what, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
        {
            var (c, o) = await lab.RunAsync("cp", Long, "env", credentials, "dotnet", ControlCluster.ZcDll, "get", what, "--json", "--server", server);
            Assert.True(c == 0, o);
            return JsonSerializer.Deserialize(o, type)!;
        }

        var tokens = await GetAsync("tokens", ControlJsonContext.Default.TokensResponse);
        var token = $"{tokens.Tokens[0].Id}.{tokens.Tokens[0].Secret}";
        var hello = NetnsLab.ServiceBinary("ZeroCloud.Hello", "zc-hello.dll", "node");
        var agents = nodes.ToDictionary(n => n, n => lab.Start(n, "dotnet", NetnsLab.ServiceBinary("ZeroCloud.Node", "zc-node.dll", "node"), "--control", server, "--ca-file", Path.Combine(lab.PathOf("control"), "pki", "root.crt"), "--name", n, "--data", lab.PathOf(n), "--image", $"builtin/hello={hello}", "--token", token));

        async Task WaitAsync(Func<Task<bool>> condition, string what)
        {
            var deadline = Stopwatch.StartNew();
            while (!await condition())
            {
                if (deadline.Elapsed > Long)
                {
                    throw new TimeoutException($"{what} did not happen within {Long.TotalSeconds:0}s\ncontrol:\n{control.Output}\n" + string.Join("\n", agents.Select(a => $"{a.Key}:\n{a.Value.Output}")));
                }

                await Task.Delay(500);
            }
        }

        await WaitAsync(async () => (await GetAsync("services", ControlJsonContext.Default.ServicesResponse)).Services.Single(s => s.Name == "hello") is { Running: 2, Healthy: 2 }, "two healthy hello instances");
        var instances = (await GetAsync("instances", ControlJsonContext.Default.InstancesResponse)).Instances;
        var helloNodes = instances.Where(v => v.Instance.Service == "hello").Select(v => v.Instance.Node).ToList();
        Assert.Equal(2, helloNodes.Distinct().Count());

        // It is the real service: it answers from its node's address.
        var first = helloNodes[0];
        (code, output) = await lab.RunAsync("cp", Long, "curl", "-sf", "-m", "5", $"http://10.78.0.{11 + Array.IndexOf(nodes, first)}:8080/");
        Assert.True(code == 0 && output.Contains("hello from", StringComparison.Ordinal), output);

        // An image no agent has (storage is not built yet): every node reports the images it can run, so the
        // scheduler places nothing that would only fail there, and says why.
        await WaitAsync(async () => (await GetAsync("services", ControlJsonContext.Default.ServicesResponse)).Scheduler?.Unplaced.Any(u => u.StartsWith("ghost:", StringComparison.Ordinal)) == true, "the scheduler to say why ghost is not placed");
        var why = (await GetAsync("services", ControlJsonContext.Default.ServicesResponse)).Scheduler!.Unplaced.First(u => u.StartsWith("ghost:", StringComparison.Ordinal));
        Assert.Contains("has image builtin/storage", why, StringComparison.Ordinal);
        Assert.DoesNotContain((await GetAsync("instances", ControlJsonContext.Default.InstancesResponse)).Instances, v => v.Instance.Service == "ghost");
        var reported = (await GetAsync("nodes", ControlJsonContext.Default.NodesResponse)).Nodes.Single(n => n.Name == "n1").Images;
        Assert.Equal(["builtin/hello"], reported);

        // The node dies (its agent and everything it ran): its hello runs on the node that had none, healthy.
        var victim = helloNodes[0];
        var killed = Stopwatch.StartNew();
        (code, output) = await lab.RunAsync("cp", Long, "sh", "-c", $"for p in $(ip netns pids {lab.Namespace(victim)}); do kill -9 $p; done");
        Assert.True(code == 0, output);
        await WaitAsync(
            async () =>
            {
                var now = (await GetAsync("instances", ControlJsonContext.Default.InstancesResponse)).Instances.Where(v => v.Instance.Service == "hello").ToList();
                return now.Count == 2 && now.All(v => v.Instance.Node != victim && v.State is { State: InstanceState.Running, Healthy: true });
            },
            $"hello to be healthy again without {victim}");
        Console.WriteLine($"node {victim} killed: its hello instance healthy on another node after {killed.Elapsed.TotalSeconds:0.0}s (downAfter 3 s)");
        var nodesNow = (await GetAsync("nodes", ControlJsonContext.Default.NodesResponse)).Nodes;
        Assert.Equal(NodeStatus.Down, nodesNow.Single(n => n.Name == victim).Status);

        // The dead node comes back, empty. Then a node is cut off (its agent paused) while its hello keeps running:
        // Down, its hello placed on the node that came back; when it is heard again it stops what is no longer its own.
        agents[victim] = lab.Start(victim, "dotnet", NetnsLab.ServiceBinary("ZeroCloud.Node", "zc-node.dll", "node"), "--control", server, "--ca-file", Path.Combine(lab.PathOf("control"), "pki", "root.crt"), "--name", victim, "--data", lab.PathOf(victim + "-again"), "--image", $"builtin/hello={hello}", "--token", token);
        await WaitAsync(async () => (await GetAsync("nodes", ControlJsonContext.Default.NodesResponse)).Nodes.Single(n => n.Name == victim).Status == NodeStatus.Ready, $"{victim} to be Ready again");
        var cut = (await GetAsync("instances", ControlJsonContext.Default.InstancesResponse)).Instances.First(v => v.Instance.Service == "hello").Instance.Node;
        var cutAddress = $"http://10.78.0.{11 + Array.IndexOf(nodes, cut)}:8080/";
        (code, output) = await lab.RunAsync("cp", Long, "kill", "-STOP", agents[cut].Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(code == 0, output);
        await WaitAsync(
            async () =>
            {
                var now = (await GetAsync("instances", ControlJsonContext.Default.InstancesResponse)).Instances.Where(v => v.Instance.Service == "hello").ToList();
                return now.Count == 2 && now.All(v => v.Instance.Node != cut && v.State is { State: InstanceState.Running, Healthy: true });
            },
            $"hello to run without {cut}");
        Assert.Equal(0, (await lab.RunAsync("cp", Long, "curl", "-sf", "-m", "2", cutAddress)).Code); // the stale one still answers
        (code, output) = await lab.RunAsync("cp", Long, "kill", "-CONT", agents[cut].Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(code == 0, output);
        await WaitAsync(async () => (await lab.RunAsync("cp", Long, "curl", "-sf", "-m", "2", cutAddress)).Code != 0, $"{cut}'s stale hello to be stopped");
        await WaitAsync(async () => (await GetAsync("nodes", ControlJsonContext.Default.NodesResponse)).Nodes.Single(n => n.Name == cut).Status == NodeStatus.Ready, $"{cut} to be Ready again");
        Assert.Contains("(no longer placed here)", agents[cut].Output, StringComparison.Ordinal);
    }
}
