namespace ZeroCloud.Orleans.Grains;

/// <summary>
/// Fencing: called by a node's grain when the node is about to be written Down (it stopped heartbeating for downAfter
/// and the silence is not general), before the scheduler replaces its voter and moves its work. A node that is Down
/// but may still run (its BMC says it is on) is power-cycled, so two copies of its work, or a voter that comes back
/// with an old view, never run side by side. Returns what was done, for the log; null when the node has nothing to
/// fence it with.
/// </summary>
public interface INodeFencer
{
    Task<string?> FenceAsync(string name, TimeSpan silent, CancellationToken ct);

    /// <summary>
    /// How long until <paramref name="name"/> may be fenced again (a power job switched it a moment ago: it is still
    /// booting), or null when nothing would come of asking again. A node still Down then is fenced again.
    /// </summary>
    TimeSpan? BootingFor(string name);

    /// <summary>How many times fencing power-cycled <paramref name="name"/> after <paramref name="since"/> (UTC).</summary>
    int FencedSince(string name, DateTime since);
}

/// <summary>No fencing (a silo without power control: tests, a member with no store of its own).</summary>
public sealed class NoFencing : INodeFencer
{
    public Task<string?> FenceAsync(string name, TimeSpan silent, CancellationToken ct) => Task.FromResult<string?>(null);

    public TimeSpan? BootingFor(string name) => null;

    public int FencedSince(string name, DateTime since) => 0;
}
