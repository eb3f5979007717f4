using System.Collections.Concurrent;

namespace ZeroCloud.Orleans.Grains;

/// <summary>
/// This silo's view of the nodes its grains watch (Ready or Suspect): when each last beat, on the monotonic clock.
/// When most of them are late at once, the likely cause is the control plane (overloaded, slow, cut off from the
/// nodes), not the nodes: their grains then hold every node's status instead of writing Suspect and Down, which would
/// add writes to an overloaded store and make the scheduler move everything (Kubernetes' node controller stops
/// evicting in an unhealthy zone for the same reason). A node is late after half of SuspectAfter without a beat;
/// mass silence is more than half of at least <see cref="MinimumWatched"/> watched nodes late.
/// </summary>
public sealed class SilenceMonitor(TimeProvider time)
{
    /// <summary>
    /// How long a join may wait for a turn on a member before it is answered 429. A node whose join timed out on its
    /// side while the member completed it retries, and sends no beat while that retry waits: a join storm holds
    /// statuses for this long, plus downAfter, after the last join queued.
    /// </summary>
    public static readonly TimeSpan JoinWait = TimeSpan.FromSeconds(20);

    /// <summary>Fewer watched nodes than this on a silo never count as mass silence (a small cluster loses nodes one by one).</summary>
    public const int MinimumWatched = 4;

    private readonly ConcurrentDictionary<string, long> _lastBeat = new(StringComparer.Ordinal);
    private long _checkedAt;
    private long _queuedAt;
    private long _askedAt;
    private long _toldAt;
    private (bool Mass, int Late, int Watched) _last;

    /// <summary>
    /// A join had to wait for a turn on this member now (every join slot busy: a join storm, a rack powered on at once).
    /// The beats of the nodes already joined then arrive late because the control plane is busy admitting the others.
    /// </summary>
    public void JoinQueued() => Volatile.Write(ref _queuedAt, time.GetTimestamp());

    /// <summary>Whether joins queued on this member, or on another one (<see cref="Queued(double?)"/>), within <paramref name="window"/>: late beats are the control plane's doing.</summary>
    public bool Admitting(TimeSpan window) => Volatile.Read(ref _queuedAt) is var at and not 0 && time.GetElapsedTime(at) < window;

    /// <summary>True at most once a second: time to ask the cluster (<see cref="IAdmissionGrain"/>) where joins last queued.</summary>
    public bool ShouldAsk() => Claim(ref _askedAt);

    /// <summary>True at most once a second: time to tell the cluster that joins queue here.</summary>
    public bool ShouldTell() => Claim(ref _toldAt);

    /// <summary>What the cluster said: joins queued on some member <paramref name="secondsAgo"/> seconds ago (null: never).</summary>
    public void Queued(double? secondsAgo)
    {
        if (secondsAgo is { } ago)
        {
            var at = time.GetTimestamp() - (long)(ago * time.TimestampFrequency);
            if (at > Volatile.Read(ref _queuedAt))
            {
                Volatile.Write(ref _queuedAt, at);
            }
        }
    }

    private bool Claim(ref long last)
    {
        var now = time.GetTimestamp();
        var before = Volatile.Read(ref last);
        return (before == 0 || time.GetElapsedTime(before, now) >= TimeSpan.FromSeconds(1)) && Interlocked.CompareExchange(ref last, now, before) == before;
    }

    /// <summary>A watched node beat now.</summary>
    public void Beat(string node) => _lastBeat[node] = time.GetTimestamp();

    /// <summary>The node is no longer watched here (Down, gone, its grain deactivated).</summary>
    public void Forget(string node) => _lastBeat.TryRemove(node, out _);

    /// <summary>Whether most watched nodes are late (<paramref name="suspectAfter"/> / 2 without a beat); counted at most every 100 ms.</summary>
    public (bool Mass, int Late, int Watched) Check(TimeSpan suspectAfter)
    {
        var now = time.GetTimestamp();
        if (_checkedAt != 0 && time.GetElapsedTime(_checkedAt, now) < TimeSpan.FromMilliseconds(100))
        {
            return _last;
        }

        var lateAfter = suspectAfter / 2;
        int watched = 0, late = 0;
        foreach (var (_, at) in _lastBeat)
        {
            watched++;
            if (time.GetElapsedTime(at, now) >= lateAfter)
            {
                late++;
            }
        }

        _last = (watched >= MinimumWatched && late * 2 > watched, late, watched);
        _checkedAt = now;
        return _last;
    }
}
