using ZeroCloud.Model.Net;

namespace ZeroCloud.Netboot.Dhcp;

public enum LeaseState : byte
{
    /// <summary>The client holds the address until <see cref="Lease.Expires"/>.</summary>
    Bound = 1,

    /// <summary>The client gave the address back; it stays associated with the client for a later re-offer.</summary>
    Released = 2,

    /// <summary>A client reported the address in use (DHCPDECLINE): nobody gets it until <see cref="Lease.Expires"/>.</summary>
    Declined = 3,
}

/// <summary>One address's lease. <paramref name="ClientKey"/> is the client identifier (option 61) or the MAC.</summary>
public sealed record Lease(uint Address, MacAddress Mac, string ClientKey, DateTimeOffset Expires, LeaseState State, string? HostName = null)
{
    /// <summary>True while the address may not be given to another client.</summary>
    public bool HoldsAddress(DateTimeOffset now) => State is LeaseState.Bound or LeaseState.Declined && !ZeroCloud.Model.WallClock.Expired(Expires, now);
}

/// <summary>Where leases live. A commit completes only once the lease is durable; the server acknowledges nothing before that.</summary>
public interface ILeaseStore
{
    Task<IReadOnlyList<Lease>> LoadAsync(CancellationToken cancellationToken);

    Task CommitAsync(Lease lease, CancellationToken cancellationToken);
}

/// <summary>Leases in memory only: for tests and benchmarks that measure the protocol, not the disk.</summary>
public sealed class InMemoryLeaseStore : ILeaseStore
{
    private readonly Dictionary<uint, Lease> _leases = [];
    private readonly Lock _lock = new();

    public Task<IReadOnlyList<Lease>> LoadAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<Lease>>([.. _leases.Values]);
        }
    }

    public Task CommitAsync(Lease lease, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _leases[lease.Address] = lease;
        }

        return Task.CompletedTask;
    }
}

/// <summary>The address is leased to another client in the shared store (another DHCP replica leased it first).</summary>
public sealed class LeaseConflictException(Lease held)
    : Exception($"{ZeroCloud.Model.Net.Ipv4.FromUInt32(held.Address)} is leased to {held.ClientKey} until {held.Expires:u} (by another DHCP replica)")
{
    public Lease Held { get; } = held;
}

/// <summary>A store shared by several servers: it reports leases the others commit, so each server's pool stays current.</summary>
public interface ISharedLeaseStore : ILeaseStore
{
    /// <summary>Starts reporting leases committed elsewhere (after <see cref="ILeaseStore.LoadAsync"/>) until the token is cancelled.</summary>
    void Follow(Action<Lease> onLease, CancellationToken cancellationToken);

    /// <summary>The addresses kept for enrolled nodes (MAC → address); none unless the store keeps them.</summary>
    Task<IReadOnlyList<(MacAddress Mac, uint Address)>> ReservationsAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<(MacAddress Mac, uint Address)>>([]);
}
