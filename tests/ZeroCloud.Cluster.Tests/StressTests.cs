using System.Collections.Concurrent;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Cluster.Tests;

/// <summary>A soak test: in the slow tier (scripts/test --slow). CI's proof of writes surviving leader kills is LinearizabilityTests.</summary>
[Collection("control")]
[Trait("Category", "Lab")]
[Trait("Category", "Slow")]
public class StressTests
{
    /// <summary>
    /// Clients write unique keys through random members while members (the leader included) are SIGKILLed and
    /// restarted, one at a time. Afterwards every acknowledged write is on every member and all members hold the
    /// same revision history.
    /// </summary>
    [Fact]
    public async Task Acknowledged_writes_survive_twenty_kills_and_every_member_has_the_same_history()
    {
        const int Kills = 20;
        await using var cluster = await ControlCluster.StartAsync(3, "--snapshot-every", "200", "--stranded-after", "10");
        var acked = new ConcurrentDictionary<string, string>();
        var failures = 0;
        using var stop = new CancellationTokenSource();
        var random = new Random(20261127);

        async Task WriteLoop(int writer)
        {
            var r = new Random(writer);
            for (var seq = 0; !stop.IsCancellationRequested; seq++)
            {
                var running = cluster.Members.Where(m => m.IsRunning).ToList();
                var member = running[r.Next(running.Count)];
                var key = $"/stress/{writer}/{seq:D6}";
                try
                {
                    await member.Client.PutAsync(key, $"{writer}:{seq}");
                    acked[key] = $"{writer}:{seq}";
                }
                catch (ControlApiException)
                {
                    Interlocked.Increment(ref failures); // not acknowledged: it may or may not have committed
                    await Task.Delay(20);
                }
            }
        }

        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(() => WriteLoop(w))).ToList();
        var leaderKills = 0;
        for (var kill = 0; kill < Kills; kill++)
        {
            await Task.Delay(random.Next(200, 600));
            var leader = await cluster.WaitForLeaderAsync();
            var victim = kill % 3 == 0 ? leader : cluster.Members[random.Next(cluster.Members.Count)];
            leaderKills += victim == leader ? 1 : 0;
            await victim.KillAsync();
            await Task.Delay(random.Next(100, 500));
            victim.Start();
            // No waiting for it to catch up before the next kill: a member killed while DotNext installs a snapshot on
            // it can be stranded (decision 0012), and its watchdog repairs it (removed, folder aside, rejoined empty).
            await cluster.WaitForAsync(async () => (await victim.Client.StatusAsync()).Leader is not null, $"{victim.Name} back after kill {kill + 1}", TimeSpan.FromSeconds(90));
        }

        await Task.Delay(500);
        await stop.CancelAsync();
        await Task.WhenAll(writers);
        Assert.True(acked.Count > 100, $"only {acked.Count} writes were acknowledged ({failures} failed)");
        Assert.True(leaderKills >= 5, $"the leader was killed {leaderKills} times");

        // Converge: every member applies up to the same revision.
        long revision = 0;
        await cluster.WaitForAsync(
            async () =>
            {
                var revisions = await Task.WhenAll(cluster.Members.Select(async m => (await m.Client.StatusAsync()).Revision));
                revision = revisions[0];
                return revisions.All(r => r == revisions[0]);
            },
            "every member at the same revision",
            TimeSpan.FromSeconds(90));
        var repaired = cluster.Members.Where(m => m.Output.Contains("is stranded:", StringComparison.Ordinal)).Select(m => m.Name).ToList();
        Console.WriteLine($"stress: {acked.Count} writes acknowledged, {failures} not; {leaderKills} of {Kills} kills hit the leader; stranded and repaired: {(repaired.Count == 0 ? "none" : string.Join(", ", repaired))}");

        foreach (var m in cluster.Members)
        {
            var stored = (await m.Client.RangeAsync("/stress/", stale: true)).Kvs.ToDictionary(k => k.Key, k => k.Value);
            var missing = acked.Where(a => !stored.TryGetValue(a.Key, out var v) || v != a.Value).Select(a => a.Key).ToList();
            Assert.True(missing.Count == 0, $"{m.Name} lacks {missing.Count} acknowledged writes, such as {string.Join(", ", missing.Take(5))}");
        }

        var histories = new List<List<(long, string, string, string)>>();
        foreach (var m in cluster.Members)
        {
            var history = new List<(long, string, string, string)>();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await foreach (var e in m.Client.WatchAsync("/", 1, timeout.Token))
            {
                history.Add((e.Revision, e.Type, e.Key, e.Value));
                if (e.Revision == revision)
                {
                    break;
                }
            }

            histories.Add(history);
        }

        Assert.Equal(revision, histories[0][^1].Item1);
        Assert.All(histories, h => Assert.Equal(histories[0], h));
    }
}
