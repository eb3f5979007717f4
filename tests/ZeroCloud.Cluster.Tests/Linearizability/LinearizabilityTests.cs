using System.Diagnostics;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Model.Api;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Cluster.Tests.Linearizability;

/// <summary>
/// Histories from real members checked for linearizability: clients get, put and compare-and-swap through random
/// members while the leader is SIGKILLed (and restarted) and members are paused; and a negative control that must
/// fail: a follower cut off from Raft, read with ?stale=true after a write it cannot have.
/// </summary>
[Collection("control")]
[Trait("Category", "Lab")]
public class LinearizabilityTests
{
    /// <summary>
    /// Runs a three-member cluster under leader kills and pauses for <paramref name="duration"/> and checks the
    /// history; returns the verdict and a line of figures. Used by the CI test and by bench/linearizability.sh.
    /// </summary>
    public static async Task<(CheckResult Result, string Figures)> RunAsync(TimeSpan duration, int seed, int clients = 6, int keys = 4)
    {
        await using var cluster = await ControlCluster.StartAsync(3);
        using var http = cluster.Trust!.Client(TimeSpan.FromSeconds(10));
        var clientsOf = cluster.Members.Select(m => new ControlClient(new Uri(m.Api), http) { Token = cluster.AdminCredential }).ToList();
        var members = cluster.Members.Select((m, i) => (Func<ControlClient?>)(() => m.IsRunning ? clientsOf[i] : null)).ToList();
        var recorder = new HistoryRecorder(members, keys, seed);
        using var stop = new CancellationTokenSource();
        var kills = 0;
        var pauses = 0;
        var chaos = Task.Run(async () =>
        {
            var random = new Random(seed);
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < duration - TimeSpan.FromSeconds(2))
            {
                await Task.Delay(TimeSpan.FromMilliseconds(random.Next(2000, 4000)));
                ControlMember? victim = null;
                try
                {
                    victim = cluster.Leader();
                }
                catch (InvalidOperationException)
                {
                    // between leaders: pause someone instead
                }

                if (victim is not null && random.Next(3) > 0)
                {
                    await victim.KillAsync();
                    kills++;
                    await Task.Delay(TimeSpan.FromMilliseconds(random.Next(300, 1200)));
                    victim.Start();
                }
                else
                {
                    var paused = cluster.Members[random.Next(cluster.Members.Count)];
                    if (paused.Pid is { } pid)
                    {
                        Signal("STOP", pid);
                        pauses++;
                        await Task.Delay(TimeSpan.FromMilliseconds(random.Next(300, 1500)));
                        Signal("CONT", pid);
                    }
                }
            }
        });
        await recorder.RunAsync(clients, duration, stop.Token);
        await chaos;
        var started = Stopwatch.StartNew();
        var result = Checker.Check(recorder.Ops);
        var (gets, puts, cas, unknown, dropped) = recorder.Counts;
        var figures = $"seed {seed}: {recorder.Ops.Count} ops in {duration.TotalSeconds:0} s ({gets} gets, {puts} puts, {cas} cas; {unknown} with unknown outcome; {dropped} refused with nothing written), {kills} leader kills, {pauses} pauses; checked in {started.Elapsed.TotalSeconds:0.00} s ({result.Steps} steps): {result.Verdict}{(result.Key is null ? "" : $" on {result.Key}")}";
        return (result, figures);
    }

    private static void Signal(string signal, int pid)
    {
        using var kill = Process.Start("kill", [$"-{signal}", $"{pid}"]);
        kill.WaitForExit();
    }

    [LabFact]
    public async Task Gets_puts_and_compare_and_swaps_through_every_member_stay_linearizable_while_leaders_are_killed_and_members_paused()
    {
        // bench/linearizability.sh sets longer runs and its own seeds; CI runs one of 30 s.
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("ZC_LIN_SECONDS"), out var s) && s > 0 ? s : 30;
        var seed = int.TryParse(Environment.GetEnvironmentVariable("ZC_LIN_SEED"), out var given) ? given : Environment.TickCount % 1000;
        var (result, figures) = await RunAsync(TimeSpan.FromSeconds(seconds), seed);
        Console.WriteLine(figures);
        Assert.True(result.Verdict != Verdict.NotLinearizable, $"{figures}\n{Describe(result)}");
    }

    [LabFact]
    public async Task A_follower_cut_off_from_raft_and_read_stale_is_caught_as_not_linearizable()
    {
        await using var cluster = await ControlCluster.StartAsync(3);
        var leader = cluster.Leader();
        var follower = cluster.Members.First(m => m != leader);
        var ops = new List<Op>();
        const string key = "/lin/negative";

        async Task PutAsync(string value)
        {
            var call = Stopwatch.GetTimestamp();
            await leader.Client.PutAsync(key, value);
            ops.Add(new Op(0, key, OpKind.Put, call, Stopwatch.GetTimestamp(), Value: value));
        }

        await PutAsync("before");
        await cluster.WaitForAsync(async () => (await follower.Client.GetAsync(key, stale: true))?.Value == "before", "the follower to have the first value");

        // Cut the follower off from Raft (its API still answers): the leader's entries never reach it.
        var rule = new[] { "INPUT", "-p", "tcp", "--dport", $"{follower.RaftPort}", "-j", "DROP" };
        await IptablesAsync(["-w", "-I", .. rule]);
        try
        {
            await PutAsync("after");
            var call = Stopwatch.GetTimestamp();
            var read = (await follower.Client.GetAsync(key, stale: true))?.Value;
            ops.Add(new Op(1, key, OpKind.Get, call, Stopwatch.GetTimestamp(), Read: read));
            Assert.True(read == "before", $"the cut-off follower read \"{read}\": the isolation did not hold, so this control proves nothing");
        }
        finally
        {
            await IptablesAsync(["-w", "-D", .. rule]);
        }

        var result = Checker.Check(ops);
        Assert.Equal(Verdict.NotLinearizable, result.Verdict);
        Assert.Equal(key, result.Key);

        // And the same member, asked for a linearizable read once it is back, has caught up.
        await cluster.WaitForAsync(async () => (await follower.Client.GetAsync(key))?.Value == "after", "the follower to serve the acknowledged value linearizably");
    }

    private static async Task IptablesAsync(string[] args)
    {
        var psi = new ProcessStartInfo("iptables") { RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var error = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, $"iptables {string.Join(' ', args)}: {error}");
    }

    /// <summary>
    /// The failing key's whole history goes to a file (a test message is cut short); the message shows the 30
    /// operations up to the first one without which the history, taken in call order, is still linearizable.
    /// </summary>
    internal static string Describe(CheckResult result)
    {
        if (result.Witness is null)
        {
            return "";
        }

        static string Line(Op o) => $"  client {o.Client} {o.Kind} call {o.Call} return {(o.Unknown ? "?" : o.Return)} value {o.Value ?? "(none)"} expected {o.Expected ?? "(none)"} read {o.Read ?? "(none)"} ok {o.Succeeded}";
        var ordered = result.Witness.OrderBy(o => o.Call).ToList();
        var file = Path.Combine(Path.GetTempPath(), $"zc-lin-{result.Key!.Trim('/').Replace('/', '-')}-{Environment.ProcessId}.txt");
        File.WriteAllLines(file, ordered.Select(Line));
        int lo = 1, hi = ordered.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (Checker.Check(ordered.Take(mid)).Verdict == Verdict.NotLinearizable)
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }

        return $"operations on {result.Key}: {ordered.Count}, all in {file}; the first {lo} in call order are not linearizable, the last 30 of them:\n"
            + string.Join("\n", ordered.Skip(Math.Max(0, lo - 30)).Take(Math.Min(30, lo)).Select(Line));
    }
}
