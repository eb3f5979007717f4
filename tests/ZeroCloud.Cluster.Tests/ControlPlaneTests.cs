using System.Net;
using System.Net.Http.Json;
using System.Text;
using ZeroCloud.Cluster.Api;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Cluster.Tests;

[CollectionDefinition("control", DisableParallelization = true)]
[Trait("Category", "Lab")]
public sealed class ControlProcesses;

/// <summary>The control plane as users run it: `zc serve control` processes on loopback, talked to over HTTP.</summary>
[Collection("control")]
[Trait("Category", "Lab")]
public class ControlPlaneTests
{
    [Fact]
    public async Task Three_members_replicate_and_any_member_takes_writes()
    {
        await using var cluster = await ControlCluster.StartAsync(3);
        var leader = cluster.Leader();
        var follower = cluster.Members.First(m => m != leader);

        // A write sent to a follower is forwarded to the leader and committed.
        var write = await follower.Client.PutAsync("/greeting", "hello");
        Assert.True(write.Revision >= 1);

        // Linearizable reads on every member see it at once; status agrees on the leader.
        foreach (var m in cluster.Members)
        {
            Assert.Equal("hello", (await m.Client.GetAsync("/greeting"))!.Value);
            var status = await m.Client.StatusAsync();
            Assert.Equal(leader.RaftId, status.Leader);
            Assert.Equal(3, status.Members.Count);
            Assert.Equal(write.Revision, status.Revision);
        }

        // Compare-and-swap: a stale revision is refused and changes nothing.
        var current = (await leader.Client.GetAsync("/greeting"))!;
        var conflict = await Assert.ThrowsAsync<ControlApiException>(() => follower.Client.PutAsync("/greeting", "stale", ifModRevision: current.ModRevision - 1));
        Assert.Equal("revision_mismatch", conflict.Code);
        await follower.Client.PutAsync("/greeting", "fresh", ifModRevision: current.ModRevision);
        Assert.Equal("fresh", (await cluster.Members[2].Client.GetAsync("/greeting"))!.Value);

        // A transaction: create-if-absent fails when present and runs its failure branch.
        var txn = await follower.Client.TxnAsync(new TxnRequest(
            [new CompareDto("/greeting", "version", "=", Number: 0)],
            [new OpDto("put", "/greeting", "created")],
            [new OpDto("put", "/seen", "yes")]));
        Assert.False(txn.Succeeded);
        Assert.Equal("yes", (await leader.Client.GetAsync("/seen"))!.Value);
        Assert.Equal("fresh", (await leader.Client.GetAsync("/greeting"))!.Value);

        // Prefix range and delete.
        await leader.Client.PutAsync("/dir/a", "1");
        await leader.Client.PutAsync("/dir/b", "2");
        Assert.Equal(["/dir/a", "/dir/b"], (await follower.Client.RangeAsync("/dir/")).Kvs.Select(k => k.Key));
        Assert.Equal(2, (await follower.Client.DeleteAsync("/dir/", prefix: true)).Changed);
        Assert.Empty((await leader.Client.RangeAsync("/dir/")).Kvs);
        Assert.Null(await leader.Client.GetAsync("/dir/a"));
    }

    [Fact]
    public async Task Killing_the_leader_elects_another_and_the_killed_member_catches_up_from_its_log()
    {
        await using var cluster = await ControlCluster.StartAsync(3);
        var first = cluster.Leader();
        for (var i = 0; i < 20; i++)
        {
            await first.Client.PutAsync($"/before/{i}", $"{i}");
        }

        await first.KillAsync();
        var survivor = cluster.Members.First(m => m != first);
        var second = await cluster.WaitForLeaderAsync(notThis: first);
        Assert.NotEqual(first, second);

        // Writes continue through either survivor.
        for (var i = 0; i < 20; i++)
        {
            await cluster.WaitForAsync(async () => (await survivor.Client.PutAsync($"/after/{i}", $"{i}")).Succeeded, $"write {i} after the failover");
        }

        // The killed member restarts from its own write-ahead log and catches up.
        first.Start();
        await cluster.WaitForAsync(
            async () => (await first.Client.RangeAsync("/after/", stale: true)).Kvs.Count == 20,
            "the restarted member to catch up");
        Assert.Equal(20, (await first.Client.RangeAsync("/before/", stale: true)).Kvs.Count);
        Assert.Contains("started", first.Output, StringComparison.Ordinal);
        var statuses = await Task.WhenAll(cluster.Members.Select(m => m.Client.StatusAsync()));
        Assert.Single(statuses.Select(s => s.Leader).Distinct());
    }

