namespace ZeroCloud.Model;

/// <summary>
/// Persisted absolute expiries (DHCP leases, tickets, join tokens, operator credentials; the grace of an unreferenced
/// blob, chunk or image version before it is collected) are written by one machine's
/// wall clock and read against another's, or against the same clock after it was stepped. They count as past only
/// <see cref="Tolerance"/> after their time, so a clock a little ahead never expires a credential or frees a leased
/// address early. Liveness never uses the wall clock (it runs on monotonic elapsed time).
/// </summary>
public static class WallClock
{
    /// <summary>How far two clocks (or one clock across a step) may disagree before an expiry takes effect.</summary>
    public static readonly TimeSpan Tolerance = TimeSpan.FromSeconds(30);

    /// <summary>True when <paramref name="expires"/> is more than <see cref="Tolerance"/> behind <paramref name="now"/>.</summary>
    public static bool Expired(DateTimeOffset expires, DateTimeOffset now) => now > expires + Tolerance;

    /// <summary>True when <paramref name="expires"/> is more than <see cref="Tolerance"/> behind <paramref name="now"/> (both UTC).</summary>
    public static bool Expired(DateTime expires, DateTime now) => now > expires + Tolerance;

    /// <summary>True when <paramref name="expires"/> (UTC) is more than <see cref="Tolerance"/> behind this machine's clock.</summary>
    public static bool Expired(DateTime expires) => Expired(new DateTimeOffset(DateTime.SpecifyKind(expires, DateTimeKind.Utc)), DateTimeOffset.UtcNow);
}
