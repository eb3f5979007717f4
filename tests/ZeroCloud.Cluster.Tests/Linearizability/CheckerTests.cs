namespace ZeroCloud.Cluster.Tests.Linearizability;

/// <summary>The checker itself, on histories whose answer is known.</summary>
public class CheckerTests
{
    private static Op Put(int c, long call, long ret, string v, bool unknown = false) => new(c, "k", OpKind.Put, call, ret, Value: v, Unknown: unknown);

    private static Op Get(int c, long call, long ret, string? read) => new(c, "k", OpKind.Get, call, ret, Read: read);

    private static Op Cas(int c, long call, long ret, string? expected, string v, bool ok, bool unknown = false) => new(c, "k", OpKind.Cas, call, ret, Value: v, Expected: expected, Succeeded: ok, Unknown: unknown);

    [Fact]
    public void A_sequential_history_that_follows_the_register_is_linearizable()
    {
        Assert.Equal(Verdict.Linearizable, Checker.Check([Get(1, 0, 1, null), Put(1, 2, 3, "a"), Get(2, 4, 5, "a"), Cas(1, 6, 7, "a", "b", true), Cas(2, 8, 9, "a", "c", false), Get(1, 10, 11, "b")]).Verdict);
    }

    [Fact]
    public void A_read_of_an_older_value_after_a_write_was_acknowledged_is_not()
    {
        var result = Checker.Check([Put(1, 0, 1, "a"), Put(1, 2, 3, "b"), Get(2, 4, 5, "a")]);

        Assert.Equal(Verdict.NotLinearizable, result.Verdict);
        Assert.Equal("k", result.Key);
    }

    [Fact]
    public void A_read_overlapping_a_write_may_see_either_value_but_not_one_never_written()
    {
        Assert.Equal(Verdict.Linearizable, Checker.Check([Put(1, 0, 1, "a"), Put(1, 2, 10, "b"), Get(2, 3, 4, "a"), Get(3, 5, 6, "b")]).Verdict);
        Assert.Equal(Verdict.NotLinearizable, Checker.Check([Put(1, 0, 1, "a"), Put(1, 2, 10, "b"), Get(2, 3, 4, "b"), Get(3, 5, 6, "a")]).Verdict);
        Assert.Equal(Verdict.NotLinearizable, Checker.Check([Put(1, 0, 10, "a"), Get(2, 3, 4, "z")]).Verdict);
    }

    [Fact]
    public void A_write_with_an_unknown_outcome_may_have_happened_or_not()
    {
        Assert.Equal(Verdict.Linearizable, Checker.Check([Put(1, 0, 1, "a"), Put(2, 2, 3, "b", unknown: true), Get(3, 10, 11, "b")]).Verdict);
        Assert.Equal(Verdict.Linearizable, Checker.Check([Put(1, 0, 1, "a"), Put(2, 2, 3, "b", unknown: true), Get(3, 10, 11, "a")]).Verdict);

        // But not before its call, and once seen it cannot be unseen.
        Assert.Equal(Verdict.NotLinearizable, Checker.Check([Put(1, 0, 1, "a"), Get(3, 2, 3, "b"), Put(2, 5, 6, "b", unknown: true)]).Verdict);
        Assert.Equal(Verdict.NotLinearizable, Checker.Check([Put(1, 0, 1, "a"), Put(2, 2, 3, "b", unknown: true), Get(3, 10, 11, "b"), Get(3, 12, 13, "a")]).Verdict);
    }

    [Fact]
    public void Two_compare_and_swaps_from_the_same_value_cannot_both_succeed()
    {
        Assert.Equal(Verdict.NotLinearizable, Checker.Check([Put(1, 0, 1, "a"), Cas(1, 2, 5, "a", "b", true), Cas(2, 3, 6, "a", "c", true)]).Verdict);
        Assert.Equal(Verdict.Linearizable, Checker.Check([Put(1, 0, 1, "a"), Cas(1, 2, 5, "a", "b", true), Cas(2, 3, 6, "a", "c", false)]).Verdict);
        Assert.Equal(Verdict.Linearizable, Checker.Check([Cas(1, 0, 1, null, "x", true), Get(2, 2, 3, "x")]).Verdict);
    }

    [Fact]
    public void Keys_are_checked_apart_and_the_failing_key_is_named()
    {
        var result = Checker.Check([Put(1, 0, 1, "a") with { Key = "/x" }, Get(2, 2, 3, "a") with { Key = "/y" }]);

        Assert.Equal(Verdict.NotLinearizable, result.Verdict);
        Assert.Equal("/y", result.Key);
    }

    [Fact]
    public void A_search_past_its_budget_is_inconclusive_never_linearizable()
    {
        // Many overlapping writes of distinct values and a read at the end: a wide search.
        var ops = Enumerable.Range(0, 12).Select(i => Put(i, 0, 100, $"v{i}")).Append(Get(99, 200, 201, "v7")).ToList();

        Assert.Equal(Verdict.Inconclusive, Checker.Check(ops, budgetPerKey: 10).Verdict);
        Assert.Equal(Verdict.Linearizable, Checker.Check(ops).Verdict);
    }

    [Fact]
    public void Random_histories_of_a_real_register_with_overlap_are_linearizable_and_a_corrupted_read_is_caught()
    {
        var random = new Random(7);
        for (var round = 0; round < 200; round++)
        {
            // A register run one operation at a time, each stretched over time so neighbours overlap.
            string? value = null;
            var ops = new List<Op>();
            for (var i = 0; i < 30; i++)
            {
                var call = i * 10L - random.Next(0, 15);
                var ret = i * 10L + random.Next(1, 15);
                switch (random.Next(3))
                {
                    case 0:
                        ops.Add(Get(i, call, ret, value));
                        break;
                    case 1:
                        value = $"v{i}";
                        ops.Add(Put(i, call, ret, value));
                        break;
                    default:
                        var expected = random.Next(2) == 0 ? value : "nope";
                        var ok = expected == value;
                        if (ok)
                        {
                            value = $"v{i}";
                        }

                        ops.Add(Cas(i, call, ret, expected, $"v{i}", ok));
                        break;
                }
            }

            Assert.Equal(Verdict.Linearizable, Checker.Check(ops).Verdict);
            var corrupt = ops.FindLastIndex(o => o.Kind == OpKind.Get && o.Read is not null);
            if (corrupt >= 0)
            {
                ops[corrupt] = ops[corrupt] with { Read = "never-written" };
                Assert.Equal(Verdict.NotLinearizable, Checker.Check(ops).Verdict);
            }
        }
    }
}