    [Fact]
    public async Task A_watch_delivers_every_change_once_and_in_order_across_a_leader_change()
    {
        await using var cluster = await ControlCluster.StartAsync(3);
        var leader = cluster.Leader();
        var watched = cluster.Members.First(m => m != leader);
        var writer = cluster.Members.First(m => m != leader && m != watched);
        var start = (await watched.Client.StatusAsync()).Revision + 1;

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var events = new List<EventDto>();
        var reading = Task.Run(async () =>
        {
            await foreach (var e in watched.Client.WatchAsync("/w/", start, stop.Token))
            {
                events.Add(e);
                if (events.Count == 60)
                {
                    return;
                }
            }
        });

        for (var i = 0; i < 30; i++)
        {
            await writer.Client.PutAsync($"/w/{i:D2}", $"{i}");
            await writer.Client.PutAsync($"/unwatched/{i}", "x");
        }

        await leader.KillAsync();
        await cluster.WaitForLeaderAsync(notThis: leader);
        for (var i = 30; i < 60; i++)
        {
            await cluster.WaitForAsync(async () => (await writer.Client.PutAsync($"/w/{i:D2}", $"{i}")).Succeeded, $"write {i}");
        }

        await reading.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(Enumerable.Range(0, 60).Select(i => $"/w/{i:D2}"), events.Select(e => e.Key));
        Assert.True(events.Zip(events.Skip(1)).All(p => p.First.Revision < p.Second.Revision), "revisions increase");
        Assert.All(events, e => Assert.Equal("put", e.Type));

        // Resuming from a revision replays exactly what came after it.
        var resumeFrom = events[39].Revision + 1;
        var replay = new List<EventDto>();
        using var stop2 = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await foreach (var e in writer.Client.WatchAsync("/w/", resumeFrom, stop2.Token))
        {
            replay.Add(e);
            if (replay.Count == 20)
            {
                break;
            }
        }

        Assert.Equal(events.Skip(40).Select(e => (e.Revision, e.Key)), replay.Select(e => (e.Revision, e.Key)));
    }

