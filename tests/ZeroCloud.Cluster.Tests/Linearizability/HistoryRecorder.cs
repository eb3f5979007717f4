using System.Diagnostics;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Cluster.Tests.Linearizability;

/// <summary>
/// Clients doing get, put and compare-and-swap on a few keys through random members, recording what each saw and
/// when (monotonic clock). A write that failed with a code that says nothing was written is left out; one whose
/// outcome the client could not learn is recorded as unknown; a failed read is left out (it changed nothing).
/// </summary>
public sealed class HistoryRecorder(IReadOnlyList<Func<ControlClient?>> members, int keys, int seed)
{
    private readonly List<Op> _ops = [];
    private long _writes;

    public IReadOnlyList<Op> Ops
    {
        get
        {
            lock (_ops)
            {
                return [.. _ops];
            }
        }
    }

    /// <summary>Counts by outcome, for the test's output.</summary>
    public (int Gets, int Puts, int Cas, int Unknown, int Dropped) Counts { get; private set; }

    private int _dropped;

    public async Task RunAsync(int clients, TimeSpan duration, CancellationToken ct)
    {
        var until = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(() => ClientAsync(c, until, duration, ct), ct))).ConfigureAwait(false);
        var ops = Ops;
        Counts = (ops.Count(o => o.Kind == OpKind.Get), ops.Count(o => o.Kind == OpKind.Put), ops.Count(o => o.Kind == OpKind.Cas), ops.Count(o => o.Unknown), _dropped);
    }

    private async Task ClientAsync(int id, Stopwatch clock, TimeSpan duration, CancellationToken ct)
    {
        var random = new Random(seed * 1000 + id);
        var lastSeen = new Dictionary<string, string?>(StringComparer.Ordinal);
        while (clock.Elapsed < duration && !ct.IsCancellationRequested)
        {
            var key = $"/lin/k{random.Next(keys)}";
            if (members[random.Next(members.Count)]() is not { } client)
            {
                await Task.Delay(20, ct).ConfigureAwait(false);
                continue;
            }

            var kind = (OpKind)random.Next(3);
            var value = $"c{id}-{Interlocked.Increment(ref _writes)}";
            var call = Stopwatch.GetTimestamp();
            try
            {
                switch (kind)
                {
                    case OpKind.Get:
                        var read = (await client.GetAsync(key, ct: ct).ConfigureAwait(false))?.Value;
                        Record(new Op(id, key, OpKind.Get, call, Stopwatch.GetTimestamp(), Read: read));
                        lastSeen[key] = read;
                        break;
                    case OpKind.Put:
                        await client.PutAsync(key, value, ct: ct).ConfigureAwait(false);
                        Record(new Op(id, key, OpKind.Put, call, Stopwatch.GetTimestamp(), Value: value));
                        lastSeen[key] = value;
                        break;
                    default:
                        var expected = lastSeen.GetValueOrDefault(key);
                        CompareDto compare = expected is null ? new(key, "version", "=", Number: 0) : new(key, "value", "=", Value: expected);
                        var result = await client.TxnAsync(new TxnRequest([compare], [new OpDto("put", key, value)], []), ct).ConfigureAwait(false);
                        Record(new Op(id, key, OpKind.Cas, call, Stopwatch.GetTimestamp(), Value: value, Expected: expected, Succeeded: result.Succeeded));
                        if (result.Succeeded)
                        {
                            lastSeen[key] = value;
                        }

                        break;
                }
            }
            catch (ControlApiException ex) when (kind != OpKind.Get && !ErrorCodes.IsSafeToRetry(ex.Code) && ex.Code != ErrorCodes.Unreachable && ex.Status is 0 or >= 500)
            {
                // The write may have happened: at any time after its call, or never.
                var expected = kind == OpKind.Cas ? lastSeen.GetValueOrDefault(key) : null;
                Record(new Op(id, key, kind, call, long.MaxValue, Value: value, Expected: expected, Unknown: true));
                lastSeen.Remove(key);
            }
            catch (ControlApiException)
            {
                // Nothing was written (or it was a read): it changed nothing.
                Interlocked.Increment(ref _dropped);
                await Task.Delay(10, ct).ConfigureAwait(false);
            }
        }
    }

    private void Record(Op op)
    {
        lock (_ops)
        {
            _ops.Add(op);
        }
    }
}
