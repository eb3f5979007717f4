using System.Collections.Concurrent;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Lab;
using ZeroCloud.Model.Api;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Cluster.Tests;

/// <summary>
/// A network partition between real member processes (iptables on loopback, the minority member's process in a
/// cgroup of its own so that only its traffic is cut): the minority refuses linearizable reads and writes with 503
/// and a code, never 500 and never a stale answer; the majority keeps taking writes; no acknowledged write is lost;
/// no two members lead in one term; once healed, the minority catches up by itself.
/// </summary>
[Collection("control")]
[Trait("Category", "Lab")]
public sealed class PartitionTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static async Task IptablesAsync(string action, IEnumerable<string[]> rules)
    {
        foreach (var rule in rules)
        {
            var (code, text) = await Processes.RunAsync("iptables", [action, .. rule], TimeSpan.FromSeconds(10));
            Assert.True(code == 0 || action == "-D", $"iptables {action} {string.Join(' ', rule)}: {text}");
        }
    }

    [LabFact]
    public async Task A_minority_member_refuses_with_503_the_majority_goes_on_nothing_acknowledged_is_lost_and_one_leader_per_term()
    {
        await using var cluster = await ControlCluster.StartAsync(3);
        var leader = cluster.Leader();
        var minority = cluster.Members.First(m => m != leader);
        var majority = cluster.Members.Where(m => m != minority).ToList();
        await leader.Client.PutAsync("/p/before", "x");
        await cluster.WaitForAsync(async () => (await minority.Client.GetAsync("/p/before", stale: true)) is not null, "the minority to have the first write");

        // Who leads in which term, as every member says, all along.
        var leaders = new ConcurrentDictionary<long, ConcurrentDictionary<string, bool>>();
        using var stop = new CancellationTokenSource();
        var watching = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                foreach (var m in cluster.Members)
                {
                    try
                    {
                        var s = await m.Client.StatusAsync(stop.Token);
                        if (s.Role == "leader")
                        {
                            leaders.GetOrAdd(s.Term, _ => new(StringComparer.Ordinal))[m.Name] = true;
                        }
                    }
                    catch (Exception ex) when (ex is ControlApiException or HttpRequestException or OperationCanceledException)
                    {
                        // not answering now
                    }
                }

                await Task.Delay(100, CancellationToken.None);
            }
        });

        // Writes go on through the majority all along; each acknowledged one is remembered.
        var acknowledged = new ConcurrentBag<string>();
        var writing = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var via = majority[i % 2];
                try
                {
                    if ((await via.Client.PutAsync($"/p/{i:00000}", $"{i}", ct: stop.Token)).Succeeded)
                    {
                        acknowledged.Add($"/p/{i:00000}");
                    }
                }
                catch (Exception ex) when (ex is ControlApiException or HttpRequestException or OperationCanceledException)
                {
                    // unknown outcome or refused: not counted as acknowledged
                }

                await Task.Delay(20, CancellationToken.None);
            }
        });

        // The cut: the minority's process in its own cgroup; its connections to the others' Raft and API ports
        // dropped, and theirs to its Raft port. Its own API stays reachable for the test.
        var cgroup = $"zc-part-{Guid.NewGuid():N}"[..16];
        var cgroupDir = Path.Combine("/sys/fs/cgroup/unified", cgroup);
        Directory.CreateDirectory(cgroupDir);
        await File.WriteAllTextAsync(Path.Combine(cgroupDir, "cgroup.procs"), $"{minority.Pid}");
        var rules = majority.SelectMany(m => new[] { m.RaftPort, m.ApiPort })
            .Select(port => new[] { "OUTPUT", "-o", "lo", "-p", "tcp", "--dport", $"{port}", "-m", "cgroup", "--path", cgroup, "-j", "DROP" })
            .Append(["INPUT", "-i", "lo", "-p", "tcp", "--dport", $"{minority.RaftPort}", "-j", "DROP"])
            .ToList();
        await IptablesAsync("-A", rules);
        try
        {
            await Task.Delay(3000);

            // The minority: a linearizable read and a write are refused with 503 and a code.
            var read = await Assert.ThrowsAsync<ControlApiException>(() => minority.Client.GetAsync("/p/before"));
            Assert.True(read.Status == 503, $"{read.Status} {read.Code}: {read.Message}");
            var write = await Assert.ThrowsAsync<ControlApiException>(() => minority.Client.PutAsync("/p/minority", "never"));
            Assert.True(write.Status is 503 or 504, $"{write.Status} {write.Code}: {write.Message}");
            Assert.False(string.IsNullOrEmpty(write.Code));
            output.WriteLine($"minority: read {read.Status} {read.Code} ({read.Message}); write {write.Status} {write.Code} ({write.Message})");

            // The majority goes on.
            var during = acknowledged.Count;
            await cluster.WaitForAsync(() => Task.FromResult(acknowledged.Count > during + 20), "the majority to take writes during the partition");
        }
        finally
        {
            await IptablesAsync("-D", rules);
            await File.WriteAllTextAsync("/sys/fs/cgroup/unified/cgroup.procs", $"{minority.Pid}");
            Directory.Delete(cgroupDir);
        }

        // Healed: the minority catches up by itself, and nothing acknowledged is missing anywhere.
        var healed = acknowledged.Count;
        await cluster.WaitForAsync(() => Task.FromResult(acknowledged.Count > healed + 20), "writes after the partition healed");
        await stop.CancelAsync();
        await Task.WhenAll(writing, watching);
        var keys = acknowledged.ToHashSet(StringComparer.Ordinal);
        foreach (var m in cluster.Members)
        {
            await cluster.WaitForAsync(
                async () => keys.IsSubsetOf((await m.Client.RangeAsync("/p/", stale: true)).Kvs.Select(k => k.Key)),
                $"{m.Name} to hold every one of the {keys.Count} acknowledged writes");
        }

        output.WriteLine($"{keys.Count} writes acknowledged through the majority, all on every member after the heal; terms with a leader: {string.Join(", ", leaders.Keys.Order())}");
        Assert.Null(await leader.Client.GetAsync("/p/minority"));
        var twice = leaders.Where(t => t.Value.Count > 1).Select(t => $"term {t.Key}: {string.Join(", ", t.Value.Keys)}").ToList();
        Assert.True(twice.Count == 0, $"two leaders in one term: {string.Join("; ", twice)}");
        Assert.NotEmpty(leaders);
    }
}