    [Fact]
    public async Task Bad_requests_get_a_4xx_with_a_message_and_apply_nothing()
    {
        await using var cluster = await ControlCluster.StartAsync(1);
        var member = cluster.Members[0];
        await member.Client.PutAsync("/kept", "1");
        var before = (await member.Client.StatusAsync()).Revision;
        using var http = cluster.Trust!.Client(TimeSpan.FromSeconds(20));
        http.BaseAddress = new Uri(member.Api);
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", cluster.AdminCredential);

        async Task<(HttpStatusCode Status, ErrorResponse Error)> Send(HttpMethod method, string path, string? body)
        {
            using var request = new HttpRequestMessage(method, path);
            if (body is not null)
            {
                request.Content = new StringContent(body, Encoding.UTF8, "application/json");
            }

            using var response = await http.SendAsync(request);
            var error = await response.Content.ReadFromJsonAsync(ControlJsonContext.Default.ErrorResponse);
            return (response.StatusCode, error!);
        }

        var malformed = await Send(HttpMethod.Put, "/v1/kv/x", "{\"value\": ");
        Assert.Equal((HttpStatusCode.BadRequest, "invalid_json"), (malformed.Status, malformed.Error.Code));
        // Problem details (RFC 9457), the API's code and message as extension members.
        Assert.Equal(("urn:zerocloud:error:invalid_json", "invalid json", 400), (malformed.Error.Type, malformed.Error.Title, malformed.Error.Status));
        Assert.Equal(malformed.Error.Message, malformed.Error.Detail);
        using (var raw = await http.GetAsync("/v1/kv/absent"))
        {
            Assert.Equal(("application/problem+json", HttpStatusCode.NotFound), (raw.Content.Headers.ContentType?.MediaType, raw.StatusCode));
        }

        Assert.Contains("malformed JSON", malformed.Error.Message, StringComparison.Ordinal);

        var unknownField = await Send(HttpMethod.Put, "/v1/kv/x", "{\"valu\": \"1\"}");
        Assert.Equal(HttpStatusCode.BadRequest, unknownField.Status);
        Assert.Contains("valu", unknownField.Error.Message, StringComparison.Ordinal);

        var huge = await Send(HttpMethod.Put, "/v1/kv/x", $"{{\"value\": \"{new string('a', (1 << 20) + 1)}\"}}");
        Assert.Equal((HttpStatusCode.RequestEntityTooLarge, "value_too_large"), (huge.Status, huge.Error.Code));

        // Typed prefixes: a value that does not parse as its type, or a placement that climbs out of its folder, is
        // refused on every write route and names the key.
        var notANode = await Send(HttpMethod.Put, "/v1/kv/zc/nodes/n1", "{\"value\": \"not json\"}");
        Assert.Equal((HttpStatusCode.BadRequest, "invalid_request"), (notANode.Status, notANode.Error.Code));
        Assert.StartsWith("/zc/nodes/n1: the value is not a NodeDto", notANode.Error.Message, StringComparison.Ordinal);
        var escape = System.Text.Json.JsonSerializer.Serialize(new InstanceDto("../../../../tmp", "hello", "n1", "builtin/hello", 1, 1, 1), ControlJsonContext.Default.InstanceDto);
        var forged = await Send(HttpMethod.Post, "/v1/txn", "{\"success\":[{\"op\":\"put\",\"key\":\"/zc/instances/n1/hello-0\",\"value\":" + System.Text.Json.JsonSerializer.Serialize(escape) + "}]}");
        Assert.Equal(HttpStatusCode.BadRequest, forged.Status);
        Assert.Contains("is not a valid name", forged.Error.Message, StringComparison.Ordinal);
        using (var nodes = await http.GetAsync("/v1/nodes"))
        {
            Assert.Equal(HttpStatusCode.OK, nodes.StatusCode);
        }

        var control = await Send(HttpMethod.Put, "/v1/kv/bad%01key", "{\"value\": \"1\"}");
        Assert.Equal(HttpStatusCode.BadRequest, control.Status);
        Assert.Contains("control character", control.Error.Message, StringComparison.Ordinal);

        var badCompare = await Send(HttpMethod.Post, "/v1/txn", "{\"compare\":[{\"key\":\"/kept\",\"target\":\"mod\",\"result\":\"~\",\"number\":1}],\"success\":[{\"op\":\"put\",\"key\":\"/y\",\"value\":\"1\"}]}");
        Assert.Equal((HttpStatusCode.BadRequest, "invalid_txn"), (badCompare.Status, badCompare.Error.Code));
        Assert.Contains("compare[0].result", badCompare.Error.Message, StringComparison.Ordinal);

        var valueWithNumber = await Send(HttpMethod.Post, "/v1/txn", "{\"compare\":[{\"key\":\"/kept\",\"target\":\"value\",\"result\":\"=\",\"number\":1}],\"success\":[]}");
        Assert.Equal(HttpStatusCode.BadRequest, valueWithNumber.Status);

        var badOp = await Send(HttpMethod.Post, "/v1/txn", "{\"success\":[{\"op\":\"upsert\",\"key\":\"/y\",\"value\":\"1\"}]}");
        Assert.Contains("success[0].op", badOp.Error.Message, StringComparison.Ordinal);

        var badMember = await Send(HttpMethod.Post, "/v1/members", "{\"address\":\"nowhere\"}");
        Assert.Equal(HttpStatusCode.BadRequest, badMember.Status);
        var noMember = await Send(HttpMethod.Delete, "/v1/members/10.9.9.9:1", null);
        Assert.Equal((HttpStatusCode.NotFound, "member_not_found"), (noMember.Status, noMember.Error.Code));
        var badWatch = await Send(HttpMethod.Get, "/v1/watch?from=-3", null);
        Assert.Equal(HttpStatusCode.BadRequest, badWatch.Status);
        var missing = await Send(HttpMethod.Get, "/v1/kv/nothing-here", null);
        Assert.Equal((HttpStatusCode.NotFound, "key_not_found"), (missing.Status, missing.Error.Code));

        Assert.Equal(before, (await member.Client.StatusAsync()).Revision);
        Assert.Equal("1", (await member.Client.GetAsync("/kept"))!.Value);
    }

    [Fact]
    public async Task Apply_stores_a_valid_cluster_yaml_and_refuses_an_invalid_one_with_line_and_column()
    {
        await using var cluster = await ControlCluster.StartAsync(1);
        var client = cluster.Members[0].Client;
        var example = await File.ReadAllBytesAsync(Path.Combine(ZeroCloud.TestSupport.NetnsLab.RepoRoot(), "cluster.yaml"));

        var applied = await client.ApplyAsync(example, "cluster.yaml");
        Assert.True(applied.Changed);
        Assert.Equal(Encoding.UTF8.GetString(example), (await client.GetAsync(ControlApi.SpecKey))!.Value);
        var again = await client.ApplyAsync(example, "cluster.yaml");
        Assert.False(again.Changed);
        Assert.Equal(applied.Revision, again.Revision);

        var text = Encoding.UTF8.GetString(example);
        var at = text.IndexOf("replicas: 3", StringComparison.Ordinal);
        var broken = Encoding.UTF8.GetBytes(string.Concat(text.AsSpan(0, at), "replicas: three", text.AsSpan(at + "replicas: 3".Length)));
        var error = await Assert.ThrowsAsync<ControlApiException>(() => client.ApplyAsync(broken, "mine.yaml"));
        Assert.Equal("invalid_spec", error.Code);
        var d = Assert.Single(error.Diagnostics);
        Assert.Equal("mine.yaml", d.File);
        Assert.True(d.Line > 0 && d.Column > 0);
        Assert.Contains("replicas", d.Path, StringComparison.Ordinal);
        Assert.Equal(applied.Revision, (await client.StatusAsync()).Revision);
    }
}
