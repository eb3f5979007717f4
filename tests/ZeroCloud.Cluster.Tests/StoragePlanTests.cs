using System.Security.Cryptography;
using ZeroCloud.Model.Api;
using ZeroCloud.Storage;

namespace ZeroCloud.Cluster.Tests;

/// <summary>The store's pure decisions: ranking, repair, collection; and the chunk files (written durably, verified on every read).</summary>
public sealed class StoragePlanTests
{
    private static readonly DateTime Now = new(2026, 11, 30, 12, 0, 0, DateTimeKind.Utc);
    private static readonly TimeSpan RepairAfter = TimeSpan.FromSeconds(30);

    private static Dictionary<string, StorageNode> Nodes(params (string Name, NodeStatus Status, double DownSeconds)[] nodes) =>
        nodes.ToDictionary(n => n.Name, n => new StorageNode(n.Name, n.Status, Now.AddSeconds(-n.DownSeconds), "10.0.0.1", RunsStorage: true), StringComparer.Ordinal);

    private static ChunkDto Chunk(params string[] nodes) => new(new string('a', 64), 4 << 20, nodes);

    [Fact]
    public void Rank_is_the_same_everywhere_and_a_leaving_node_moves_only_its_own_chunks()
    {
        string[] four = ["n1", "n2", "n3", "n4"];
        var moved = 0;
        for (var i = 0; i < 200; i++)
        {
            var hex = Convert.ToHexStringLower(SHA256.HashData(BitConverter.GetBytes(i)));
            var all = StoragePlan.Rank(hex, four);
            Assert.Equal(all, StoragePlan.Rank(hex, four.Reverse()));
            var without = StoragePlan.Rank(hex, four.Where(n => n != "n4"));
            Assert.Equal(all.Where(n => n != "n4"), without);
            moved += all.Take(2).Contains("n4") ? 1 : 0;
        }

        // The first two places spread over the four nodes: about half the chunks have n4 among them.
        Assert.InRange(moved, 60, 140);
        Assert.Equal("n3", StoragePlan.Rank(new string('b', 64), four, preferred: "n3")[0]);
    }

    [Fact]
    public void A_down_node_is_waited_for_until_repair_after_then_its_copies_are_replaced_by_one_actor()
    {
        // Down for 10 s: still counted, nothing to do.
        Assert.Null(StoragePlan.Decide(Chunk("n1", "n2", "n3"), Nodes(("n1", NodeStatus.Ready, 0), ("n2", NodeStatus.Ready, 0), ("n3", NodeStatus.Down, 10), ("n4", NodeStatus.Ready, 0)), 3, RepairAfter, Now));
        // Suspect: the same.
        Assert.Null(StoragePlan.Decide(Chunk("n1", "n2", "n3"), Nodes(("n1", NodeStatus.Ready, 0), ("n2", NodeStatus.Ready, 0), ("n3", NodeStatus.Suspect, 100), ("n4", NodeStatus.Ready, 0)), 3, RepairAfter, Now));

        // Down for 31 s: lost; the one storage node without a copy gets one, from a live holder, and does the copying.
        var action = StoragePlan.Decide(Chunk("n1", "n2", "n3"), Nodes(("n1", NodeStatus.Ready, 0), ("n2", NodeStatus.Ready, 0), ("n3", NodeStatus.Down, 31), ("n4", NodeStatus.Ready, 0)), 3, RepairAfter, Now);
        Assert.NotNull(action);
        Assert.Equal(["n4"], action.Targets);
        Assert.Equal(["n3"], action.Drop);
        Assert.Equal("n4", action.Actor);
        Assert.Equal(["n1", "n2"], action.Sources.Order());
        Assert.Equal(["n1", "n2", "n4"], action.Nodes.Order());
        Assert.False(action.Unrecoverable);

        // A node record that is gone altogether counts as lost at once.
        var gone = StoragePlan.Decide(Chunk("n1", "n2", "ghost"), Nodes(("n1", NodeStatus.Ready, 0), ("n2", NodeStatus.Ready, 0), ("n4", NodeStatus.Ready, 0)), 3, RepairAfter, Now);
        Assert.Equal(["ghost"], gone!.Drop);
        Assert.Equal(["n4"], gone.Targets);
    }

    [Fact]
    public void With_no_room_anywhere_lost_copies_are_still_dropped_and_with_no_source_nothing_is_copied()
    {
        var nowhere = StoragePlan.Decide(Chunk("n1", "n2", "n3"), Nodes(("n1", NodeStatus.Ready, 0), ("n2", NodeStatus.Ready, 0), ("n3", NodeStatus.Down, 60)), 3, RepairAfter, Now);
        Assert.Empty(nowhere!.Targets);
        Assert.Equal(["n3"], nowhere.Drop);
        Assert.Equal(["n1", "n2"], nowhere.Nodes.Order());

        var sourceless = StoragePlan.Decide(Chunk("n3"), Nodes(("n1", NodeStatus.Ready, 0), ("n3", NodeStatus.Down, 60)), 2, RepairAfter, Now);
        Assert.True(sourceless!.Unrecoverable);
    }

    [Fact]
    public void A_holder_that_comes_back_after_it_was_replaced_is_trimmed_once_settled_never_while_one_is_away()
    {
        var settled = StoragePlan.Decide(Chunk("n1", "n2", "n3", "n4"), Nodes(("n1", NodeStatus.Ready, 0), ("n2", NodeStatus.Ready, 0), ("n3", NodeStatus.Ready, 0), ("n4", NodeStatus.Ready, 0)), 3, RepairAfter, Now);
        Assert.Single(settled!.Drop);
        Assert.Equal(3, settled.Nodes.Count);
        Assert.Empty(settled.Targets);

        Assert.Null(StoragePlan.Decide(Chunk("n1", "n2", "n3", "n4"), Nodes(("n1", NodeStatus.Ready, 0), ("n2", NodeStatus.Ready, 0), ("n3", NodeStatus.Ready, 0), ("n4", NodeStatus.Suspect, 0)), 3, RepairAfter, Now));
    }

