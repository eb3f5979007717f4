namespace ZeroCloud.Cluster.Tests.Linearizability;

/// <summary>What a client asked of one key.</summary>
public enum OpKind
{
    Get,
    Put,
    Cas,
}

/// <summary>
/// One operation of a history on one key, as a client saw it: called at <see cref="Call"/> and answered at
/// <see cref="Return"/> (monotonic ticks). <see cref="Value"/> is what a put writes or a cas writes when it
/// succeeds; <see cref="Expected"/> what a cas compares with (null: absent); <see cref="Read"/> what a get
/// returned (null: absent). <see cref="Unknown"/>: a write whose outcome the client could not learn; it may have
/// taken effect at any point after its call, or never.
/// </summary>
public sealed record Op(int Client, string Key, OpKind Kind, long Call, long Return, string? Value = null, string? Expected = null, string? Read = null, bool Succeeded = true, bool Unknown = false);

/// <summary>What the checker concluded.</summary>
public enum Verdict
{
    Linearizable,
    NotLinearizable,

    /// <summary>The search ran out of its budget: nothing is claimed either way.</summary>
    Inconclusive,
}

/// <summary>The verdict for a whole history, and for a key that is not linearizable, the operations of that key.</summary>
public sealed record CheckResult(Verdict Verdict, string? Key = null, IReadOnlyList<Op>? Witness = null, long Steps = 0);

/// <summary>
/// A linearizability checker for a key/value store with get, put and compare-and-swap, per key (linearizability
/// is compositional, so each key is checked alone: Herlihy and Wing's locality). The search is Wing and Gong's
/// with Lowe's memoization, as Porcupine does it: walk the history's call and return events in time order; at a
/// call, try to linearize that operation now (the register's model must allow its answer), remember the
/// (linearized set, state) pair so it is never explored twice, and go on; at a return whose call is not yet
/// linearized, undo the last choice. An operation with an unknown outcome returns at infinity: it may be placed
/// anywhere after its call, including after everything (where it changes nothing observed). A search that goes past
/// its budget says <see cref="Verdict.Inconclusive"/>, never "linearizable".
/// </summary>
public static class Checker
{
    public static CheckResult Check(IEnumerable<Op> history, long budgetPerKey = 5_000_000)
    {
        long steps = 0;
        var verdict = Verdict.Linearizable;
        foreach (var group in history.GroupBy(o => o.Key, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var ops = group.ToList();
            var (keyVerdict, keySteps) = CheckKey(ops, budgetPerKey);
            steps += keySteps;
            if (keyVerdict == Verdict.NotLinearizable)
            {
                return new CheckResult(Verdict.NotLinearizable, group.Key, ops, steps);
            }

            if (keyVerdict == Verdict.Inconclusive)
            {
                verdict = Verdict.Inconclusive;
            }
        }

        return new CheckResult(verdict, Steps: steps);
    }

    private sealed class Entry
    {
        public required int Op { get; init; }

        public required bool IsCall { get; init; }

        public required long Time { get; init; }

        public Entry? Match { get; set; }

        public Entry? Prev { get; set; }

        public Entry? Next { get; set; }
    }

    /// <summary>The register's step: whether <paramref name="op"/> may happen in <paramref name="state"/>, and the state after it.</summary>
    private static bool Step(Op op, string? state, out string? next)
    {
        next = state;
        switch (op.Kind)
        {
            case OpKind.Get:
                return op.Read == state;
            case OpKind.Put:
                next = op.Value;
                return true;
            case OpKind.Cas when op.Unknown:
                // It either found what it expected and wrote, or found something else and wrote nothing.
                if (state == op.Expected)
                {
                    next = op.Value;
                }

                return true;
            case OpKind.Cas:
                if (op.Succeeded)
                {
                    next = op.Value;
                    return state == op.Expected;
                }

                return state != op.Expected;
            default:
                return false;
        }
    }

    private static (Verdict, long) CheckKey(List<Op> ops, long budget)
    {
        // Events in time order; at the same instant calls come first (the operations overlap, the permissive reading).
        var events = new List<Entry>(ops.Count * 2);
        for (var i = 0; i < ops.Count; i++)
        {
            var call = new Entry { Op = i, IsCall = true, Time = ops[i].Call };
            var ret = new Entry { Op = i, IsCall = false, Time = ops[i].Unknown ? long.MaxValue : ops[i].Return };
            call.Match = ret;
            events.Add(call);
            events.Add(ret);
        }

        events.Sort((a, b) => a.Time != b.Time ? a.Time.CompareTo(b.Time) : a.IsCall == b.IsCall ? a.Op.CompareTo(b.Op) : a.IsCall ? -1 : 1);
        var head = new Entry { Op = -1, IsCall = false, Time = long.MinValue };
        var last = head;
        foreach (var e in events)
        {
            last.Next = e;
            e.Prev = last;
            last = e;
        }

        var linearized = new ulong[(ops.Count + 63) / 64];
        var seen = new HashSet<(string Set, string? State)>();
        var stack = new Stack<(Entry Call, string? State)>();
        string? state = null;
        var entry = head.Next;
        long steps = 0;
        while (head.Next is not null)
        {
            if (++steps > budget)
            {
                return (Verdict.Inconclusive, steps);
            }

            if (entry!.IsCall)
            {
                var op = ops[entry.Op];
                if (Step(op, state, out var next))
                {
                    linearized[entry.Op / 64] |= 1UL << (entry.Op % 64);
                    var key = (Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(linearized.AsSpan())), next);
                    if (seen.Add(key))
                    {
                        stack.Push((entry, state));
                        state = next;
                        Lift(entry);
                        entry = head.Next;
                        continue;
                    }

                    linearized[entry.Op / 64] &= ~(1UL << (entry.Op % 64));
                }

                entry = entry.Next;
            }
            else
            {
                // A return whose call cannot be placed before it: undo the last choice.
                if (stack.Count == 0)
                {
                    return (Verdict.NotLinearizable, steps);
                }

                var (call, before) = stack.Pop();
                state = before;
                linearized[call.Op / 64] &= ~(1UL << (call.Op % 64));
                Unlift(call);
                entry = call.Next;
            }
        }

        return (Verdict.Linearizable, steps);
    }

    private static void Lift(Entry call)
    {
        call.Prev!.Next = call.Next;
        call.Next!.Prev = call.Prev;
        var ret = call.Match!;
        ret.Prev!.Next = ret.Next;
        if (ret.Next is not null)
        {
            ret.Next.Prev = ret.Prev;
        }
    }

    private static void Unlift(Entry call)
    {
        var ret = call.Match!;
        ret.Prev!.Next = ret;
        if (ret.Next is not null)
        {
            ret.Next.Prev = ret;
        }

        call.Prev!.Next = call;
        call.Next!.Prev = call;
    }
}
