using System.Diagnostics;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Cluster.Tests;

/// <summary>Orleans silos beside the Raft members find each other through the Raft-backed membership table.</summary>
[Collection("control")]
public class SiloTests
{
    private static async Task<IReadOnlyList<SiloDto>> SilosAsync(ControlMember via) => (await via.Client.StatusAsync()).Silos ?? [];

    [Fact]
    public async Task Silos_form_a_cluster_through_the_store_a_killed_or_hung_one_is_declared_dead_and_a_restarted_one_rejoins()
    {
        await using var cluster = await ControlCluster.StartAsync(3);
        var observer = cluster.Members[0];
        await cluster.WaitForAsync(
            async () => (await SilosAsync(observer)).Count(s => s.Status == "active") == 3,
            "three active silos",
            TimeSpan.FromSeconds(60));

        // SIGKILL a member: its silo is declared dead by the others.
        var victim = cluster.Members[2];
        var victimSilo = (await SilosAsync(observer)).Single(s => s.Name == victim.Name && s.Status == "active").Address;
        var killed = Stopwatch.StartNew();
        await victim.KillAsync();
        await cluster.WaitForAsync(
            async () => (await SilosAsync(observer)).Any(s => s.Address == victimSilo && s.Status == "dead"),
            "the killed silo to be declared dead",
            TimeSpan.FromSeconds(60));
        var deadAfter = killed.Elapsed;

        // Restarted from its data, the member comes back with a new silo (a new generation) that joins.
        victim.Start();
        await cluster.WaitForAsync(
            async () => (await SilosAsync(observer)).Count(s => s.Status == "active") == 3,
            "the restarted silo to rejoin",
            TimeSpan.FromSeconds(60));

        // A hung member (SIGSTOP): its silo is declared dead too.
        var hung = cluster.Members[1];
        var hungSilo = (await SilosAsync(observer)).Single(s => s.Name == hung.Name && s.Status == "active").Address;
        using (var stop = Process.Start("kill", ["-STOP", $"{hung.Pid}"]))
        {
            await stop.WaitForExitAsync();
        }

        var stopped = Stopwatch.StartNew();
        await cluster.WaitForAsync(
            async () => (await SilosAsync(observer)).Any(s => s.Address == hungSilo && s.Status == "dead"),
            "the hung silo to be declared dead",
            TimeSpan.FromSeconds(90));
        var hungDeadAfter = stopped.Elapsed;
        await hung.KillAsync();

        // Keep the figures in the test output.
        Console.WriteLine($"silo declared dead after SIGKILL: {deadAfter.TotalSeconds:0.0}s, after SIGSTOP: {hungDeadAfter.TotalSeconds:0.0}s");
    }
}
