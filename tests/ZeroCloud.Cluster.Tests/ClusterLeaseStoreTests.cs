using Microsoft.Extensions.Logging.Abstractions;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Net;
using ZeroCloud.Netboot.Dhcp;

namespace ZeroCloud.Cluster.Tests;

/// <summary>DHCP leases in the Raft store: two replicas can never both lease one address.</summary>
[Collection("control")]
[Trait("Category", "Lab")]
public class ClusterLeaseStoreTests
{
    private static Lease Bound(string ip, string mac, DateTimeOffset expires) =>
        new(Ipv4.ToUInt32(System.Net.IPAddress.Parse(ip)), MacAddress.Parse(mac), "01" + mac.Replace(":", "", StringComparison.Ordinal), expires, LeaseState.Bound);

    [Fact]
    public async Task The_second_replica_to_lease_an_address_gets_a_conflict_and_the_first_replicas_lease_reaches_it()
    {
        await using var cluster = await ControlCluster.StartAsync(3);
        var now = DateTimeOffset.UtcNow;
        using var a = new ClusterLeaseStore(new ControlClient(new Uri(cluster.Members[0].Api), cluster.Members[0].Http) { Token = cluster.AdminCredential }, TimeProvider.System, NullLogger<ClusterLeaseStore>.Instance);
        using var b = new ClusterLeaseStore(new ControlClient(new Uri(cluster.Members[2].Api), cluster.Members[2].Http) { Token = cluster.AdminCredential }, TimeProvider.System, NullLogger<ClusterLeaseStore>.Instance);
        Assert.Empty(await a.LoadAsync(CancellationToken.None));
        Assert.Empty(await b.LoadAsync(CancellationToken.None));
        using var stop = new CancellationTokenSource();
        var seenByB = new List<Lease>();
        b.Follow(l => { lock (seenByB) { seenByB.Add(l); } }, stop.Token);

        var first = Bound("10.77.1.5", "52:54:00:00:00:01", now.AddHours(1));
        await a.CommitAsync(first, CancellationToken.None);

        // Replica b, unaware, offers the same address to another machine: refused, with the holder.
        var second = Bound("10.77.1.5", "52:54:00:00:00:02", now.AddHours(1));
        var conflict = await Assert.ThrowsAsync<LeaseConflictException>(() => b.CommitAsync(second, CancellationToken.None));
        Assert.Equal(first.ClientKey, conflict.Held.ClientKey);

        // The holder renews through the other replica; an address whose lease expired less than the clocks' tolerance
        // (30 s) ago stays held; once it is past that, the address may pass on.
        await b.CommitAsync(first with { Expires = now.AddHours(2) }, CancellationToken.None);
        await a.CommitAsync(Bound("10.77.1.6", "52:54:00:00:00:03", now.AddSeconds(-10)), CancellationToken.None);
        await Assert.ThrowsAsync<LeaseConflictException>(() => b.CommitAsync(Bound("10.77.1.6", "52:54:00:00:00:04", now.AddHours(1)), CancellationToken.None));
        await a.CommitAsync(Bound("10.77.1.6", "52:54:00:00:00:03", now.AddSeconds(-31)), CancellationToken.None);
        await b.CommitAsync(Bound("10.77.1.6", "52:54:00:00:00:04", now.AddHours(1)), CancellationToken.None);

        await cluster.WaitForAsync(() => Task.FromResult(seenByB.Count >= 5), "replica b to see every committed lease");
        lock (seenByB)
        {
            Assert.Equal(first, seenByB[0]);
        }

        var reloaded = await new ClusterLeaseStore(new ControlClient(new Uri(cluster.Members[1].Api), cluster.Members[1].Http) { Token = cluster.AdminCredential }, TimeProvider.System, NullLogger<ClusterLeaseStore>.Instance).LoadAsync(CancellationToken.None);
        Assert.Equal(2, reloaded.Count);
        Assert.Equal("0152540000000" + "4", reloaded.Single(l => l.Address == Ipv4.ToUInt32(System.Net.IPAddress.Parse("10.77.1.6"))).ClientKey);
        await stop.CancelAsync();
    }
}
