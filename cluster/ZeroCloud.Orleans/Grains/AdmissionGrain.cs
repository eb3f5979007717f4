namespace ZeroCloud.Orleans.Grains;

/// <summary>
/// Where joins queued last, cluster-wide: a member whose join slots are all busy says so (at most once a second), and
/// every silo asks (at most once a second) before it writes a node Suspect or Down. A node's grain may live on a
/// member where no join waits while the others admit a rack; the late beats are still the control plane's doing.
/// </summary>
public interface IAdmissionGrain : IGrainWithIntegerKey
{
    Task QueuedAsync();

    /// <summary>Seconds since joins last queued on any member (on this grain's monotonic clock); null: never.</summary>
    Task<double?> SinceQueuedAsync();
}

public sealed class AdmissionGrain(TimeProvider time) : Grain, IAdmissionGrain
{
    private long _at;

    public Task QueuedAsync()
    {
        _at = time.GetTimestamp();
        return Task.CompletedTask;
    }

    public Task<double?> SinceQueuedAsync() => Task.FromResult<double?>(_at == 0 ? null : time.GetElapsedTime(_at).TotalSeconds);
}
