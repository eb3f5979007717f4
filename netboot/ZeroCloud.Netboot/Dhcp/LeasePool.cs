using ZeroCloud.Model.Net;

namespace ZeroCloud.Netboot.Dhcp;

/// <summary>
/// The address state of one subnet in memory: leases (as last committed), short-lived offers, reservations
/// for known machines. Not thread-safe: the server's single receive loop owns it.
/// </summary>
public sealed class LeasePool
{
    private readonly Dictionary<uint, Lease> _byAddress = [];
    private readonly Dictionary<string, uint> _byClient = new(StringComparer.Ordinal);
    private readonly Dictionary<uint, (string ClientKey, DateTimeOffset Until)> _offers = [];
    private readonly Dictionary<MacAddress, uint> _reservedFor = [];
    private readonly Dictionary<uint, MacAddress> _reservedAddress = [];
    private readonly Dictionary<MacAddress, uint> _enrolledFor = [];
    private readonly Dictionary<uint, MacAddress> _enrolledAddress = [];
    private readonly Ipv4Range? _range;
    private readonly Ipv4Subnet _subnet;
    private readonly uint _server;
    private uint _cursor;

    public LeasePool(DhcpServerOptions options, IEnumerable<Lease> leases)
    {
        _range = options.Range;
        _subnet = options.Subnet;
        _server = options.ServerAddress;
        _cursor = _range?.StartValue ?? 0;
        foreach (var (mac, machine) in options.Known)
        {
            if (machine.Ip is { } ip)
            {
                _reservedFor[mac] = Ipv4.ToUInt32(ip);
                _reservedAddress[Ipv4.ToUInt32(ip)] = mac;
            }
        }

        foreach (var lease in leases)
        {
            Apply(lease);
        }
    }

    public int LeaseCount => _byAddress.Count;

    /// <summary>How many addresses are kept for enrolled nodes (<see cref="Enroll"/>).</summary>
    public int EnrolledCount => _enrolledFor.Count;

    /// <summary>
    /// Keeps <paramref name="address"/> for <paramref name="mac"/> from now on (a trusted node's address, reserved at
    /// its enrollment): no other machine is offered it, also after its lease expired, and that machine is offered it
    /// first. A static reservation (nodes.known[].ip) wins: false, and nothing changes, when either side has one.
    /// </summary>
    public bool Enroll(MacAddress mac, uint address)
    {
        if (_reservedFor.ContainsKey(mac) || _reservedAddress.ContainsKey(address)
            || (_enrolledAddress.TryGetValue(address, out var owner) && owner != mac))
        {
            return false;
        }

        if (_enrolledFor.TryGetValue(mac, out var before) && before != address)
        {
            _enrolledAddress.Remove(before);
        }

        _enrolledFor[mac] = address;
        _enrolledAddress[address] = mac;
        return true;
    }

    public Lease? GetLease(uint address) => _byAddress.GetValueOrDefault(address);

    public Lease? GetLeaseOf(string clientKey) =>
        _byClient.TryGetValue(clientKey, out var address) && _byAddress.TryGetValue(address, out var lease) && lease.ClientKey == clientKey ? lease : null;

    /// <summary>
    /// Undoes <paramref name="attempted"/>, whose commit failed (no ACK went out): the address's lease goes back to
    /// <paramref name="previous"/> (none: the address is free again), unless another change replaced it meanwhile.
    /// </summary>
    public void Revert(Lease attempted, Lease? previous)
    {
        if (!_byAddress.TryGetValue(attempted.Address, out var current) || !Equals(current, attempted))
        {
            return;
        }

        if (previous is not null)
        {
            Apply(previous);
            return;
        }

        _byAddress.Remove(attempted.Address);
        if (_byClient.TryGetValue(attempted.ClientKey, out var held) && held == attempted.Address)
        {
            _byClient.Remove(attempted.ClientKey);
        }
    }

    /// <summary>Records a lease change (after the server decided it; before or after it is durable); the lease it replaced.</summary>
    public Lease? Apply(Lease lease)
    {
        var replaced = _byAddress.GetValueOrDefault(lease.Address);
        if (_byAddress.TryGetValue(lease.Address, out var old) && old.ClientKey != lease.ClientKey &&
            _byClient.TryGetValue(old.ClientKey, out var oldAddress) && oldAddress == lease.Address)
        {
            _byClient.Remove(old.ClientKey);
        }

        _byAddress[lease.Address] = lease;
        if (lease.State != LeaseState.Declined)
        {
            _byClient[lease.ClientKey] = lease.Address;
        }
        else if (_byClient.TryGetValue(lease.ClientKey, out var held) && held == lease.Address)
        {
            _byClient.Remove(lease.ClientKey);
        }

        _offers.Remove(lease.Address);
        return replaced;
    }

