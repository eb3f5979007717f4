using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using ZeroCloud.Cluster.Api;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Cluster.Tests;

/// <summary>Roles on the API, against a `zc serve control` process: who may read, write, change members and see credentials.</summary>
[Collection("control")]
[Trait("Category", "Lab")]
public class AccessTests
{
    [Fact]
    public async Task Without_a_credential_nothing_but_status_answers_and_nothing_changes()
    {
        await using var cluster = await ControlCluster.StartAsync(1);
        var member = cluster.Members[0];
        await member.Client.PutAsync("/keep", "me");
        var before = await member.Client.StatusAsync();
        using var http = cluster.Trust!.Client(TimeSpan.FromSeconds(20));
        http.BaseAddress = new Uri(member.Api);

        // The attacks of the issue, with no credential: each is 401 and writes nothing.
        (HttpMethod Method, string Path, string? Body)[] attacks =
        [
            (HttpMethod.Get, "/v1/tokens", null),
            (HttpMethod.Delete, "/v1/kv/?prefix=true", null),
            (HttpMethod.Put, "/v1/kv/zc/spec", "{\"value\":\"x\"}"),
            (HttpMethod.Post, "/v1/txn", "{\"success\":[{\"type\":\"delete\",\"key\":\"/\",\"prefix\":true}]}"),
            (HttpMethod.Post, "/v1/apply", "apiVersion: zerocloud/v1"),
            (HttpMethod.Post, "/v1/members", "{\"address\":\"127.0.0.1:1\"}"),
            (HttpMethod.Post, "/v1/operators", "{\"role\":\"admin\"}"),
            (HttpMethod.Post, "/v1/nodes/rogue/approve", null),
            (HttpMethod.Get, "/v1/kv/keep", null),
            (HttpMethod.Get, "/v1/watch?prefix=/&from=1", null),
            (HttpMethod.Get, "/v1/audit", null),
            (HttpMethod.Post, "/v1/tickets", "{\"mac\":\"52:54:00:00:00:01\"}"),
        ];
        foreach (var (method, path, body) in attacks)
        {
            using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : new StringContent(body) };
            using var response = await http.SendAsync(request);
            Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{method} {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            Assert.Contains("unauthenticated", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // A made-up credential of each kind is 401 too, and says why.
        foreach (var forged in new[] { "op:abcdefgh.secret", "node:n1.secret", "abcdef.0123456789abcdef", "op:x" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/kv/keep");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", forged);
            using var response = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        // Status stays public (a load balancer's probe), and the store is as it was.
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/v1/status")).StatusCode);
        var after = await member.Client.StatusAsync();
        Assert.Equal(before.Revision, after.Revision);
        Assert.Equal("me", (await member.Client.GetAsync("/keep"))!.Value);
    }

    [Fact]
    public async Task Read_only_reads_everything_but_credentials_and_writes_nothing_and_admin_can_revoke()
    {
        await using var cluster = await ControlCluster.StartAsync(1);
        var admin = cluster.Members[0].Client;
        await admin.PutAsync("/app/a", "1");
        var made = await admin.CreateOperatorAsync(Roles.ReadOnly, description: "a dashboard");
        Assert.Equal(Roles.ReadOnly, made.Role);
        Assert.StartsWith("op:", made.Credential, StringComparison.Ordinal);
        Assert.True(made.Expires > DateTime.UtcNow.AddMinutes(59) && made.Expires < DateTime.UtcNow.AddMinutes(61), $"a read-only credential lives an hour by default, not until {made.Expires:u}");
        using var reader = new ControlClient(new Uri(cluster.Members[0].Api), cluster.Members[0].Http) { Token = made.Credential };

        // Reads: yes, but never a credential (a get is 403, a range and a watch leave them out).
        Assert.Equal("1", (await reader.GetAsync("/app/a"))!.Value);
        var everything = await reader.RangeAsync("/");
        Assert.Contains(everything.Kvs, kv => kv.Key == "/app/a");
        Assert.DoesNotContain(everything.Kvs, kv => StoreKeys.IsSecret(kv.Key));
        Assert.Contains((await admin.RangeAsync("/")).Kvs, kv => kv.Key.StartsWith(StoreKeys.Tokens, StringComparison.Ordinal));
        var token = (await admin.TokensAsync()).Tokens[0];
        Assert.Equal("forbidden", (await Assert.ThrowsAsync<ControlApiException>(() => reader.GetAsync(StoreKeys.Token(token.Id)))).Code);
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => reader.TokensAsync())).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => reader.OperatorsAsync())).Status);
        using (var watch = new CancellationTokenSource(TimeSpan.FromSeconds(3)))
        {
            var seen = new List<string>();
            try
            {
                await foreach (var e in reader.WatchAsync("/", 1, watch.Token))
                {
                    seen.Add(e.Key);
                }
            }
            catch (OperationCanceledException)
            {
                // the watch runs until cancelled
            }

            Assert.Contains("/app/a", seen);
            Assert.DoesNotContain(seen, StoreKeys.IsSecret);
        }

        // Writes: none, and nothing changed.
        var revision = (await admin.StatusAsync()).Revision;
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => reader.PutAsync("/app/a", "2"))).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => reader.DeleteAsync("/", prefix: true))).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => reader.CreateOperatorAsync(Roles.Admin))).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => reader.AddMemberAsync("127.0.0.1:1"))).Status);
        Assert.Equal(revision, (await admin.StatusAsync()).Revision);

        // Listed without its secret; revoked, it is refused at once; the audit log has both.
        var listed = await admin.OperatorsAsync();
        Assert.Contains(listed.Operators, o => o.Id == made.Id && o.Role == Roles.ReadOnly && o.Description == "a dashboard");
        Assert.DoesNotContain(made.Credential[(made.Credential.IndexOf('.', StringComparison.Ordinal) + 1)..], JsonSerializer.Serialize(listed, ControlJsonContext.Default.OperatorsResponse), StringComparison.Ordinal);
        await admin.RevokeOperatorAsync(made.Id);
        Assert.Equal(401, (await Assert.ThrowsAsync<ControlApiException>(() => reader.GetAsync("/app/a"))).Status);
        var audit = (await admin.AuditAsync()).Entries;
        Assert.Contains(audit, e => e.Action == Audit.OperatorCreated && e.Subject == made.Id);
        Assert.Contains(audit, e => e.Action == Audit.OperatorRevoked && e.Subject == made.Id);

        // A credential expired 10 s ago still works (clocks may disagree by WallClock.Tolerance); one expired a minute ago
        // is refused with a reason that says so.
        var brief = await admin.CreateOperatorAsync(Roles.Admin, TimeSpan.FromHours(1));
        using var late = new ControlClient(new Uri(cluster.Members[0].Api), cluster.Members[0].Http) { Token = brief.Credential };
        await AgentTests.ExpireAsync(admin, $"/zc/operators/{brief.Id}", TimeSpan.FromSeconds(10));
        await late.GetAsync("/app/a");
        await AgentTests.ExpireAsync(admin, $"/zc/operators/{brief.Id}", TimeSpan.FromMinutes(1));
        var expired = await Assert.ThrowsAsync<ControlApiException>(() => late.GetAsync("/app/a"));
        Assert.Equal(401, expired.Status);
        Assert.Contains("expired", expired.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_node_writes_only_its_own_instance_states_unless_it_runs_dhcp_or_a_voter()
    {
        await using var cluster = await ControlCluster.StartAsync(1);
        var admin = cluster.Members[0].Client;
        var api = new Uri(cluster.Members[0].Api);

        // Two nodes with keys (as a join makes them), one placement each.
        var secret = ControlApi.NewSecret();
        await admin.PutAsync(StoreKeys.NodeKey("n1"), JsonSerializer.Serialize(new NodeKeyDto("n1", ControlApi.Hash(secret), DateTime.UtcNow), ControlJsonContext.Default.NodeKeyDto));
        await admin.PutAsync(StoreKeys.Node("n1"), JsonSerializer.Serialize(new NodeDto("n1", NodeStatus.Ready, DateTime.UtcNow, 2, 1 << 30, "127.0.0.1", null, null, 0), ControlJsonContext.Default.NodeDto));
        await admin.PutAsync(StoreKeys.Instance("n1", "web-1"), Instance("web-1", "n1", "builtin/hello"));
        await admin.PutAsync(StoreKeys.Instance("n2", "web-2"), Instance("web-2", "n2", "builtin/hello"));
        using var n1 = new ControlClient(api, cluster.Members[0].Http) { Token = $"node:n1.{secret}" };

        // Reads, and its own instance state.
        Assert.Single((await n1.InstancesAsync("n1")).Instances);
        var running = JsonSerializer.Serialize(new InstanceStateDto("web-1", "n1", InstanceState.Running, true, 0, DateTime.UtcNow), ControlJsonContext.Default.InstanceStateDto);
        await n1.TxnAsync(new TxnRequest([new CompareDto(StoreKeys.Instance("n1", "web-1"), "version", ">", Number: 0)], [new OpDto("put", StoreKeys.InstanceState("n1", "web-1"), running)], []));

        // Not another node's, not the spec, not the placements, not the leases, not a credential, not a member.
        var other = JsonSerializer.Serialize(new InstanceStateDto("web-2", "n2", InstanceState.Failed, false, 0, DateTime.UtcNow), ControlJsonContext.Default.InstanceStateDto);
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => n1.PutAsync(StoreKeys.InstanceState("n2", "web-2"), other))).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => n1.DeleteAsync(StoreKeys.Instances, prefix: true))).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => n1.DeleteAsync(StoreKeys.InstanceStates + "n1", prefix: true))).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => n1.PutAsync("/zc/leases/10.0.0.9", "{}"))).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => n1.GetAsync(StoreKeys.NodeKey("n1")))).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => n1.TxnAsync(new TxnRequest([new CompareDto(StoreKeys.NodeKey("n1"), "value", "=", Value: "guess")], [], [])))).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => n1.AddMemberAsync("127.0.0.1:1"))).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => n1.CreateTicketAsync("52:54:00:00:00:01"))).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => n1.ApplyAsync("x"u8.ToArray(), "cluster.yaml"))).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => n1.ApproveNodeAsync("n1"))).Status);

        // Running dhcp, it may write the leases (its service's keys), still not the spec.
        await admin.PutAsync(StoreKeys.Instance("n1", "dhcp-1"), Instance("dhcp-1", "n1", "builtin/dhcp"));
        var lease = new LeaseRecord("10.0.0.9", "52:54:00:00:00:01", "01525400000001", DateTimeOffset.UtcNow.AddHours(1), "bound", null);
        await n1.PutAsync(StoreKeys.Leases + "10.0.0.9", JsonSerializer.Serialize(lease, ControlJsonContext.Default.LeaseRecord));
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => n1.PutAsync("/zc/spec", "x"))).Status);

        // Running a voter, it may add a member on its own address only.
        await admin.PutAsync(StoreKeys.Instance("n1", "control-1"), Instance("control-1", "n1", "builtin/control"));
        var elsewhere = await Assert.ThrowsAsync<ControlApiException>(() => n1.AddMemberAsync("10.9.9.9:7071"));
        Assert.Equal(403, elsewhere.Status);
        Assert.Contains("own address", elsewhere.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Requests_without_a_credential_are_rate_limited_per_address_and_an_admin_is_not()
    {
        await using var cluster = await ControlCluster.StartAsync(1);
        var member = cluster.Members[0];
        using var http = cluster.Trust!.Client(TimeSpan.FromSeconds(20));
        http.BaseAddress = new Uri(member.Api);

        async Task<(int[] Codes, double Seconds)> FloodAsync(string? credential)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var codes = new int[600];
            await Parallel.ForAsync(0, codes.Length, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, ct) =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, credential is null ? "/v1/status" : "/v1/kv/x?prefix=true&stale=true");
                if (credential is not null)
                {
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
                }

                using var response = await http.SendAsync(request, ct);
                codes[i] = (int)response.StatusCode;
                if (codes[i] == 429)
                {
                    Assert.Equal("1", response.Headers.RetryAfter?.ToString());
                }
            });
            return (codes, clock.Elapsed.TotalSeconds);
        }

        // Anonymous: the address's bucket (200) plus what refills while the flood lasts (100 a second).
        var (anonymous, seconds) = await FloodAsync(null);
        var allowed = anonymous.Count(c => c == 200);
        Assert.True(allowed <= 2 * ZeroCloud.Cluster.Api.NodeRateLimits.PerAddressPerSecond + (ZeroCloud.Cluster.Api.NodeRateLimits.PerAddressPerSecond * (seconds + 0.5)), $"{allowed} of 600 anonymous requests in {seconds:0.00} s passed");
        Assert.All(anonymous, c => Assert.True(c is 200 or 429, $"status {c}"));

        // The admin is not limited.
        var (admin, _) = await FloodAsync(cluster.AdminCredential);
        Assert.All(admin, c => Assert.Equal(200, c));
    }

    private static string Instance(string id, string node, string image) =>
        JsonSerializer.Serialize(new InstanceDto(id, id.Split('-')[0], node, image, 100, 1 << 20, 1), ControlJsonContext.Default.InstanceDto);
}
