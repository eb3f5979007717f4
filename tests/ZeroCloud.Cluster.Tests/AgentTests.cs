using System.Diagnostics;
using System.Text;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Cluster.Tests;

/// <summary>The real agent (zc-node) heartbeating to a three-member control plane.</summary>
[Collection("control")]
public class AgentTests
{
    private const string Spec = """
        apiVersion: zerocloud.io/v1
        kind: Cluster
        metadata: { name: agents }
        spec:
          network: { subnet: 10.0.0.0/24, gateway: 10.0.0.1 }
          nodes: { heartbeat: 400ms, downAfter: 2s }
        """;

    [Fact]
    public async Task An_agent_heartbeats_through_any_member_writes_nothing_while_Ready_survives_a_member_loss_and_is_Down_once_killed()
    {
        await using var cluster = await ControlCluster.StartWithSilosAsync(3);
        var observer = cluster.Members[2].Client;
        await cluster.WaitForAsync(
            async () => ((await observer.StatusAsync()).Silos ?? []).Count(s => s.Status == "active") == 3,
            "three active silos",
            TimeSpan.FromSeconds(60));
        await observer.ApplyAsync(Encoding.UTF8.GetBytes(Spec), "agents.yaml");

        // The first endpoint answers nothing: the agent moves on to the next.
        var nowhere = $"http://127.0.0.1:{ControlCluster.FreePort()}";
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])[ZeroCloud.Netboot.Tests.Lab.NetnsLab.ServiceBinary("ZeroCloud.Node", "zc-node.dll", "node"), "--control", $"{nowhere},{cluster.Members[0].Api},{cluster.Members[1].Api}", "--name", "agent-1", "--label", "rack=r9"])
        {
            psi.ArgumentList.Add(a);
        }

        var output = new StringBuilder();
        using var agent = Process.Start(psi)!;
        agent.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        agent.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        agent.BeginOutputReadLine();
        agent.BeginErrorReadLine();
        try
        {
            NodeDto? node = null;
            await cluster.WaitForAsync(
                async () => (node = (await observer.NodesAsync()).Nodes.SingleOrDefault(n => n.Name == "agent-1")) is { Status: "Ready" },
                "the agent's node to be Ready",
                TimeSpan.FromSeconds(30));
            Assert.Equal((Environment.ProcessorCount, "r9"), (node!.Cpus, node.Labels!["rack"]));
            Assert.Equal(["process"], node.Runtimes);
            Assert.True(node.MemoryBytes > 0);

            // Ready and heartbeating every 400 ms: nothing is written.
            var revision = (await observer.GetAsync(StoreKeys.Node("agent-1")))!.ModRevision;
            await Task.Delay(TimeSpan.FromSeconds(3));
            Assert.Equal(revision, (await observer.GetAsync(StoreKeys.Node("agent-1")))!.ModRevision);

            // The member it talks to dies: it moves to the next one within a beat, the node never leaves Ready.
            await cluster.Members[0].KillAsync();
            await Task.Delay(TimeSpan.FromSeconds(5));
            var after = (await observer.GetAsync(StoreKeys.Node("agent-1")))!;
            Assert.Equal(revision, after.ModRevision);

            // The agent dies: Down after downAfter.
            agent.Kill();
            var killed = Stopwatch.StartNew();
            await cluster.WaitForAsync(
                async () => (await observer.NodesAsync()).Nodes.Single(n => n.Name == "agent-1").Status == "Down",
                "the killed agent's node to be Down",
                TimeSpan.FromSeconds(30));
            Console.WriteLine($"agent SIGKILLed: node Down after {killed.Elapsed.TotalSeconds:0.0}s (downAfter 2 s)");
        }
        catch
        {
            lock (output)
            {
                Console.WriteLine("agent output:\n" + output);
            }

            throw;
        }
        finally
        {
            if (!agent.HasExited)
            {
                agent.Kill();
            }
        }
    }
}