    /// <summary>Forgets offers nobody took up.</summary>
    public void PurgeOffers(DateTimeOffset now)
    {
        foreach (var (address, offer) in _offers)
        {
            if (offer.Until <= now)
            {
                _offers.Remove(address);
            }
        }
    }

    public void Offer(uint address, string clientKey, DateTimeOffset until) => _offers[address] = (clientKey, until);

    public void WithdrawOffer(string clientKey)
    {
        foreach (var (address, offer) in _offers)
        {
            if (offer.ClientKey == clientKey)
            {
                _offers.Remove(address);
            }
        }
    }

    /// <summary>True when <paramref name="address"/> is offered to this client now, its lease is this client's (current or past), or it is reserved for <paramref name="mac"/>.</summary>
    public bool IsOfferedOrHeld(uint address, string clientKey, MacAddress mac, DateTimeOffset now) =>
        (_offers.TryGetValue(address, out var offer) && offer.ClientKey == clientKey && offer.Until > now)
        || (_byAddress.TryGetValue(address, out var lease) && lease.ClientKey == clientKey && lease.State != LeaseState.Declined)
        || (_reservedAddress.TryGetValue(address, out var owner) && owner == mac)
        || (_enrolledAddress.TryGetValue(address, out var enrolled) && enrolled == mac && NotHeldByOther(address, clientKey, now));

    /// <summary>True when <paramref name="address"/> may be leased to this client now.</summary>
    public bool CanLease(uint address, string clientKey, MacAddress mac, DateTimeOffset now)
    {
        if (_reservedAddress.TryGetValue(address, out var owner))
        {
            return owner == mac && NotHeldByOther(address, clientKey, now);
        }

        if (_reservedFor.TryGetValue(mac, out var mine) && mine != address)
        {
            return false; // a known machine with a reserved address gets that one only
        }

        if (_enrolledAddress.TryGetValue(address, out var enrolled) && enrolled != mac)
        {
            return false; // kept for the node that enrolled with it
        }

        if (_range is not { } range || !range.Contains(address) || address == _server || !_subnet.IsHostAddress(address))
        {
            return false;
        }

        return NotHeldByOther(address, clientKey, now);
    }

    private bool NotHeldByOther(uint address, string clientKey, DateTimeOffset now)
    {
        if (_byAddress.TryGetValue(address, out var lease) && lease.HoldsAddress(now) && (lease.ClientKey != clientKey || lease.State == LeaseState.Declined))
        {
            return false;
        }

        return !(_offers.TryGetValue(address, out var offer) && offer.ClientKey != clientKey && offer.Until > now);
    }

    /// <summary>
    /// Picks the address to offer: the machine's reservation, else its current or last address, else the one it
    /// asks for, else the next free one (addresses never leased first, then expired and released ones).
    /// </summary>
    public uint? Choose(string clientKey, MacAddress mac, uint? requested, DateTimeOffset now)
    {
        if (_reservedFor.TryGetValue(mac, out var reserved))
        {
            return CanLease(reserved, clientKey, mac, now) ? reserved : null;
        }

        // Its address from its enrollment when it is free; else (a lease on it from before the reservation still runs)
        // the usual choice, so that the machine still boots.
        if (_enrolledFor.TryGetValue(mac, out var kept) && CanLease(kept, clientKey, mac, now))
        {
            return kept;
        }

        if (_byClient.TryGetValue(clientKey, out var previous) && CanLease(previous, clientKey, mac, now))
        {
            return previous;
        }

        if (requested is { } wanted && CanLease(wanted, clientKey, mac, now))
        {
            return wanted;
        }

        if (_range is not { } range)
        {
            return null;
        }

        // Round-robin from the cursor: first pass takes only never-used addresses, second anything free.
        var count = (ulong)range.Count;
        for (var pass = 0; pass < 2; pass++)
        {
            for (ulong i = 0; i < count; i++)
            {
                var candidate = range.StartValue + (uint)(((ulong)(_cursor - range.StartValue) + i) % count);
                if (pass == 0 && _byAddress.ContainsKey(candidate))
                {
                    continue;
                }

                if (CanLease(candidate, clientKey, mac, now))
                {
                    _cursor = candidate == range.EndValue ? range.StartValue : candidate + 1;
                    return candidate;
                }
            }
        }

        return null;
    }
}
