namespace ZeroCloud.Netboot.Dhcp;

/// <summary>
/// The addresses whose lease commit is in flight, so that a cached ACK (<see cref="DhcpDecision.Cached"/>) never gives
/// out a lease before it is durable: such an ACK is dropped, and the commit's own ACK answers the client. Not thread-safe:
/// the server uses it under its engine lock.
/// </summary>
public sealed class CommitGate
{
    private readonly Dictionary<uint, int> _committing = [];

    /// <summary>
    /// What to do with <paramref name="decision"/>: a cached ACK of an address being committed becomes a drop
    /// (<see cref="DropReason.Busy"/>); a decision with a commit marks its address as being committed until <see cref="End"/>.
    /// </summary>
    public DhcpDecision Pass(DhcpDecision decision)
    {
        if (decision.Cached is { } cached && _committing.ContainsKey(cached.Address))
        {
            return DhcpDecision.Drop(DropReason.Busy, mac: decision.Mac);
        }

        if (decision.Commit is { } lease)
        {
            _committing[lease.Address] = _committing.GetValueOrDefault(lease.Address) + 1;
        }

        return decision;
    }

    /// <summary>A commit of <paramref name="address"/> that <see cref="Pass"/> let through ended (durable, failed or never started).</summary>
    public void End(uint address)
    {
        if (_committing.TryGetValue(address, out var n))
        {
            if (n <= 1)
            {
                _committing.Remove(address);
            }
            else
            {
                _committing[address] = n - 1;
            }
        }
    }

    /// <summary>Commits in flight.</summary>
    public int Count => _committing.Values.Sum();
}
