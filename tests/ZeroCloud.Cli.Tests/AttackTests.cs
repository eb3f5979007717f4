using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit.Abstractions;
using ZeroCloud.Lab;
using ZeroCloud.Model.Api;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Cli.Tests;

/// <summary>
/// The attacks of issue 16, replayed from an attacker's namespace on the provisioning LAN of a cluster <c>zc up</c>
/// made: under <c>enroll: approve</c> every one is refused (401, a failed TLS handshake, 404, or Pending with nothing)
/// and the cluster is unchanged afterwards; under <c>enroll: auto</c> the attacker's enrolled machine gets its node key
/// and workloads at most: no credential, no write outside its own keys, no member, no CA, no infrastructure.
/// </summary>
[Collection("up")]
[Trait("Category", "Lab")]
public sealed partial class AttackTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("zc-attack-").FullName;

    private const string Seed = "10.82.0.2";
    private const string Api = $"https://{Seed}:7070";
    private const string Attacker = "zc-attack-evil";

    /// <summary>The cluster; under auto it asks for more dhcp replicas than there are trusted nodes, and a hello for every node.</summary>
    private static string Yaml(string enroll, int dhcp = 2, int hello = 4) => $$"""
        apiVersion: zerocloud.io/v1
        kind: Cluster
        metadata: { name: attack }
        spec:
          network:
            interface: zc0
            subnet: 10.82.0.0/24
            gateway: 10.82.0.1
            dhcp: { mode: full, range: 10.82.0.100-10.82.0.200, leaseTime: 1h }
          controlPlane: { replicas: 3 }
          nodes:
            enroll: {{enroll}}
            heartbeat: 500ms
            downAfter: 8s
            known:
              - { mac: "52:54:00:82:00:01", name: known-1 }
              - { mac: "52:54:00:82:00:02", name: known-2 }
              - { mac: "52:54:00:82:00:03", name: known-3 }
          services:
            - { name: dhcp, image: builtin/dhcp, replicas: {{dhcp}} }
            - { name: netboot, image: builtin/netboot, replicas: 2 }
            - { name: storage, image: builtin/storage, replicas: 1 }
            - { name: hello, image: builtin/hello, replicas: {{hello}}, resources: { cpu: 10m, memory: 8Mi }, ports: [8080] }
        """;

    private Task<(int Code, string Out, string Err)> ZcAsync(TimeSpan timeout, params string[] args) => ZcProcess.RunAsync(_root, timeout, args);

    private async Task<T> GetAsync<T>(string what, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        var (code, text, err) = await ZcAsync(TimeSpan.FromMinutes(1), "get", what, "--json");
        Assert.True(code == 0, text + err);
        return JsonSerializer.Deserialize(text, type)!;
    }

    /// <summary>curl from the attacker's namespace: its exit code, and the HTTP status and body when there was an answer.</summary>
    private static async Task<(int Exit, int Status, string Body)> CurlAsync(string method, string url, string? bearer = null, string? body = null)
    {
        List<string> args = ["netns", "exec", Attacker, "curl", "-sk", "--max-time", "10", "-X", method, "-o", "-", "-w", "\n%{http_code}", url];
        if (bearer is not null)
        {
            args.AddRange(["-H", $"Authorization: Bearer {bearer}"]);
        }

        if (body is not null)
        {
            args.AddRange(["-H", "Content-Type: application/json", "--data-binary", body]);
        }

        var (exit, text) = await Processes.RunAsync("ip", [.. args], TimeSpan.FromSeconds(20));
        var cut = text.TrimEnd().LastIndexOf('\n');
        var status = int.TryParse(cut < 0 ? text.Trim() : text[(cut + 1)..].Trim(), out var s) ? s : 0;
        return (exit, status, cut < 0 ? "" : text[..cut]);
    }

    /// <summary>A snapshot of what must not change: the spec, the members, the token ids, the Ready nodes, the placements off the attacker.</summary>
    private async Task<string> StateAsync()
    {
        var (_, spec, _) = await ZcAsync(TimeSpan.FromMinutes(1), "kv", "get", StoreKeys.Spec);
        var members = (await GetAsync("members", ControlJsonContext.Default.MembersResponse)).Members.Select(m => m.Id).Order(StringComparer.Ordinal);
        var tokens = (await GetAsync("tokens", ControlJsonContext.Default.TokensResponse)).Tokens.Select(t => t.Id).Order(StringComparer.Ordinal);
        var nodes = (await GetAsync("nodes", ControlJsonContext.Default.NodesResponse)).Nodes.Where(n => n.Status == NodeStatus.Ready).Select(n => n.Name).Order(StringComparer.Ordinal);
        var (_, operators, _) = await ZcAsync(TimeSpan.FromMinutes(1), "operator", "ls", "--json");
        return $"spec:\n{spec}\nmembers: {string.Join(",", members)}\ntokens: {string.Join(",", tokens)}\nready: {string.Join(",", nodes)}\noperators: {operators.Trim()}";
    }

    /// <summary>What netboot hands any MAC that asks: its name and single-use ticket, from the boot script.</summary>
    private static async Task<(string Name, string Ticket)> BootScriptAsync(string mac)
    {
        var (exit, status, script) = await CurlAsync("GET", $"http://{Seed}:8880/boot/{mac}.ipxe");
        Assert.True(exit == 0 && status == 200, $"{exit} {status} {script}");
        Assert.DoesNotContain("zc.token=", script, StringComparison.Ordinal);
        return (NameArg().Match(script).Groups[1].Value, "ticket:" + TicketArg().Match(script).Groups[1].Value);
    }

    private static string Beat(string mac, int cpus = 512) => $"{{\"cpus\":{cpus},\"memoryBytes\":1099511627776,\"mac\":\"{mac}\"}}";

    [LabFact]
    public async Task An_attacker_on_the_provisioning_lan_is_refused_and_an_auto_enrolled_machine_gets_workloads_only()
    {
        var file = Path.Combine(_root, "cluster.yaml");
        await File.WriteAllTextAsync(file, Yaml("approve"));
        try
        {
            var (code, upOut, upErr) = await ZcAsync(TimeSpan.FromMinutes(10), "up", "-f", file, "--timeout", "300");
            Assert.True(code == 0, upOut + upErr);
            output.WriteLine(upOut);

            // dhcp and netboot speak to the control plane with their node's certificate, not a bearer key.
            var (_, ps) = await Processes.RunAsync("ps", ["-eo", "args"], TimeSpan.FromSeconds(10));
            var running = ps.Split('\n').Where(l => l.Contains(_root, StringComparison.Ordinal) && (l.Contains("--store", StringComparison.Ordinal) || l.Contains("--http-port", StringComparison.Ordinal))).ToList();
            Assert.True(running.Count >= 4, ps);
            Assert.All(running, l => Assert.True(l.Contains("--cert-file", StringComparison.Ordinal) && !l.Contains("--token-file", StringComparison.Ordinal), l));

            // The attacker: a namespace of its own on the lab's bridge, an address in the subnet, no credential.
            await Netns.AddHostAsync("zc-attack-sw", Attacker, "eth0", "zatk0", "52:54:00:66:66:01");
            await Netns.IpAsync("-n", Attacker, "addr", "add", "10.82.0.66/24", "dev", "eth0");
            var before = await StateAsync();

            // The API: nothing without a credential, nothing with a made-up one.
            (string Method, string Path, string? Body)[] calls =
            [
                ("GET", "/v1/tokens", null),
                ("DELETE", "/v1/kv/?prefix=true", null),
                ("POST", "/v1/apply", "kind: Cluster"),
                ("POST", "/v1/txn", "{\"compare\":[],\"success\":[{\"op\":\"delete\",\"key\":\"/\",\"prefix\":true}],\"failure\":[]}"),
                ("POST", "/v1/members", "{\"address\":\"10.82.0.66:7071\"}"),
                ("GET", "/v1/watch?key=/&prefix=true&startRevision=1", null),
                ("GET", "/v1/kv/zc/spec", null),
                ("POST", "/v1/pki/member", "{\"csr\":\"x\",\"addresses\":[\"10.82.0.66\"]}"),
                ("POST", "/v1/tickets", "{\"mac\":\"52:54:00:82:00:01\"}"),
                ("POST", "/v1/nodes/rogue-node/heartbeat", Beat("52:54:00:66:66:02")),
                ("PUT", "/v1/secrets/stolen", "{\"value\":\"eA==\"}"),
            ];
            foreach (var (method, path, body) in calls)
            {
                foreach (var bearer in (string?[])[null, "op:abcdefgh.0123456789abcdef0123456789abcdef", "abcdef.0123456789abcdef", "node:known-1.guess"])
                {
                    var (exit, status, answer) = await CurlAsync(method, Api + path, bearer, body);
                    Assert.True(exit == 0 && status == 401, $"{method} {path} with {bearer ?? "no credential"}: curl {exit}, HTTP {status} {answer}");
                }
            }

            // Raft and the silo speak mutual TLS only: a client without a member certificate gets no answer.
            Assert.NotEqual(0, (await CurlAsync("GET", $"https://{Seed}:7071/")).Exit);
            Assert.NotEqual(0, (await CurlAsync("GET", $"https://{Seed}:7072/")).Exit);
            // The boot server lists the machines' inventories to the join token's holder only.
            Assert.Equal(401, (await CurlAsync("GET", $"http://{Seed}:8880/v1/nodes")).Status);

            // A machine of the attacker's boots under approve: it waits, Pending, and gets nothing; its key may only
            // heartbeat. A used ticket does not work twice.
            var (pendingName, ticket) = await BootScriptAsync("52:54:00:66:66:03");
            var (_, joinStatus, joined) = await CurlAsync("POST", $"{Api}/v1/nodes/{pendingName}/heartbeat", ticket, Beat("52:54:00:66:66:03"));
            Assert.True(joinStatus == 200 && joined.Contains("\"status\":\"pending\"", StringComparison.OrdinalIgnoreCase), joined);
            var pendingKey = JsonSerializer.Deserialize(joined, ControlJsonContext.Default.NodeStatusDto)!.Key!;
            Assert.Equal(401, (await CurlAsync("POST", $"{Api}/v1/nodes/{pendingName}/heartbeat", ticket, Beat("52:54:00:66:66:03"))).Status);
            Assert.Equal(403, (await CurlAsync("GET", $"{Api}/v1/nodes", pendingKey)).Status);
            Assert.Equal(403, (await CurlAsync("GET", $"{Api}/v1/tokens", pendingKey)).Status);

            await Task.Delay(TimeSpan.FromSeconds(3));
            Assert.Equal(before, await StateAsync());
            var placed = (await GetAsync("instances", ControlJsonContext.Default.InstancesResponse)).Instances;
            Assert.DoesNotContain(placed, v => v.Instance.Node == pendingName);

            // Under enroll: auto the attacker's machine joins by itself (Ready, its own key) and gets workloads only:
            // the spec now wants one dhcp more than there are trusted nodes, and a hello on every node.
            await File.WriteAllTextAsync(file, Yaml("auto", dhcp: 5, hello: 5));
            (code, upOut, upErr) = await ZcAsync(TimeSpan.FromMinutes(1), "apply", "-f", file);
            Assert.True(code == 0, upOut + upErr);
            var applied = await StateAsync();
            const string rogueMac = "52:54:00:66:66:04";
            var (rogue, rogueTicket) = await BootScriptAsync(rogueMac);
            var (_, status2, joinedAuto) = await CurlAsync("POST", $"{Api}/v1/nodes/{rogue}/heartbeat", rogueTicket, Beat(rogueMac, cpus: 64));
            Assert.True(status2 == 200 && joinedAuto.Contains("\"status\":\"ready\"", StringComparison.OrdinalIgnoreCase), joinedAuto);
            var key = JsonSerializer.Deserialize(joinedAuto, ControlJsonContext.Default.NodeStatusDto)!.Key!;

            // Its key reads what any node reads, and nothing else; it writes nothing but its own instance states.
            Assert.Equal(200, (await CurlAsync("GET", $"{Api}/v1/nodes", key)).Status);
            foreach (var (method, path, body) in ((string, string, string?)[])
            [
                ("GET", "/v1/tokens", null),
                ("GET", "/v1/kv/zc/node-keys/known-1", null),
                ("PUT", "/v1/kv/zc/spec", "{\"value\":\"x\"}"),
                ("DELETE", "/v1/kv/?prefix=true", null),
                ("POST", "/v1/apply", "kind: Cluster"),
                ("POST", "/v1/members", "{\"address\":\"10.82.0.66:7071\"}"),
                ("POST", "/v1/pki/member", "{\"csr\":\"x\",\"addresses\":[\"10.82.0.66\"]}"),
                ("POST", "/v1/tickets", "{\"mac\":\"52:54:00:82:00:01\"}"),
                ("GET", "/v1/secrets/anything", null),
                ("POST", "/v1/operators", "{\"role\":\"admin\"}"),
                ("POST", "/v1/nodes/known-1/heartbeat", Beat("52:54:00:82:00:01")),
            ])
            {
                var (exit, status, answer) = await CurlAsync(method, Api + path, key, body);
                Assert.True(exit == 0 && status is 401 or 403, $"{method} {path} as {rogue}: curl {exit}, HTTP {status} {answer}");
            }

            // A range over everything leaves every credential out (tokens, tickets, node keys, operators, secrets).
            var (_, rangeStatus, everything) = await CurlAsync("GET", $"{Api}/v1/kv/?prefix=true", key);
            Assert.Equal(200, rangeStatus);
            Assert.Contains("/zc/spec", everything, StringComparison.Ordinal);
            foreach (var prefix in StoreKeys.Secret)
            {
                Assert.DoesNotContain($"\"{prefix}", everything, StringComparison.Ordinal);
            }

            // Keep it alive until the scheduler has given it something (a busy machine plans late), then for a few
            // plans more: it may be given hello, never dhcp, netboot or a voter.
            var given = Stopwatch.StartNew();
            var beatsAfter = 0;
            List<string> mine = [];
            while (beatsAfter < 8 && given.Elapsed < TimeSpan.FromSeconds(90))
            {
                Assert.Equal(200, (await CurlAsync("POST", $"{Api}/v1/nodes/{rogue}/heartbeat", key, Beat(rogueMac, cpus: 64))).Status);
                await Task.Delay(500);
                mine = (await GetAsync("instances", ControlJsonContext.Default.InstancesResponse)).Instances.Where(v => v.Instance.Node == rogue).Select(v => v.Instance.Image).ToList();
                beatsAfter += mine.Count > 0 ? 1 : 0;
            }

            output.WriteLine($"the auto-enrolled attacker's machine {rogue} was given: {(mine.Count == 0 ? "nothing" : string.Join(", ", mine))}");
            Assert.Equal(["builtin/hello"], mine);
            var (_, services, _) = await ZcAsync(TimeSpan.FromMinutes(1), "get", "services");
            Assert.Contains("no Ready trusted (known or approved) node", services, StringComparison.Ordinal);
            var after = await StateAsync();
            Assert.Equal(applied.Split("\nready:")[0], after.Split("\nready:")[0]);
        }
        finally
        {
            var (code, downOut, downErr) = await ZcAsync(TimeSpan.FromMinutes(2), "down");
            Assert.True(code == 0, downOut + downErr);
        }
    }

    [GeneratedRegex(@"zc\.name=(\S+)")]
    private static partial Regex NameArg();

    [GeneratedRegex(@"zc\.ticket=(\S+)")]
    private static partial Regex TicketArg();

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }
}