    [Fact]
    public void A_claim_holds_until_it_expires_and_never_against_its_own_holder()
    {
        var claimed = Chunk("n1") with { RepairBy = "n2", RepairUntil = Now.AddMinutes(1) };
        Assert.True(StoragePlan.ClaimedByOther(claimed, "n1", Now));
        Assert.False(StoragePlan.ClaimedByOther(claimed, "n2", Now));
        Assert.False(StoragePlan.ClaimedByOther(claimed, "n1", Now.AddMinutes(2)));
    }

    [Fact]
    public void Collection_keeps_listed_copies_young_copies_and_blobs_an_object_names()
    {
        var hexA = new string('a', 64);
        var hexB = new string('b', 64);
        var hexC = new string('c', 64);
        var records = new Dictionary<string, ChunkDto>(StringComparer.Ordinal)
        {
            [hexA] = new(hexA, 1, ["me"]),
            [hexB] = new(hexB, 1, ["other"]),
        };
        var local = new[] { (hexA, Now.AddHours(-1)), (hexB, Now.AddHours(-1)), (hexC, Now.AddMinutes(-1)) };
        Assert.Equal([hexB], StoragePlan.Collectable(local, records, "me", Now, TimeSpan.FromMinutes(10)));
        Assert.Equal([hexB, hexC], StoragePlan.Collectable(local, records, "me", Now, TimeSpan.Zero));

        var named = new BlobDto("sha256:" + hexA, 1, 4 << 20, [hexA, hexB], Now.AddDays(-1));
        var orphan = new BlobDto("sha256:" + hexB, 1, 4 << 20, [hexB, hexC], Now.AddDays(-1));
        var young = new BlobDto("sha256:" + hexC, 1, 4 << 20, [hexC], Now);
        var (dead, chunks) = StoragePlan.Unreferenced([new StorageObjectDto("x", named.Digest, 1, Now)], [named, orphan, young], Now, TimeSpan.FromHours(1));
        Assert.Equal([orphan], dead);
        Assert.Empty(chunks); // hexB is named's, hexC the young blob's
    }

    [Fact]
    public void An_unreferenced_blob_or_chunk_is_collected_only_after_its_grace_and_the_wall_clock_tolerance()
    {
        // Created is the writer's clock: a collector whose clock is up to 30 s ahead must not take a blob still in its grace.
        var hex = new string('d', 64);
        var grace = TimeSpan.FromHours(1);
        var within = new BlobDto("sha256:" + hex, 1, 1, [hex], Now - grace - TimeSpan.FromSeconds(20));
        Assert.Empty(StoragePlan.Unreferenced([], [within], Now, grace).Blobs);
        var past = within with { Created = Now - grace - ZeroCloud.Model.WallClock.Tolerance - TimeSpan.FromSeconds(1) };
        Assert.Equal([past], StoragePlan.Unreferenced([], [past], Now, grace).Blobs);

        var empty = new Dictionary<string, ChunkDto>(StringComparer.Ordinal);
        Assert.Empty(StoragePlan.Collectable([(hex, Now - grace - TimeSpan.FromSeconds(20))], empty, "me", Now, grace));
        Assert.Equal([hex], StoragePlan.Collectable([(hex, Now - grace - TimeSpan.FromSeconds(31))], empty, "me", Now, grace));
    }

    [Fact]
    public void The_copies_wanted_default_to_three_or_every_storage_node_when_fewer()
    {
        var spec = ZeroCloud.Model.Config.StorageSpec.Default;
        Assert.Equal(3, spec.ReplicasFor(5));
        Assert.Equal(2, spec.ReplicasFor(2));
        Assert.Equal(1, spec.ReplicasFor(0));
        Assert.Equal(5, (spec with { Replicas = 5 }).ReplicasFor(8));
    }

    [Fact]
    public async Task A_chunk_is_written_whole_and_a_flipped_byte_is_never_read_back()
    {
        var folder = Directory.CreateTempSubdirectory("zc-chunks-").FullName;
        try
        {
            var store = new ChunkStore(folder);
            var data = RandomNumberGenerator.GetBytes(100_000);
            var hex = ChunkStore.Hex(data);
            Assert.False(await store.WriteAsync(new string('0', 64), data, CancellationToken.None)); // not its name
            Assert.False(store.Has(new string('0', 64)));
            Assert.True(await store.WriteAsync(hex, data, CancellationToken.None));
            Assert.Empty(Directory.GetFiles(Path.Combine(folder, "incoming")));
            var buffer = ChunkStore.RentBuffer();
            try
            {
                Assert.Equal(ChunkReadOutcome.Ok, store.Read(hex, buffer, out var length));
                Assert.Equal(data, buffer[..length]);

                var path = store.PathOf(hex);
                var bytes = await File.ReadAllBytesAsync(path);
                bytes[54_321] ^= 0x01;
                await File.WriteAllBytesAsync(path, bytes);
                Assert.Equal(ChunkReadOutcome.Corrupt, store.Read(hex, buffer, out length));
                Assert.Equal(0, length);
                Assert.False(store.Has(hex)); // moved aside, kept for the operator
                Assert.Single(Directory.GetFiles(Path.Combine(folder, "corrupt")));
                Assert.Equal(1, store.CorruptFound);
                Assert.Equal(ChunkReadOutcome.Missing, store.Read(hex, buffer, out _));
            }
            finally
            {
                ChunkStore.Return(buffer);
            }
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }
}
