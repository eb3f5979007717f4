using System.Diagnostics;
using System.Text.Json;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Lab;
using ZeroCloud.Model.Api;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Cluster.Tests;

/// <summary>
/// Issue 8's acceptance, end to end: five nodes (a seed node = member + agent, four more agents, each in its own
/// network namespace), hello x4 spread and controlPlane.replicas 3. The cluster grows to three voters on distinct
/// nodes by placing control instances, runs hello on four nodes, and heals both when a node dies — a voter's node, then
/// the seed's while it leads.
/// </summary>
[Collection("control")]
[Trait("Category", "Lab")]
public class SelfManagedControlPlaneTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(90);

    private static string Spec(int voters) => $$"""
        apiVersion: zerocloud.io/v1
        kind: Cluster
        metadata: { name: self }
        spec:
          network: { subnet: 10.80.0.0/24, gateway: 10.80.0.1 }
          controlPlane: { replicas: {{voters}} }
          nodes:
            heartbeat: 500ms
            downAfter: 3s
            # Voters go only to trusted nodes: the seed (n0), and these; n4 joins under enroll: auto and gets workloads.
            known:
              - { mac: "52:54:00:80:00:01", name: n1 }
              - { mac: "52:54:00:80:00:02", name: n2 }
              - { mac: "52:54:00:80:00:03", name: n3 }
          services:
            - name: hello
              image: builtin/hello
              replicas: 4
              spread: node
              ports: [8080]
              health: { http: /healthz, port: 8080 }
        """;

    [LabFact]
    public async Task The_control_plane_grows_to_its_voters_on_distinct_nodes_and_replaces_one_whose_node_dies_while_the_workload_heals()
    {
        string[] nodes = ["n0", "n1", "n2", "n3", "n4"];
        await using var lab = await NetnsLab.CreateAsync(nodes);
        for (var i = 0; i < nodes.Length; i++)
        {
            await lab.AddressAsync(nodes[i], $"10.80.0.{10 + i}/24");
            await lab.MacAsync(nodes[i], $"52:54:00:80:00:{i:x2}");
        }

        const string seed = "https://10.80.0.10:7070";
        var control = lab.Start("n0", "dotnet", ControlCluster.ZcDll, "serve", "control", "--data", lab.PathOf("seed"), "--listen", "10.80.0.10:7070", "--name", "n0", "--bootstrap");
        await control.WaitForLineAsync(l => l.Contains("Orleans silo started", StringComparison.Ordinal), Long, what: "the seed's silo");
        // zc speaks with the admin credentials file the bootstrapped member wrote.
        var credentials = $"ZC_CREDENTIALS={await NetnsLab.CredentialsFileAsync(lab.PathOf("seed"))}";

        async Task<(int Code, string Output)> ZcAsync(string host, params string[] args) =>
            await lab.RunAsync(host, Long, "env", [credentials, "dotnet", ControlCluster.ZcDll, .. args]);

        async Task<T> GetAsync<T>(string host, string server, string what, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
        {
            // A read, so tried up to three times: a member on a loaded machine may not answer one within zc's 30 s.
            var (c, o) = await ZcAsync(host, "get", what, "--json", "--server", server);
            for (var attempt = 2; c != 0 && attempt <= 3; attempt++)
            {
                await Task.Delay(TimeSpan.FromSeconds(1));
                (c, o) = await ZcAsync(host, "get", what, "--json", "--server", server);
            }

            Assert.True(c == 0, o);
            return JsonSerializer.Deserialize(o, type)!;
        }

        var specFile = lab.PathOf("self.yaml");
        await File.WriteAllTextAsync(specFile, Spec(3));
        var (code, output) = await ZcAsync("n0", "apply", "-f", specFile, "--server", seed);
        Assert.True(code == 0, output);
        var tokens = await GetAsync("n0", seed, "tokens", ControlJsonContext.Default.TokensResponse);
        var token = $"{tokens.Tokens[0].Id}.{tokens.Tokens[0].Secret}";
        var agents = new Dictionary<string, LabProcess>();
        void StartAgent(string n) => agents[n] = lab.Start(n, "dotnet", NetnsLab.ServiceBinary("ZeroCloud.Node", "zc-node.dll", "node"), "--control", seed, "--ca-file", Path.Combine(lab.PathOf("seed"), "pki", "root.crt"), "--token", token, "--name", n, "--data", lab.PathOf(n), "--image", $"builtin/control={ControlCluster.ZcDll}", "--image", $"builtin/hello={NetnsLab.ServiceBinary("ZeroCloud.Hello", "zc-hello.dll", "node")}");
        foreach (var n in nodes)
        {
            StartAgent(n);
        }

        async Task WaitAsync(string what, Func<Task<bool>> condition)
        {
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                try
                {
                    if (await condition())
                    {
                        return;
                    }
                }
                catch (Exception ex) when (ex is Xunit.Sdk.XunitException or JsonException)
                {
                    // a member answering mid-change
                }

                if (deadline.Elapsed > Long)
                {
                    var placed = (await ZcAsync("n4", "get", "instances", "--server", seed)).Output;
                    var voterLogs = string.Join("\n", nodes.SelectMany(n => Directory.Exists(lab.PathOf(Path.Combine(n, "instances"))) ? Directory.GetFiles(lab.PathOf(Path.Combine(n, "instances")), "control-*.log") : [])
                        .Select(f => $"{f}:\n" + string.Join("\n", File.ReadLines(f).TakeLast(30))));
                    placed += "\nvoters' logs:\n" + voterLogs;
                    throw new TimeoutException($"{what} did not happen within {Long.TotalSeconds:0}s\ninstances:\n{placed}\nseed:\n{control.Output}\n" + string.Join("\n", agents.Select(a => $"{a.Key}:\n{a.Value.Output}")));
                }

                await Task.Delay(1000);
            }
        }

        // hello x4 Running and healthy, one per node, none on a dead node.
        async Task<bool> HelloHealthyAsync(string host, string server, string dead)
        {
            var hello = (await GetAsync(host, server, "instances", ControlJsonContext.Default.InstancesResponse)).Instances.Where(v => v.Instance.Service == "hello").ToList();
            return hello.Count == 4 && hello.Select(v => v.Instance.Node).Distinct().Count() == 4 && hello.All(v => v.Instance.Node != dead && v.State is { State: InstanceState.Running, Healthy: true });
        }

        // Three voters, on three distinct nodes: the seed and two control instances.
        MembersResponse? members = null;
        var grow = Stopwatch.StartNew();
        await WaitAsync("three available voters", async () =>
        {
            members = await GetAsync("n0", seed, "members", ControlJsonContext.Default.MembersResponse);
            return members.Members.Count == 3 && members.Members.All(m => m.Status == MemberStatus.Available);
        });
        var grewIn = grow.Elapsed;
        Assert.Equal(3, members!.Members.Select(m => m.Name).Distinct().Count());
        Assert.Contains(members.Members, m => m.Name == "n0");
        var instances = await GetAsync("n0", seed, "instances", ControlJsonContext.Default.InstancesResponse);
        Assert.Equal(2, instances.Instances.Count(v => v.Instance.Service == "control"));
        Assert.DoesNotContain(instances.Instances, v => v.Instance.Service == "control" && v.Instance.Node == "n4");
        // The voters asked for their member certificates and to be added as their nodes, by certificate: no bearer key.
        foreach (var voter in instances.Instances.Where(v => v.Instance.Service == "control"))
        {
            var started = File.ReadLines(lab.PathOf(Path.Combine(voter.Instance.Node, "instances", voter.Instance.Id + ".log"))).First();
            Assert.True(started.Contains("--cert-file", StringComparison.Ordinal) && !started.Contains("--token-file", StringComparison.Ordinal), started);
        }
        await WaitAsync("hello x4 healthy on four nodes", async () => await HelloHealthyAsync("n0", seed, dead: "none"));

        // The trusted nodes' addresses are reserved (they keep them across reboots); n4, enrolled under auto, gets none.
        var reserved = "";
        await WaitAsync("the trusted nodes' addresses reserved", async () =>
        {
            reserved = (await ZcAsync("n0", "kv", "get", "/zc/reservations/", "--prefix", "--server", seed)).Output;
            return Enumerable.Range(0, 4).All(i => reserved.Contains($"\"address\": \"10.80.0.{10 + i}\"", StringComparison.Ordinal) || reserved.Contains($"\"address\":\"10.80.0.{10 + i}\"", StringComparison.Ordinal));
        });
        Assert.DoesNotContain("10.80.0.14", reserved, StringComparison.Ordinal);

        // A voter's node dies: its member is removed and a replacement voter starts on the node that had none.
        var victim = members.Members.First(m => m.Name != "n0").Name!;
        var voters = members.Members.Select(m => m.Name!).ToList();
        var killed = Stopwatch.StartNew();
        (code, output) = await lab.RunAsync("n0", Long, "sh", "-c", $"for p in $(ip netns pids {lab.Namespace(victim)}); do kill -9 $p; done");
        Assert.True(code == 0, output);
        await WaitAsync($"{victim}'s voter to be replaced", async () =>
        {
            members = await GetAsync("n0", seed, "members", ControlJsonContext.Default.MembersResponse);
            return members.Members.Count == 3 && members.Members.All(m => m.Status == MemberStatus.Available) && members.Members.All(m => m.Name != victim);
        });
        var replacedIn = killed.Elapsed;
        Assert.DoesNotContain(members!.Members, m => m.Name == victim);
        await WaitAsync($"hello x4 healthy again without {victim}", async () => await HelloHealthyAsync("n0", seed, victim));
        var nodesNow = await GetAsync("n0", seed, "nodes", ControlJsonContext.Default.NodesResponse);
        Assert.Equal(NodeStatus.Down, nodesNow.Nodes.Single(n => n.Name == victim).Status);
        var spare = members.Members.Select(m => m.Name!).Single(n => n != "n0" && voters.All(v => v != n));

        // Writes go on, through the new voter too.
        var spareApi = members.Members.Single(m => m.Name == spare).Api!;
        // Retried: the new voter may still be settling in (a refused connection or a leadership change is retryable).
        var put = (Code: -1, Output: "");
        for (var deadline = Stopwatch.StartNew(); put.Code != 0 && deadline.Elapsed < Long; await Task.Delay(500))
        {
            put = await ZcAsync("n0", "kv", "put", "/after", "replaced", "--server", spareApi);
        }

        Assert.True(put.Code == 0, put.Output);

        // The dead node comes back (a spare now), then the seed's node dies while it leads: writes go on through the
        // others, the seed's member is removed, and a voter starts on the spare.
        StartAgent(victim);
        var status = await lab.RunAsync("n0", Long, "curl", "-sf", $"{seed}/v1/status");
        var seedLed = status.Output.Contains("\"role\":\"leader\"", StringComparison.Ordinal);
        await Task.Delay(TimeSpan.FromSeconds(2));
        var survivors = members.Members.Where(m => m.Name != "n0").ToList();
        killed.Restart();
        (code, output) = await lab.RunAsync(victim, Long, "sh", "-c", $"for p in $(ip netns pids {lab.Namespace("n0")}); do kill -9 $p; done");
        Assert.True(code == 0, output);
        var via = survivors[0].Api!;
        var host = survivors[0].Name!;
        await WaitAsync("a write after the seed died", async () => (await ZcAsync(host, "kv", "put", "/after-seed", "ok", "--server", via)).Code == 0);
        var writesIn = killed.Elapsed;
        await WaitAsync("the seed's voter to be replaced", async () =>
        {
            members = await GetAsync(host, via, "members", ControlJsonContext.Default.MembersResponse);
            return members.Members.Count == 3 && members.Members.All(m => m.Status == MemberStatus.Available) && members.Members.All(m => m.Name != "n0");
        });
        var seedReplacedIn = killed.Elapsed;
        Assert.DoesNotContain(members!.Members, m => m.Name == "n0");

        // The workload healed through all of it: hello x4 healthy on the four live nodes.
        await WaitAsync("hello x4 healthy on live nodes", async () => await HelloHealthyAsync(host, via, "n0"));
        Assert.Equal(3, members.Members.Select(m => m.Name).Distinct().Count());

        // Fewer voters wanted: members leave the membership before their processes stop, so the quorum holds.
        var shrink = Stopwatch.StartNew();
        await File.WriteAllTextAsync(specFile, Spec(1));
        (code, output) = await ZcAsync(host, "apply", "-f", specFile, "--server", via);
        Assert.True(code == 0, output);
        var before = members!.Members.Select(m => m.Api!).ToList();
        await WaitAsync("one voter left", async () =>
        {
            // Ask the members there were: two of them are gone now.
            foreach (var api in before)
            {
                var (c, o) = await ZcAsync(host, "get", "members", "--json", "--server", api);
                if (c == 0 && JsonSerializer.Deserialize(o, ControlJsonContext.Default.MembersResponse) is { Members: [{ Status: MemberStatus.Available }] } one)
                {
                    members = one;
                    return true;
                }
            }

            return false;
        });
        var last = members!.Members[0];
        await WaitAsync("a write through the last voter", async () => (await ZcAsync(host, "kv", "put", "/after-shrink", "ok", "--server", last.Api!)).Code == 0);
        await WaitAsync("one control instance placed", async () =>
            (await GetAsync(host, last.Api!, "instances", ControlJsonContext.Default.InstancesResponse)).Instances.Count(v => v.Instance.Service == "control") == 1);
        var shrunkIn = shrink.Elapsed;
        Console.WriteLine($"voters: 1 -> 3 in {grewIn.TotalSeconds:0.0}s; a voter's node killed -> replaced in {replacedIn.TotalSeconds:0.0}s; " +
            $"the seed's node killed (it {(seedLed ? "led" : "followed")}) -> writes after {writesIn.TotalSeconds:0.0}s, replaced in {seedReplacedIn.TotalSeconds:0.0}s (downAfter 3 s); 3 -> 1 voters in {shrunkIn.TotalSeconds:0.0}s");
    }
}
