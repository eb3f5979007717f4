using Microsoft.Extensions.Time.Testing;
using ZeroCloud.Orleans.Grains;

namespace ZeroCloud.Cluster.Tests;

/// <summary>
/// Mass silence, on a fake clock: most watched nodes late at once holds transitions (the control plane is the likely
/// cause); some nodes late, or a small cluster, does not.
/// </summary>
public class SilenceMonitorTests
{
    private static readonly TimeSpan SuspectAfter = TimeSpan.FromSeconds(3);

    [Fact]
    public void Most_nodes_late_at_once_is_mass_silence_and_a_few_late_are_not()
    {
        var time = new FakeTimeProvider();
        var monitor = new SilenceMonitor(time);
        var nodes = Enumerable.Range(1, 10).Select(i => $"n{i}").ToList();
        nodes.ForEach(monitor.Beat);
        Assert.False(monitor.Check(SuspectAfter).Mass);

        // Three stop beating: they are late, the others are not: no mass silence, their grains go on as usual.
        time.Advance(TimeSpan.FromSeconds(1));
        nodes.Skip(3).ToList().ForEach(monitor.Beat);
        time.Advance(TimeSpan.FromSeconds(1));
        var some = monitor.Check(SuspectAfter);
        Assert.Equal((false, 3, 10), some);

        // Then nobody's beat arrives for 1.5 s (half of SuspectAfter): mass silence.
        time.Advance(TimeSpan.FromSeconds(1.5));
        Assert.Equal((true, 10, 10), monitor.Check(SuspectAfter));

        // The beats come through again: over once more than half are on time.
        nodes.Take(6).ToList().ForEach(monitor.Beat);
        time.Advance(TimeSpan.FromMilliseconds(200));
        Assert.Equal((false, 4, 10), monitor.Check(SuspectAfter));

        // Nodes that went Down are no longer watched.
        nodes.Skip(6).ToList().ForEach(monitor.Forget);
        time.Advance(TimeSpan.FromMilliseconds(200));
        Assert.Equal((false, 0, 6), monitor.Check(SuspectAfter));
    }

    [Fact]
    public void Joins_queued_on_the_member_hold_transitions_until_they_have_gone_through()
    {
        var time = new FakeTimeProvider();
        var monitor = new SilenceMonitor(time);
        Assert.False(monitor.Admitting(TimeSpan.FromSeconds(3)));
        monitor.JoinQueued();
        time.Advance(TimeSpan.FromSeconds(2.9));
        Assert.True(monitor.Admitting(TimeSpan.FromSeconds(3)));
        time.Advance(TimeSpan.FromSeconds(0.2));
        Assert.False(monitor.Admitting(TimeSpan.FromSeconds(3)));

        // Another member said joins queued there 1 s ago: held here too, for the rest of the window.
        monitor.Queued(1.0);
        Assert.True(monitor.Admitting(TimeSpan.FromSeconds(3)));
        time.Advance(TimeSpan.FromSeconds(2.1));
        Assert.False(monitor.Admitting(TimeSpan.FromSeconds(3)));
        monitor.Queued(null);
        Assert.False(monitor.Admitting(TimeSpan.FromSeconds(3)));

        // The cluster is asked, and told, at most once a second.
        Assert.True(monitor.ShouldAsk());
        Assert.False(monitor.ShouldAsk());
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(monitor.ShouldAsk());
        Assert.True(monitor.ShouldTell());
        Assert.False(monitor.ShouldTell());
    }

    [Fact]
    public void A_small_cluster_losing_most_of_its_nodes_is_not_mass_silence()
    {
        var time = new FakeTimeProvider();
        var monitor = new SilenceMonitor(time);
        foreach (var n in new[] { "a", "b", "c" })
        {
            monitor.Beat(n);
        }

        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal((false, 3, 3), monitor.Check(SuspectAfter));
    }
}
