using System.Text;
using CsCheck;
using ZeroCloud.Cluster.Store;

namespace ZeroCloud.Cluster.Tests;

public class KvStoreTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public void Puts_bump_the_revision_and_keep_create_mod_and_version()
    {
        var store = new KvStore();
        Assert.Equal(1, store.Apply(KvTxn.Put("/a", B("1"))).Revision);
        Assert.Equal(2, store.Apply(KvTxn.Put("/b", B("2"))).Revision);
        Assert.Equal(3, store.Apply(KvTxn.Put("/a", B("3"))).Revision);
        Assert.Equal(new KeyValue("/a", B("3"), 1, 3, 2) with { Value = store.Get("/a")!.Value }, store.Get("/a"));
        Assert.Equal("3", Encoding.UTF8.GetString(store.Get("/a")!.Value));
        Assert.Equal((2L, 2L, 1L), (store.Get("/b")!.CreateRevision, store.Get("/b")!.ModRevision, store.Get("/b")!.Version));
    }

    [Fact]
    public void Deleting_nothing_does_not_bump_the_revision()
    {
        var store = new KvStore();
        store.Apply(KvTxn.Put("/a", B("1")));
        var result = store.Apply(KvTxn.Delete("/missing"));
        Assert.Equal(1, result.Revision);
        Assert.Empty(result.Events);
    }

    [Fact]
    public void Range_and_prefix_delete()
    {
        var store = new KvStore();
        foreach (var key in new[] { "/nodes/a", "/nodes/b", "/nodesx", "/services/a", "/n" })
        {
            store.Apply(KvTxn.Put(key, B(key)));
        }

        Assert.Equal(["/nodes/a", "/nodes/b"], store.Range("/nodes/").Select(k => k.Key));
        Assert.Equal(["/nodes/a"], store.Range("/nodes/", limit: 1).Select(k => k.Key));
        var result = store.Apply(KvTxn.Delete("/nodes/", prefix: true));
        Assert.Equal(2, result.Events.Count);
        Assert.All(result.Events, e => Assert.Equal(6, e.Revision)); // one revision for the whole transaction
        Assert.Equal(["/n", "/nodesx", "/services/a"], store.Range("/").Select(k => k.Key));
    }

    [Fact]
    public void Compare_and_swap_on_mod_revision()
    {
        var store = new KvStore();
        var rev = store.Apply(KvTxn.Put("/lease/10.77.0.100", B("mac-a"))).Revision;
        var swap = new KvTxn([new Compare("/lease/10.77.0.100", CompareTarget.ModRevision, CompareOp.Equal, rev)], [new PutOp("/lease/10.77.0.100", B("mac-b"))], []);
        Assert.True(store.Apply(swap).Succeeded);
        var stale = store.Apply(swap); // the same compare, now stale
        Assert.False(stale.Succeeded);
        Assert.Empty(stale.Events);
        Assert.Equal("mac-b", Encoding.UTF8.GetString(store.Get("/lease/10.77.0.100")!.Value));
    }

    [Fact]
    public void Create_only_if_absent_and_failure_branch()
    {
        var store = new KvStore();
        var create = new KvTxn([new Compare("/k", CompareTarget.Version, CompareOp.Equal, 0)], [new PutOp("/k", B("first"))], [new PutOp("/conflicts", B("1"))]);
        Assert.True(store.Apply(create).Succeeded);
        Assert.False(store.Apply(create).Succeeded);
        Assert.Equal("first", Encoding.UTF8.GetString(store.Get("/k")!.Value));
        Assert.NotNull(store.Get("/conflicts"));
        var byValue = new KvTxn([new Compare("/k", CompareTarget.Value, CompareOp.Equal, Value: B("first"))], [new DeleteOp("/k")], []);
        Assert.True(store.Apply(byValue).Succeeded);
        Assert.Null(store.Get("/k"));
    }

    [Fact]
    public void Watch_history_from_a_revision_and_after_compaction()
    {
        var store = new KvStore();
        for (var i = 1; i <= 5; i++)
        {
            store.Apply(KvTxn.Put($"/w/{i}", B($"{i}")));
        }

        store.Apply(KvTxn.Delete("/w/2"));
        Assert.Equal([3L, 4, 5, 6], store.History("/w/", 3).Select(e => e.Revision));
        var delete = store.History("/w/2", 1)[^1];
        Assert.Equal((EventType.Delete, "2"), (delete.Type, Encoding.UTF8.GetString(delete.Value)));
        store.Compact(4);
        Assert.Equal([5L, 6], store.History("/w/", 5).Select(e => e.Revision));
        var ex = Assert.Throws<CompactedException>(() => store.History("/w/", 3));
        Assert.Equal(4, ex.CompactedRevision);
        Assert.Contains("has been compacted", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "the key is empty")]
    [InlineData("/a\u0000b", "control character")]
    public void Bad_keys_are_refused_before_anything_is_applied(string key, string problem)
    {
        Assert.Contains(problem, KvStore.Validate(KvTxn.Put(key, [])), StringComparison.Ordinal);
    }

    [Fact]
    public void Oversized_values_and_bad_comparisons_are_refused()
    {
        Assert.Contains("at most 1048576", KvStore.Validate(KvTxn.Put("/big", new byte[(1 << 20) + 1])), StringComparison.Ordinal);
        Assert.Contains("needs a value", KvStore.Validate(new KvTxn([new Compare("/k", CompareTarget.Value, CompareOp.Equal)], [], [])), StringComparison.Ordinal);
        Assert.Contains("= or != only", KvStore.Validate(new KvTxn([new Compare("/k", CompareTarget.Value, CompareOp.Less, Value: [])], [], [])), StringComparison.Ordinal);
        Assert.Contains("unknown target", KvStore.Validate(new KvTxn([new Compare("/k", (CompareTarget)9, CompareOp.Equal)], [], [])), StringComparison.Ordinal);
        Assert.Contains("longer than 1024", KvStore.Validate(KvTxn.Put(new string('k', 1025), [])), StringComparison.Ordinal);
        Assert.Null(KvStore.Validate(KvTxn.Put("/ok", B("v"))));
    }

    private static readonly Gen<KvTxn> Txns =
        Gen.Int[0, 7].Select(i => $"/k/{i}").SelectMany(key =>
            Gen.OneOf(
                Gen.Byte.Array[0, 8].Select(v => KvTxn.Put(key, v)),
                Gen.Bool.Select(prefix => KvTxn.Delete(prefix ? "/k/" : key, prefix)),
                Gen.Long[0, 12].SelectMany(rev => Gen.Byte.Array[0, 4].Select(v =>
                    new KvTxn([new Compare(key, CompareTarget.ModRevision, CompareOp.Equal, rev)], [new PutOp(key, v)], [new DeleteOp(key)])))));

    [Fact]
    public void The_log_decoder_is_total_every_corruption_is_an_answer_never_an_exception()
    {
        // Random bytes, and every truncation and single-byte change of a real entry: TryDecode says what is wrong
        // (or decodes it), and nothing throws, so every member skips the same entry the same way.
        Gen.Byte.Array[0, 200].Sample(bytes => { _ = KvTxn.TryDecode(bytes, out _); });
        Txns.Sample(txn =>
        {
            var encoded = txn.Encode();
            Assert.NotNull(KvTxn.TryDecode(encoded, out var none));
            Assert.Null(none);
            for (var cut = 0; cut < encoded.Length; cut++)
            {
                Assert.Null(KvTxn.TryDecode(encoded.AsSpan(0, cut), out var problem));
                Assert.NotNull(problem);
            }

            for (var i = 0; i < encoded.Length; i++)
            {
                var changed = (byte[])encoded.Clone();
                changed[i] ^= 0xFF;
                _ = KvTxn.TryDecode(changed, out _);
            }

            Assert.Null(KvTxn.TryDecode([.. encoded, 0], out var trailing));
            Assert.Contains("follow", trailing, StringComparison.Ordinal);
        });

        // A length that claims more than there is must not allocate it.
        Assert.Null(KvTxn.TryDecode([1, 0, 1, 1, 1, (byte)'k', 0xFF, 0xFF, 0xFF, 0xFF, 0x07], out var huge));
        Assert.NotNull(huge);
    }

    [Fact]
    public void History_is_bounded_in_bytes_and_the_store_counts_its_bytes_for_the_quota()
    {
        var store = new KvStore { HistoryBytesLimit = 4 << 20 };
        var mib = new byte[1 << 20];
        for (var i = 0; i < 10; i++)
        {
            store.Apply(KvTxn.Put($"/big/{i}", mib));
            Assert.True(store.HistoryBytes <= 4 << 20, $"history holds {store.HistoryBytes} bytes after put {i}");
        }

        Assert.True(store.CompactedRevision > 0);
        Assert.Equal(10L * ((1 << 20) + "/big/0".Length + 32), store.Bytes);

        // Overwrites count the difference, deletes give bytes back, the quota check sees what a write would add.
        store.Apply(KvTxn.Put("/big/0", [1, 2, 3]));
        Assert.Equal((9L * ((1 << 20) + 6 + 32)) + 6 + 3 + 32, store.Bytes);
        Assert.Equal(store.Bytes + (1 << 20) + 6 + 32, store.BytesAfter(KvTxn.Put("/big/x", mib)));
        Assert.True(store.BytesAfter(KvTxn.Delete("/big/1")) <= store.Bytes);
        store.Apply(KvTxn.Delete("/big/", prefix: true));
        Assert.Equal(0, store.Bytes);

        // A snapshot brings the same counts back.
        store.Apply(KvTxn.Put("/a", [1]));
        var restored = KvStore.Restore(store.Snapshot());
        Assert.Equal(store.Bytes, restored.Bytes);
        Assert.Equal(store.HistoryBytes, restored.HistoryBytes);
    }

    [Fact]
    public void Same_transactions_give_the_same_state_and_encodings_round_trip()
    {
        Txns.Array[1, 40].Sample(txns =>
        {
            var a = new KvStore();
            var b = new KvStore();
            foreach (var txn in txns)
            {
                // What a follower applies is what the leader encoded into the log.
                Assert.Equal(a.Apply(txn).Revision, b.Apply(KvTxn.Decode(txn.Encode())).Revision);
            }

            Assert.Equal(a.Snapshot(), b.Snapshot());
            var restored = KvStore.Restore(a.Snapshot());
            Assert.Equal(a.Snapshot(), restored.Snapshot());
            Assert.Equal(a.Range("/").Select(k => (k.Key, k.ModRevision, k.Version)), restored.Range("/").Select(k => (k.Key, k.ModRevision, k.Version)));
            // The history replays to the same keys: every surviving key's last event is its current value.
            foreach (var kv in a.Range("/"))
            {
                Assert.Equal(kv.Value, a.History(kv.Key, 1).Last(e => e.Key == kv.Key).Value);
            }
        }, iter: 2000);
    }

    [Fact]
    public void History_past_its_limit_is_compacted_at_the_same_revision_everywhere_and_travels_with_snapshots()
    {
        var a = new KvStore { HistoryLimit = 10 };
        var b = new KvStore { HistoryLimit = 10 };
        for (var i = 1; i <= 25; i++)
        {
            var txn = KvTxn.Put($"/h/{i % 4}", B($"{i}"));
            a.Apply(txn);
            b.Apply(txn);
        }

        Assert.True(a.CompactedRevision > 0);
        Assert.Equal(a.CompactedRevision, b.CompactedRevision);
        Assert.Throws<CompactedException>(() => a.History("/h/", 1));
        var kept = a.History("/h/", a.CompactedRevision + 1);
        Assert.InRange(kept.Count, 5, 10);
        Assert.Equal(25, kept[^1].Revision);

        var restored = KvStore.Restore(a.Snapshot(), historyLimit: 10);
        Assert.Equal((a.Revision, a.CompactedRevision), (restored.Revision, restored.CompactedRevision));
        Assert.Equal(kept, restored.History("/h/", a.CompactedRevision + 1), new KvEventComparer());
        Assert.Equal(4, restored.Count);
    }

    [Fact]
    public void A_corrupt_snapshot_is_refused_with_its_format()
    {
        var bytes = new KvStore().Snapshot();
        bytes[0] = 9;
        var ex = Assert.Throws<InvalidDataException>(() => KvStore.Restore(bytes));
        Assert.Contains("format 9", ex.Message, StringComparison.Ordinal);
    }

    private sealed class KvEventComparer : IEqualityComparer<KvEvent>
    {
        public bool Equals(KvEvent? x, KvEvent? y) =>
            x is not null && y is not null && (x.Revision, x.Type, x.Key) == (y.Revision, y.Type, y.Key) && x.Value.AsSpan().SequenceEqual(y.Value);

        public int GetHashCode(KvEvent obj) => HashCode.Combine(obj.Revision, obj.Key);
    }
}
