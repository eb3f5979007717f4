using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Serialization;
using Orleans.Storage;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Model.Api;
using ZeroCloud.Orleans;

namespace ZeroCloud.Cluster.Tests;

/// <summary>
/// The Orleans providers over the Raft store, against Orleans' contract (the cases of Orleans' own
/// MembershipTableTestsBase and grain-storage tests), on a real control plane.
/// </summary>
[Collection("control")]
[Trait("Category", "Lab")]
public class OrleansProviderTests
{
    private static MembershipEntry Entry(int port, SiloStatus status = SiloStatus.Joining) => new()
    {
        SiloAddress = SiloAddress.New(new IPEndPoint(IPAddress.Loopback, port), 1),
        Status = status,
        HostName = "host",
        SiloName = $"silo-{port}",
        RoleName = "control",
        ProxyPort = port + 1,
        StartTime = DateTime.UtcNow,
        IAmAliveTime = DateTime.UtcNow,
        SuspectTimes = [],
    };

    [Fact]
    public async Task Membership_table_follows_orleans_contract()
    {
        await using var cluster = await ControlCluster.StartAsync(1);
        using var client = new ControlClient(new Uri(cluster.Members[0].Api), cluster.Members[0].Http) { Token = cluster.AdminCredential };
        var table = new RaftMembershipTable(client, "test", NullLogger<RaftMembershipTable>.Instance);
        await table.InitializeMembershipTable(tryInitTableVersion: true);
        await table.InitializeMembershipTable(tryInitTableVersion: true); // twice is fine

        var empty = await table.ReadAll();
        Assert.Empty(empty.Members);
        Assert.Equal(0, empty.Version.Version);

        // Insert: the version moves on; the same silo again, or a stale version, is refused.
        var a = Entry(11111);
        Assert.True(await table.InsertRow(a, empty.Version.Next()));
        var one = await table.ReadAll();
        Assert.Single(one.Members);
        Assert.Equal(1, one.Version.Version);
        Assert.NotEqual(empty.Version.VersionEtag, one.Version.VersionEtag);
        Assert.False(await table.InsertRow(a, one.Version.Next()), "the same silo twice");
        Assert.False(await table.InsertRow(Entry(22222), empty.Version.Next()), "a stale table version");
        Assert.True(await table.InsertRow(Entry(22222), one.Version.Next()));

        // Update: needs the row's current etag and the current table version.
        var two = await table.ReadAll();
        Assert.Equal(2, two.Version.Version);
        var (row, etag) = two.Members.Single(m => m.Item1.SiloAddress.Equals(a.SiloAddress));
        row.Status = SiloStatus.Active;
        row.AddOrUpdateSuspector(Entry(22222).SiloAddress, DateTime.UtcNow, 10);
        Assert.False(await table.UpdateRow(row, etag, one.Version.Next()), "a stale table version");
        Assert.True(await table.UpdateRow(row, etag, two.Version.Next()));
        var three = await table.ReadAll();
        Assert.False(await table.UpdateRow(row, etag, three.Version.Next()), "a stale row etag");
        var updated = (await table.ReadRow(a.SiloAddress)).Members.Single().Item1;
        Assert.Equal(SiloStatus.Active, updated.Status);
        Assert.Single(updated.SuspectTimes!);
        Assert.Equal((a.SiloName, a.ProxyPort, a.RoleName), (updated.SiloName, updated.ProxyPort, updated.RoleName));

        // IAmAlive: the row's time changes, the table version does not.
        var alive = DateTime.UtcNow.AddSeconds(5);
        await table.UpdateIAmAlive(new MembershipEntry { SiloAddress = a.SiloAddress, IAmAliveTime = alive });
        var four = await table.ReadAll();
        Assert.Equal(three.Version, four.Version);
        Assert.Equal(alive, four.Members.Single(m => m.Item1.SiloAddress.Equals(a.SiloAddress)).Item1.IAmAliveTime);

        // Defunct rows (dead, and not alive since the cut-off) go; the others stay.
        var (b, betag) = four.Members.Single(m => !m.Item1.SiloAddress.Equals(a.SiloAddress));
        b.Status = SiloStatus.Dead;
        b.IAmAliveTime = DateTime.UtcNow.AddHours(-2);
        Assert.True(await table.UpdateRow(b, betag, four.Version.Next()));
        await table.CleanupDefunctSiloEntries(DateTimeOffset.UtcNow.AddHours(-1));
        Assert.Equal([a.SiloAddress], (await table.ReadAll()).Members.Select(m => m.Item1.SiloAddress));

        await table.DeleteMembershipTableEntries("test");
        Assert.Empty((await table.ReadAll()).Members);
    }

    public sealed class Counter
    {
        public int Value { get; set; }

        public string Owner { get; set; } = "";
    }

    [Fact]
    public async Task Grain_storage_writes_reads_refuses_a_stale_etag_and_clears()
    {
        await using var cluster = await ControlCluster.StartAsync(1);
        using var client = new ControlClient(new Uri(cluster.Members[0].Api), cluster.Members[0].Http) { Token = cluster.AdminCredential };
        var serializer = new SystemTextJsonGrainStorageSerializer(Options.Create(new SystemTextJsonGrainStorageSerializerOptions()));
        var storage = new RaftGrainStorage(client, serializer);
        var id = GrainId.Create("node", "n1");

        var state = new GrainState<Counter>();
        await storage.ReadStateAsync("counter", id, state);
        Assert.False(state.RecordExists);
        Assert.Null(state.ETag);

        state.State = new Counter { Value = 1, Owner = "silo-a" };
        await storage.WriteStateAsync("counter", id, state);
        Assert.True(state.RecordExists);

        // Another activation (the grain moved to another silo) reads what was written.
        var elsewhere = new GrainState<Counter>();
        await storage.ReadStateAsync("counter", id, elsewhere);
        Assert.Equal((1, "silo-a"), (elsewhere.State!.Value, elsewhere.State.Owner));
        Assert.Equal(state.ETag, elsewhere.ETag);

        elsewhere.State.Value = 2;
        await storage.WriteStateAsync("counter", id, elsewhere);

        // The first copy is stale now: its write is refused and nothing changes.
        state.State!.Value = 99;
        var stale = await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("counter", id, state));
        Assert.Equal(elsewhere.ETag, stale.StoredEtag);
        var check = new GrainState<Counter>();
        await storage.ReadStateAsync("counter", id, check);
        Assert.Equal(2, check.State!.Value);

        // Writing a new record over an existing one without its etag is refused too.
        var blind = new GrainState<Counter> { State = new Counter { Value = 5 } };
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("counter", id, blind));

        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.ClearStateAsync("counter", id, state));
        await storage.ClearStateAsync("counter", id, check);
        Assert.False(check.RecordExists);
        var gone = new GrainState<Counter>();
        await storage.ReadStateAsync("counter", id, gone);
        Assert.False(gone.RecordExists);
        Assert.Equal(0, gone.State!.Value);
    }
}
