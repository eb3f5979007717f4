using System.Diagnostics;
using System.Text;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Cluster.Tests;

/// <summary>The real agent (zc-node) heartbeating to a three-member control plane.</summary>
[Collection("control")]
[Trait("Category", "Lab")]
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

    /// <summary>A cluster.yaml that lists one machine (52:54:00:00:00:01 as rack1-a) under the given enroll mode.</summary>
    private static string WithRack1A(string enroll) => $$"""
        apiVersion: zerocloud.io/v1
        kind: Cluster
        metadata: { name: known }
        spec:
          network: { subnet: 10.0.0.0/24, gateway: 10.0.0.1 }
          nodes:
            enroll: {{enroll}}
            known:
              - { mac: "52:54:00:00:00:01", name: rack1-a }
        """;

    private static ProcessStartInfo AgentStart(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])[ZeroCloud.TestSupport.NetnsLab.ServiceBinary("ZeroCloud.Node", "zc-node.dll", "node"), .. args])
        {
            psi.ArgumentList.Add(a);
        }

        return psi;
    }

    private static Task<(int Code, string Output)> RunAgentAsync(params string[] args) =>
        ControlCluster.RunDllAsync(ZeroCloud.TestSupport.NetnsLab.ServiceBinary("ZeroCloud.Node", "zc-node.dll", "node"), args);

    [Fact]
    public async Task With_enroll_known_only_listed_MACs_join_under_their_listed_names()
    {
        await using var cluster = await ControlCluster.StartWithSilosAsync(1);
        var client = cluster.Members[0].Client;
        await cluster.WaitForAsync(async () => ((await client.StatusAsync()).Silos ?? []).Any(s => s.Status == "active"), "the silo", TimeSpan.FromSeconds(60));
        await client.ApplyAsync(Encoding.UTF8.GetBytes(WithRack1A("known")), "known.yaml");
        var node = ControlCluster.NodeClient(cluster.Members[0], await cluster.JoinTokenAsync());

        // The member listens on its API, its Raft port and its silo port: no Orleans gateway an outside client could use.
        var (_, sockets) = await ZeroCloud.Lab.Processes.RunAsync("ss", ["-Hltnp"]);
        var listening = sockets.Split('\n').Where(l => l.Contains($"pid={cluster.Members[0].Pid},", StringComparison.Ordinal)).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3]).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(new[] { cluster.Members[0].ApiPort, cluster.Members[0].RaftPort, cluster.Members[0].SiloPort }.Select(p => $"127.0.0.1:{p}").Order(StringComparer.Ordinal), listening);
        await cluster.WaitForAsync(
            async () =>
            {
                try
                {
                    await node.HeartbeatAsync("stranger", new HeartbeatRequest(2, 1L << 30, Mac: "52:54:00:00:00:99"));
                    return false;
                }
                catch (ControlApiException ex) when (ex.Status == 403)
                {
                    Assert.Equal("node stranger refused: nodes.enroll is known, and 52:54:00:00:00:99 is not in nodes.known", ex.Message);
                    return true;
                }
            },
            "the spec to reach the grains");
        var wrongName = await Assert.ThrowsAsync<ControlApiException>(() => node.HeartbeatAsync("impostor", new HeartbeatRequest(2, 1L << 30, Mac: "52:54:00:00:00:01")));
        Assert.Equal((403, "node impostor refused: 52:54:00:00:00:01 is in nodes.known as rack1-a, not impostor"), (wrongName.Status, wrongName.Message));
        var noMac = await Assert.ThrowsAsync<ControlApiException>(() => node.HeartbeatAsync("anon", new HeartbeatRequest(2, 1L << 30)));
        Assert.Contains("sent no MAC address", noMac.Message, StringComparison.Ordinal);
        Assert.Equal(NodeStatus.Ready, (await node.HeartbeatAsync("rack1-a", new HeartbeatRequest(2, 1L << 30, Mac: "52:54:00:00:00:01"))).Status);
        Assert.Equal(["rack1-a"], (await client.NodesAsync()).Nodes.Select(n => n.Name));

        // Tokens: a new one works; one expired 10 s ago still works (clocks may disagree by WallClock.Tolerance, 30 s);
        // one expired a minute ago is refused. The expiry is rewritten in the store as the API would have written it.
        var fresh = await client.CreateTokenAsync("test", TimeSpan.FromHours(1));
        var withFresh = ControlCluster.NodeClient(cluster.Members[0], $"{fresh.Id}.{fresh.Secret}");
        Assert.Equal(NodeStatus.Ready, (await withFresh.HeartbeatAsync("rack1-a", new HeartbeatRequest(2, 1L << 30, Mac: "52:54:00:00:00:01"))).Status);
        await ExpireAsync(client, $"/zc/tokens/{fresh.Id}", TimeSpan.FromSeconds(10));
        Assert.Equal(NodeStatus.Ready, (await withFresh.HeartbeatAsync("rack1-a", new HeartbeatRequest(2, 1L << 30, Mac: "52:54:00:00:00:01"))).Status);
        await ExpireAsync(client, $"/zc/tokens/{fresh.Id}", TimeSpan.FromMinutes(1));
        var expired = await Assert.ThrowsAsync<ControlApiException>(() => withFresh.HeartbeatAsync("rack1-a", new HeartbeatRequest(2, 1L << 30, Mac: "52:54:00:00:00:01")));
        Assert.Equal(401, expired.Status);
        Assert.Contains($"join token {fresh.Id}.… expired at", expired.Message, StringComparison.Ordinal);
        Assert.Equal(2, (await client.TokensAsync()).Tokens.Count);

        // Tickets: netboot asks for one per machine (with the join token); it is single use, bound to the MAC and to the
        // name netboot gives that MAC, and the join that uses it gets the node's own key, which speaks only for itself.
        using var anonymous = new ControlClient(new Uri(cluster.Members[0].Api), cluster.Members[0].Http);
        var noCredential = await Assert.ThrowsAsync<ControlApiException>(() => anonymous.CreateTicketAsync("52:54:00:00:00:01"));
        Assert.Equal(401, noCredential.Status);
        var ticket = (await node.CreateTicketAsync("52:54:00:00:00:01")).Ticket;
        Assert.StartsWith("ticket:525400000001.", ticket, StringComparison.Ordinal);
        Assert.DoesNotContain(ticket[(ticket.IndexOf('.', StringComparison.Ordinal) + 1)..], (await client.GetAsync("/zc/tickets/525400000001"))!.Value, StringComparison.Ordinal);
        var withTicket = ControlCluster.NodeClient(cluster.Members[0], ticket);
        var otherMac = await Assert.ThrowsAsync<ControlApiException>(() => withTicket.HeartbeatAsync("rack1-a", new HeartbeatRequest(2, 1L << 30, Mac: "52:54:00:00:00:02")));
        Assert.Equal(401, otherMac.Status);
        Assert.Contains("belongs to another MAC", otherMac.Message, StringComparison.Ordinal);
        var otherName = await Assert.ThrowsAsync<ControlApiException>(() => withTicket.HeartbeatAsync("impostor", new HeartbeatRequest(2, 1L << 30, Mac: "52:54:00:00:00:01")));
        Assert.Contains("is for node rack1-a, not impostor", otherName.Message, StringComparison.Ordinal);
        var joined = await withTicket.HeartbeatAsync("rack1-a", new HeartbeatRequest(2, 1L << 30, Mac: "52:54:00:00:00:01"));
        Assert.Equal(NodeStatus.Ready, joined.Status);
        Assert.StartsWith("node:rack1-a.", joined.Key, StringComparison.Ordinal);
        var reused = await Assert.ThrowsAsync<ControlApiException>(() => withTicket.HeartbeatAsync("rack1-a", new HeartbeatRequest(2, 1L << 30, Mac: "52:54:00:00:00:01")));
        Assert.Equal(401, reused.Status);
        Assert.Contains("used already", reused.Message, StringComparison.Ordinal);
        Assert.Null(await client.GetAsync("/zc/tickets/525400000001"));
        var withKey = ControlCluster.NodeClient(cluster.Members[0], joined.Key!);
        var beat = await withKey.HeartbeatAsync("rack1-a", new HeartbeatRequest(2, 1L << 30, Mac: "52:54:00:00:00:01"));
        Assert.Equal(NodeStatus.Ready, beat.Status);
        Assert.Null(beat.Key);
        var notItself = await Assert.ThrowsAsync<ControlApiException>(() => withKey.HeartbeatAsync("other", new HeartbeatRequest(2, 1L << 30, Mac: "52:54:00:00:00:01")));
        Assert.Contains("cannot speak for node other", notItself.Message, StringComparison.Ordinal);

        // An expired ticket (written as the API would, ten minutes ago) is refused.
        var old = (await node.CreateTicketAsync("52:54:00:00:00:01")).Ticket;
        var record = (await client.GetAsync("/zc/tickets/525400000001"))!.Value;
        await client.PutAsync("/zc/tickets/525400000001", System.Text.RegularExpressions.Regex.Replace(record, "\"expires\":\"[^\"]*\"", "\"expires\":\"2000-01-01T00:00:00Z\""));
        var stale = await Assert.ThrowsAsync<ControlApiException>(() => ControlCluster.NodeClient(cluster.Members[0], old).HeartbeatAsync("rack1-a", new HeartbeatRequest(2, 1L << 30, Mac: "52:54:00:00:00:01")));
        Assert.Contains("expired at 2000-01-01", stale.Message, StringComparison.Ordinal);

        // enroll: approve: a listed machine joins; any other waits as Pending, gets nothing, until an operator approves it.
        await client.ApplyAsync(Encoding.UTF8.GetBytes(WithRack1A("approve")), "approve.yaml");
        NodeStatusDto? waiting = null;
        await cluster.WaitForAsync(
            async () => (waiting = await node.HeartbeatAsync("walk-in", new HeartbeatRequest(4, 2L << 30, Mac: "52:54:00:00:00:42"))).Status == NodeStatus.Pending,
            "the approve spec to reach the grains");
        Assert.Equal(NodeStatus.Pending, (await client.NodesAsync()).Nodes.Single(n => n.Name == "walk-in").Status);
        Assert.Equal(NodeStatus.Ready, (await node.HeartbeatAsync("rack1-a", new HeartbeatRequest(2, 1L << 30, Mac: "52:54:00:00:00:01"))).Status);
        var notPending = await Assert.ThrowsAsync<ControlApiException>(() => client.ApproveNodeAsync("rack1-a"));
        Assert.Equal((409, "not_pending"), (notPending.Status, notPending.Code));
        var nobody = await Assert.ThrowsAsync<ControlApiException>(() => client.ApproveNodeAsync("nobody"));
        Assert.Equal(404, nobody.Status);
        Assert.Equal(NodeStatus.Pending, (await node.HeartbeatAsync("walk-in", new HeartbeatRequest(4, 2L << 30, Mac: "52:54:00:00:00:42"))).Status);

        await client.ApproveNodeAsync("walk-in");
        Assert.Equal(NodeStatus.Ready, (await node.HeartbeatAsync("walk-in", new HeartbeatRequest(4, 2L << 30, Mac: "52:54:00:00:00:42"))).Status);
        Assert.Equal(NodeStatus.Ready, (await client.NodesAsync()).Nodes.Single(n => n.Name == "walk-in").Status);

        // enroll: auto: a machine joins by itself but is not trusted with infrastructure until an operator approves
        // it while it runs (for the MAC it has then); a node that sent no MAC cannot be approved.
        await client.ApplyAsync(Encoding.UTF8.GetBytes(WithRack1A("auto")), "auto.yaml");
        await cluster.WaitForAsync(
            async () => (await node.HeartbeatAsync("drop-in", new HeartbeatRequest(2, 1L << 30, Mac: "52:54:00:00:00:43"))).Status == NodeStatus.Ready,
            "the auto spec to reach the grains");
        Assert.Null(await client.GetAsync(StoreKeys.Approval("drop-in")));
        Assert.Equal(NodeStatus.Ready, (await client.ApproveNodeAsync("drop-in")).Status);
        Assert.Contains("\"mac\":\"52:54:00:00:00:43\"", (await client.GetAsync(StoreKeys.Approval("drop-in")))!.Value, StringComparison.Ordinal);
        Assert.Equal(NodeStatus.Ready, (await node.HeartbeatAsync("no-mac", new HeartbeatRequest(2, 1L << 30))).Status);
        var unapprovable = await Assert.ThrowsAsync<ControlApiException>(() => client.ApproveNodeAsync("no-mac"));
        Assert.Contains("sent no MAC address", unapprovable.Message, StringComparison.Ordinal);

        // Rate limits per identity: a flood of one node's heartbeats gets 429 (Retry-After) while another node beats on.
        var flooding = Stopwatch.StartNew();
        var flood = await Task.WhenAll(Enumerable.Range(0, 150).Select(async _ =>
        {
            try
            {
                await node.HeartbeatAsync("walk-in", new HeartbeatRequest(4, 2L << 30, Mac: "52:54:00:00:00:42"));
                return 200;
            }
            catch (ControlApiException ex)
            {
                Assert.Equal("too_many_requests", ex.Code);
                return ex.Status;
            }
        }));
        Assert.Contains(429, flood);
        // At most the bucket (40) plus what refills while the flood lasts (20 a second).
        Assert.InRange(flood.Count(s => s == 200), 1, 40 + (20 * (int)Math.Ceiling(flooding.Elapsed.TotalSeconds)));
        Assert.Equal(NodeStatus.Ready, (await node.HeartbeatAsync("rack1-a", new HeartbeatRequest(2, 1L << 30, Mac: "52:54:00:00:00:01"))).Status);

        // The audit log holds who did what: the token made, the refused joins, the enrollment by ticket, the approval;
        // never a secret.
        var audit = (await client.AuditAsync(1000)).Entries;
        Assert.Contains(audit, e => e.Action == Audit.TokenCreated && e.Subject == fresh.Id);
        Assert.Contains(audit, e => e.Action == Audit.Refused && e.Subject == "stranger" && e.Detail!.Contains("not in nodes.known", StringComparison.Ordinal));
        Assert.Contains(audit, e => e.Action == Audit.Enrolled && e.Subject == "rack1-a" && e.Who == "ticket 525400000001");
        Assert.Contains(audit, e => e.Action == Audit.Approved && e.Subject == "walk-in" && e.Detail == "mac 52:54:00:00:00:42");
        var text = System.Text.Json.JsonSerializer.Serialize(audit.ToList());
        Assert.DoesNotContain(fresh.Secret, text, StringComparison.Ordinal);
        Assert.DoesNotContain(joined.Key![(joined.Key!.LastIndexOf('.') + 1)..], text, StringComparison.Ordinal);
    }

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

        // A wrong token: refused on both sides, clearly, and the agent gives up.
        var token = await cluster.JoinTokenAsync();
        var (badCode, badOutput) = await RunAgentAsync("--control", cluster.Members[0].Api, "--ca-file", cluster.CaFile!, "--name", "intruder", "--token", token[..7] + "xxxxxxxxxxxxxxxx");
        Assert.Equal(1, badCode);
        Assert.Contains($"refused this node: node intruder refused: join token {token[..6]}.… has the wrong secret", badOutput, StringComparison.Ordinal);
        (badCode, badOutput) = await RunAgentAsync("--control", cluster.Members[0].Api, "--ca-file", cluster.CaFile!, "--name", "intruder");
        Assert.Equal(1, badCode);
        Assert.Contains("no join token", badOutput, StringComparison.Ordinal);
        Assert.Contains("node intruder refused", cluster.Members[0].Output, StringComparison.Ordinal);
        Assert.DoesNotContain((await observer.NodesAsync()).Nodes, n => n.Name == "intruder");

        // The first endpoint answers nothing: the agent moves on to the next.
        var nowhere = $"https://127.0.0.1:{ControlCluster.FreePort()}";
        var data = Directory.CreateTempSubdirectory("zc-agent-1-").FullName;
        var psi = AgentStart("--control", $"{nowhere},{cluster.Members[0].Api},{cluster.Members[1].Api}", "--ca-file", cluster.CaFile!, "--name", "agent-1", "--label", "rack=r9", "--token", token, "--data", data);

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
                async () => (node = (await observer.NodesAsync()).Nodes.SingleOrDefault(n => n.Name == "agent-1")) is { Status: NodeStatus.Ready },
                "the agent's node to be Ready",
                TimeSpan.FromSeconds(30));
            Assert.Equal((Environment.ProcessorCount, "r9"), (node!.Cpus, node.Labels!["rack"]));
            Assert.Equal(["process"], node.Runtimes);
            Assert.True(node.MemoryBytes > 0);

            // Its join signed its CSR: from then on it speaks with its certificate, not a bearer credential.
            await cluster.WaitForAsync(
                async () => (await observer.AuditAsync(1000)).Entries.Any(e => e.Action == Audit.Enrolled && e.Subject == "agent-1" && e.Detail!.Contains("a node certificate issued", StringComparison.Ordinal)),
                "the enrollment's audit entry, with the node certificate");
            // The audit entry is written before the agent has the answer: its own line follows.
            await cluster.WaitForAsync(
                () =>
                {
                    lock (output)
                    {
                        return Task.FromResult(output.ToString().Contains("node agent-1 speaks with its certificate from now on", StringComparison.Ordinal));
                    }
                },
                "the agent to say it speaks with its certificate",
                TimeSpan.FromSeconds(15));

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
                async () => (await observer.NodesAsync()).Nodes.Single(n => n.Name == "agent-1").Status == NodeStatus.Down,
                "the killed agent's node to be Down",
                TimeSpan.FromSeconds(30));
            Console.WriteLine($"agent SIGKILLed: node Down after {killed.Elapsed.TotalSeconds:0.0}s (downAfter 2 s)");

            // Started again with only the member that is gone on its command line: it reaches the others through the
            // members it kept in its data folder, and the node is Ready again.
            Assert.Contains(cluster.Members[1].Api, File.ReadAllLines(Path.Combine(data, "members")));
            var (again, againOutput) = await RunUntilAsync(
                AgentStart("--control", cluster.Members[0].Api, "--ca-file", cluster.CaFile!, "--name", "agent-1", "--label", "rack=r9", "--token", token, "--data", data),
                async () => (await observer.NodesAsync()).Nodes.Single(n => n.Name == "agent-1").Status == NodeStatus.Ready,
                TimeSpan.FromSeconds(30));
            Assert.True(again, againOutput);
            Assert.Contains($"control-plane members: 1 from the command line,", againOutput, StringComparison.Ordinal);
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

            Directory.Delete(data, recursive: true);
        }
    }

    /// <summary>Starts <paramref name="psi"/>, waits up to <paramref name="within"/> for <paramref name="done"/>, then kills it: whether it came true, and what the process wrote.</summary>
    private static async Task<(bool Done, string Output)> RunUntilAsync(ProcessStartInfo psi, Func<Task<bool>> done, TimeSpan within)
    {
        var output = new StringBuilder();
        using var process = Process.Start(psi)!;
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var until = DateTime.UtcNow + within;
            while (DateTime.UtcNow < until && !process.HasExited)
            {
                try
                {
                    if (await done())
                    {
                        return (true, Text());
                    }
                }
                catch (ControlApiException)
                {
                    // asked again
                }

                await Task.Delay(250);
            }

            return (false, Text());
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
                await process.WaitForExitAsync();
            }
        }

        string Text()
        {
            lock (output)
            {
                return output.ToString();
            }
        }
    }

    /// <summary>Rewrites the "expires" field of the record at <paramref name="key"/> to <paramref name="ago"/> before now.</summary>
    internal static async Task ExpireAsync(ControlClient client, string key, TimeSpan ago)
    {
        var record = (await client.GetAsync(key))!.Value;
        var when = (DateTime.UtcNow - ago).ToString("O", System.Globalization.CultureInfo.InvariantCulture);
        await client.PutAsync(key, System.Text.RegularExpressions.Regex.Replace(record, "\"expires\":\"[^\"]*\"", $"\"expires\":\"{when}\""));
    }
}
