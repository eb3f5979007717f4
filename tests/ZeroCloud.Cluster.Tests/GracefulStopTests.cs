using System.Diagnostics;
using System.Text.Json;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Orleans;

namespace ZeroCloud.Cluster.Tests;

/// <summary>A member asked to stop (SIGTERM) stops in order: its silo leaves the cluster itself, then the API and the Raft member go; exit 0.</summary>
[Collection("control")]
[Trait("Category", "Lab")]
public class GracefulStopTests
{
    private const int Active = 3;
    private const int ShuttingDown = 4;
    private const int Stopping = 5;
    private const int Dead = 6;

    [Fact]
    public async Task SIGTERM_stops_a_member_within_its_shutdown_timeout_with_exit_0_and_its_silo_leaves_as_ShuttingDown_then_Dead_unsuspected()
    {
        await using var cluster = await ControlCluster.StartWithSilosAsync(3);
        var observer = cluster.Members[0];
        await cluster.WaitForActiveSilosAsync(3, observer);

        // Every change to the silo rows from here on, as the store commits them.
        var from = (await observer.Client.StatusAsync()).Revision + 1;
        var victim = cluster.Members[2];
        var rows = new List<SiloRow>();
        using var watching = new CancellationTokenSource();
        var watch = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in observer.Client.WatchAsync("/zc/orleans/zc/silos/", from, watching.Token))
                {
                    if (e.Type == "put" && JsonSerializer.Deserialize(e.Value, OrleansJsonContext.Default.SiloRow) is { } row && row.SiloName == victim.Name)
                    {
                        lock (rows)
                        {
                            rows.Add(row);
                        }
                    }
                }
            }
            catch (OperationCanceledException)
            {
                // done
            }
        });

        var asked = Stopwatch.StartNew();
        var code = await victim.TerminateAsync(TimeSpan.FromSeconds(30));
        var took = asked.Elapsed;
        Assert.True(code is not null, $"the member did not exit within 30 s of SIGTERM\n{victim.Output}");
        Assert.True(code == 0, $"exit code {code}\n{victim.Output}");
        Assert.Contains("stopped in", victim.Output, StringComparison.Ordinal);

        await cluster.WaitForAsync(
            () =>
            {
                lock (rows)
                {
                    return Task.FromResult(rows.Any(r => r.Status == Dead));
                }
            },
            "the stopped member's silo row to reach Dead",
            TimeSpan.FromSeconds(30));
        await watching.CancelAsync();
        await watch;

        List<SiloRow> seen;
        lock (rows)
        {
            seen = [.. rows];
        }

        var statuses = seen.Select(r => r.Status).ToList();
        var trail = string.Join(" → ", statuses);
        // It said it was leaving before it was dead: nobody had to declare it dead.
        var leaving = statuses.FindIndex(s => s is ShuttingDown or Stopping);
        Assert.True(leaving >= 0 && leaving < statuses.IndexOf(Dead), $"silo row statuses: {trail}");
        Assert.DoesNotContain(Active, statuses.Skip(leaving));
        // Orleans records a silo's own declaration as a vote by itself; no other silo suspected it.
        Assert.All(seen, r => Assert.All(r.Suspects, v => Assert.Equal(r.Address, v.Silo)));

        // The two others still serve.
        var left = await cluster.Members[0].Client.PutAsync("/after-stop", "yes");
        Assert.True(left.Succeeded);
        Console.WriteLine($"SIGTERM → exit 0 in {took.TotalSeconds:0.00} s; silo row: {trail}");
    }

    [Fact]
    public async Task A_member_that_cannot_stop_within_its_5_s_shutdown_timeout_exits_non_zero_and_says_so()
    {
        await using var cluster = await ControlCluster.StartWithSilosAsync(3);
        var observer = cluster.Members[0];
        await cluster.WaitForActiveSilosAsync(3, observer);

        // Freeze the two others: the member's silo cannot write its leaving to the store (no quorum), so stopping hangs.
        var victim = cluster.Members[2];
        var frozen = cluster.Members.Where(m => m != victim).Select(m => m.Pid!.Value).ToList();
        foreach (var pid in frozen)
        {
            Signal("STOP", pid);
        }

        try
        {
            var asked = Stopwatch.StartNew();
            var code = await victim.TerminateAsync(TimeSpan.FromSeconds(30));
            var took = asked.Elapsed;
            Assert.True(code is not null, $"the member did not exit within 30 s of SIGTERM\n{victim.Output}");
            Assert.True(code != 0, $"exit code {code} after {took.TotalSeconds:0.0} s\n{victim.Output}");
            Assert.Contains("more than the 5 s allowed", victim.Output, StringComparison.Ordinal);
            Console.WriteLine($"SIGTERM with the quorum frozen: exit {code} after {took.TotalSeconds:0.00} s");
        }
        finally
        {
            foreach (var pid in frozen)
            {
                Signal("CONT", pid);
            }
        }
    }

    private static void Signal(string signal, int pid)
    {
        using var kill = Process.Start("kill", [$"-{signal}", $"{pid}"]);
        kill.WaitForExit();
    }
}
