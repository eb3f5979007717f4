using System.Buffers.Binary;
using ZeroCloud.Model.Config;
using ZeroCloud.Model.Net;

namespace ZeroCloud.Netboot.Dhcp;

/// <summary>Where a reply goes (RFC 2131 §4.1).</summary>
public enum ReplyRoute
{
    /// <summary>No reply.</summary>
    None,

    /// <summary>To 255.255.255.255:68 on the interface.</summary>
    Broadcast,

    /// <summary>To <see cref="DhcpDecision.Address"/>:<see cref="DhcpDecision.Port"/>, an address the host can already reach (relay, renewing client).</summary>
    Unicast,

    /// <summary>To yiaddr at the client's MAC, which has no ARP entry yet: the server adds one, or broadcasts when it cannot.</summary>
    UnicastToHardware,
}

/// <summary>Why a request got no reply; counted by the server.</summary>
public enum DropReason
{
    None,
    NotARequest,
    NoMessageType,
    NotEthernet,
    UnknownMachine,
    NotForUs,
    PoolExhausted,
    NotBooting,
    ModeOff,
    Unsupported,

    /// <summary>Too many lease commits are in flight; the client's retry gets an answer.</summary>
    Busy,
}

/// <summary>What the engine decided for one request.</summary>
public readonly record struct DhcpDecision(int Length, ReplyRoute Route, uint Address, int Port, Lease? Commit, DropReason Dropped, DhcpMessageType ReplyType, MacAddress? Mac)
{
    public static DhcpDecision Drop(DropReason reason, Lease? commit = null, MacAddress? mac = null) => new(0, ReplyRoute.None, 0, 0, commit, reason, DhcpMessageType.None, mac);

    /// <summary>The lease <see cref="Commit"/> replaced in the pool (null: the address was free): put back when the commit fails.</summary>
    public Lease? Previous { get; init; }

    /// <summary>
    /// An ACK of a lease the client already holds, young enough to be given again as it is (no commit; see
    /// <see cref="DhcpServerOptions.CacheThreshold"/>): send it only if that lease is durable, i.e. no commit of it is in flight.
    /// </summary>
    public Lease? Cached { get; init; }
}

/// <summary>
/// The DHCP decisions, free of sockets and clocks: a request and the time in, a reply written to a buffer, where
/// to send it, and the lease to make durable before sending it out. Full mode hands out addresses; proxy mode
/// answers PXE clients only and never sets yiaddr.
/// </summary>
public sealed class DhcpEngine
{
    private readonly DhcpServerOptions _options;

    public DhcpEngine(DhcpServerOptions options, IEnumerable<Lease> leases)
    {
        _options = options;
        Pool = new LeasePool(options, leases);
    }

    public LeasePool Pool { get; }

    public DhcpServerOptions Options => _options;

    /// <summary>Decides the answer to <paramref name="request"/>, received on the server port (67) or the PXE boot server port (4011).</summary>
    public DhcpDecision Handle(DhcpPacket request, int localPort, DateTimeOffset now, Span<byte> reply)
    {
        if (request.Op != DhcpPacket.BootRequest)
        {
            return DhcpDecision.Drop(DropReason.NotARequest);
        }

        var type = request.MessageType;
        if (type == DhcpMessageType.None)
        {
            return DhcpDecision.Drop(DropReason.NoMessageType);
        }

        if (request.Mac is not { } mac)
        {
            return DhcpDecision.Drop(DropReason.NotEthernet);
        }

        if (_options.Mode == DhcpMode.Off)
        {
            return DhcpDecision.Drop(DropReason.ModeOff);
        }

        if (_options.Enroll == EnrollMode.Known && !_options.Known.ContainsKey(mac))
        {
            return DhcpDecision.Drop(DropReason.UnknownMachine, mac: mac);
        }

        var boot = BootAnswer.For(BootClient.Classify(request), mac, _options.Boot);
        if (_options.Mode == DhcpMode.Proxy || localPort == DhcpPorts.PxeBootServer)
        {
            return HandleProxy(request, type, mac, boot, localPort, reply);
        }

        var clientKey = ClientKey(request, mac);
        var requested = request.Options.GetAddress(DhcpOption.RequestedIpAddress);
        var serverId = request.Options.GetAddress(DhcpOption.ServerIdentifier);
        switch (type)
        {
            case DhcpMessageType.Discover:
                {
                    if (Pool.Choose(clientKey, mac, requested, now) is not { } address)
                    {
                        return DhcpDecision.Drop(DropReason.PoolExhausted, mac: mac);
                    }

                    Pool.Offer(address, clientKey, now + _options.OfferHold);
                    return Reply(request, DhcpMessageType.Offer, address, boot, mac, lease: null, reply);
                }

            case DhcpMessageType.Request:
                {
                    if (serverId is { } id && id != _options.ServerAddress)
                    {
                        Pool.WithdrawOffer(clientKey); // the client took another server's offer
                        return DhcpDecision.Drop(DropReason.NotForUs);
                    }

                    var address = serverId is not null || requested is not null ? requested ?? request.ClientAddress : request.ClientAddress;
                    if (address == 0)
                    {
                        return DhcpDecision.Drop(DropReason.Unsupported);
                    }

                    if (!Pool.CanLease(address, clientKey, mac, now))
                    {
                        return Nak(request, mac, _options.Subnet.Contains(address) ? "address not available" : "wrong network", reply);
                    }

                    // RFC 2131 §4.3.2: an address is ACKed only to a client it was offered to (SELECTING), that holds
                    // or held it (INIT-REBOOT, RENEWING, REBINDING) or for whose MAC it is reserved. Anything else is a
                    // client asking for an address it was never given: NAK it (this server is authoritative for the
                    // subnet in full mode), with no lease record, no fsync and no Raft write.
                    if (!Pool.IsOfferedOrHeld(address, clientKey, mac, now))
                    {
                        return Nak(request, mac, "no offer or lease of this address for this client", reply);
                    }

                    var hostName = HostName(request, mac);
                    if (Pool.GetLease(address) is { State: LeaseState.Bound } held && held.ClientKey == clientKey && held.Mac == mac && held.HostName == hostName
                        && held.Expires - now is var left && left > TimeSpan.Zero && _options.LeaseTime - left < _options.LeaseTime * _options.CacheThreshold)
                    {
                        // Lease caching (ISC dhcpd's dhcp-cache-threshold, Kea's cache-threshold): a client that asks
                        // again for the lease it was given moments ago (a PXE ROM, then iPXE, then the OS, in one boot)
                        // gets it as it stands, with its remaining time, and no store write.
                        return Reply(request, DhcpMessageType.Ack, address, boot, mac, lease: null, reply, left: left) with { Cached = held };
                    }

                    var lease = new Lease(address, mac, clientKey, now + _options.LeaseTime, LeaseState.Bound, hostName);
                    var previous = Pool.Apply(lease);
                    return Reply(request, DhcpMessageType.Ack, address, boot, mac, lease, reply) with { Previous = previous };
                }

            case DhcpMessageType.Decline:
                {
                    if (serverId != _options.ServerAddress || requested is not { } declined || Pool.GetLease(declined) is not { } held || held.ClientKey != clientKey)
                    {
                        return DhcpDecision.Drop(DropReason.NotForUs, mac: mac);
                    }

                    var quarantined = held with { State = LeaseState.Declined, Expires = now + _options.DeclineQuarantine };
                    Pool.Apply(quarantined);
                    return DhcpDecision.Drop(DropReason.None, quarantined, mac) with { Previous = held };
                }

            case DhcpMessageType.Release:
                {
                    if (Pool.GetLease(request.ClientAddress) is not { State: LeaseState.Bound } bound || bound.ClientKey != clientKey)
                    {
                        return DhcpDecision.Drop(DropReason.NotForUs, mac: mac);
                    }

                    var released = bound with { State = LeaseState.Released, Expires = now };
                    Pool.Apply(released);
                    return DhcpDecision.Drop(DropReason.None, released, mac) with { Previous = bound };
                }

            case DhcpMessageType.Inform:
                return Reply(request, DhcpMessageType.Ack, 0, boot, mac, lease: null, reply, inform: true);

            default:
                return DhcpDecision.Drop(DropReason.Unsupported, mac: mac);
        }
    }

    private DhcpDecision HandleProxy(DhcpPacket request, DhcpMessageType type, MacAddress mac, BootAnswer? boot, int localPort, Span<byte> reply)
    {
        // proxyDHCP (PXE spec §2.2.5): answer only PXE clients, with boot information and no address.
        if (boot is null)
        {
            return DhcpDecision.Drop(DropReason.NotBooting, mac: mac);
        }

        return (type, localPort) switch
        {
            (DhcpMessageType.Discover, DhcpPorts.Server) => Reply(request, DhcpMessageType.Offer, 0, boot, mac, null, reply),
            (DhcpMessageType.Request or DhcpMessageType.Inform, DhcpPorts.PxeBootServer) => Reply(request, DhcpMessageType.Ack, 0, boot, mac, null, reply, toSender: true),
            _ => DhcpDecision.Drop(DropReason.NotForUs, mac: mac),
        };
    }

    private static string ClientKey(DhcpPacket request, MacAddress mac) =>
        request.Options.TryGet(DhcpOption.ClientIdentifier, out var id) && id.Length > 0 ? "id:" + Convert.ToHexStringLower(id) : "mac:" + mac.ToCompactString();

    private string? HostName(DhcpPacket request, MacAddress mac) =>
        _options.Known.TryGetValue(mac, out var known) ? known.Name : request.Options.GetString(DhcpOption.HostName);

    private DhcpDecision Nak(DhcpPacket request, MacAddress mac, string message, Span<byte> buffer)
    {
        var w = new DhcpWriter(buffer);
        w.WriteHeader(DhcpPacket.BootReply, request.HardwareType, request.HardwareAddressLength, 0, request.TransactionId, 0,
            request.RelayAddress != 0 ? (ushort)(request.Flags | DhcpPacket.BroadcastFlag) : request.Flags, 0, 0, 0, request.RelayAddress, request.ClientHardwareAddress, null, null);
        w.AddOption(DhcpOption.MessageType, (byte)DhcpMessageType.Nak);
        w.AddOption(DhcpOption.ServerIdentifier, _options.ServerAddress);
        w.AddOption(DhcpOption.Message, message);
        EchoClientIdAndRelay(request, ref w);
        var length = w.Finish();
        return request.RelayAddress != 0
            ? new DhcpDecision(length, ReplyRoute.Unicast, request.RelayAddress, DhcpPorts.Server, null, DropReason.None, DhcpMessageType.Nak, mac)
            : new DhcpDecision(length, ReplyRoute.Broadcast, 0, DhcpPorts.Client, null, DropReason.None, DhcpMessageType.Nak, mac);
    }

    private DhcpDecision Reply(DhcpPacket request, DhcpMessageType type, uint yiaddr, BootAnswer? boot, MacAddress mac, Lease? lease, Span<byte> buffer, bool inform = false, bool toSender = false, TimeSpan? left = null)
    {
        var w = new DhcpWriter(buffer[..Math.Min(buffer.Length, MaxReplyLength(request))]);
        var ciaddr = inform || toSender || type == DhcpMessageType.Ack && request.ClientAddress != 0 ? request.ClientAddress : 0;
        w.WriteHeader(DhcpPacket.BootReply, request.HardwareType, request.HardwareAddressLength, 0, request.TransactionId, 0, request.Flags,
            ciaddr, yiaddr, boot?.NextServer ?? 0, request.RelayAddress, request.ClientHardwareAddress, null, boot?.File);
        w.AddOption(DhcpOption.MessageType, (byte)type);
        w.AddOption(DhcpOption.ServerIdentifier, _options.ServerAddress);
        if (yiaddr != 0)
        {
            var seconds = (uint)Math.Max(1, Math.Min((left ?? _options.LeaseTime).TotalSeconds, uint.MaxValue - 1));
            w.AddOption(DhcpOption.LeaseTime, seconds);
            w.AddOption(DhcpOption.RenewalTime, seconds / 2);
            w.AddOption(DhcpOption.RebindingTime, (uint)(seconds * 7UL / 8));
        }

        if (yiaddr != 0 || inform)
        {
            w.AddOption(DhcpOption.SubnetMask, _options.Subnet.MaskValue);
            w.AddOption(DhcpOption.BroadcastAddress, _options.Subnet.BroadcastValue);
            if (_options.Router is { } router)
            {
                w.AddOption(DhcpOption.Router, router);
            }

            if (_options.Dns.Count > 0)
            {
                Span<uint> dns = stackalloc uint[_options.Dns.Count];
                for (var i = 0; i < dns.Length; i++)
                {
                    dns[i] = _options.Dns[i];
                }

                w.AddAddresses(DhcpOption.DomainNameServer, dns);
            }

            if (_options.Domain is { } domain)
            {
                w.AddOption(DhcpOption.DomainName, domain);
            }

            if (_options.ServesTime)
            {
                // This server answers SNTP too: nodes set their clocks from it before anything that needs time.
                w.AddAddresses(DhcpOption.NtpServers, [_options.ServerAddress]);
            }

            if (_options.Known.TryGetValue(mac, out var known))
            {
                w.AddOption(DhcpOption.HostName, known.Name);
            }
        }

        if (boot is not null)
        {
            w.AddOption(DhcpOption.VendorClassIdentifier, boot.VendorClass);
            if (request.Options.TryGet(DhcpOption.ClientMachineId, out var uuid))
            {
                w.AddOption(DhcpOption.ClientMachineId, uuid);
            }

            if (boot.IsPxe)
            {
                w.AddOption(DhcpOption.VendorSpecific, BootAnswer.PxeVendorOptions);
            }

            if (!boot.File.Contains("://", StringComparison.Ordinal))
            {
                w.AddOption(DhcpOption.TftpServerName, Ipv4.FromUInt32(boot.NextServer).ToString());
            }

            w.AddOption(DhcpOption.BootFileName, boot.File);
        }

        EchoClientIdAndRelay(request, ref w);
        var length = w.Finish();

        if (toSender)
        {
            return new DhcpDecision(length, ReplyRoute.Unicast, request.ClientAddress, 0, lease, DropReason.None, type, mac);
        }

        if (request.RelayAddress != 0)
        {
            return new DhcpDecision(length, ReplyRoute.Unicast, request.RelayAddress, DhcpPorts.Server, lease, DropReason.None, type, mac);
        }

        if (request.ClientAddress != 0 && (inform || type == DhcpMessageType.Ack))
        {
            return new DhcpDecision(length, ReplyRoute.Unicast, request.ClientAddress, DhcpPorts.Client, lease, DropReason.None, type, mac);
        }

        if (request.IsBroadcast || yiaddr == 0)
        {
            return new DhcpDecision(length, ReplyRoute.Broadcast, 0, DhcpPorts.Client, lease, DropReason.None, type, mac);
        }

        return new DhcpDecision(length, ReplyRoute.UnicastToHardware, yiaddr, DhcpPorts.Client, lease, DropReason.None, type, mac);
    }

    private static void EchoClientIdAndRelay(DhcpPacket request, ref DhcpWriter w)
    {
        if (request.Options.TryGet(DhcpOption.ClientIdentifier, out var id))
        {
            w.AddOption(DhcpOption.ClientIdentifier, id); // RFC 6842
        }

        if (request.RelayAddress != 0 && request.Options.TryGet(DhcpOption.RelayAgentInformation, out var agent))
        {
            w.AddOption(DhcpOption.RelayAgentInformation, agent); // RFC 3046 §2.2: echoed, last
        }
    }

    /// <summary>576 (RFC 2131's minimum) or what the client accepts (option 57), less the IP and UDP headers.</summary>
    private static int MaxReplyLength(DhcpPacket request)
    {
        var max = request.Options.GetUInt16(DhcpOption.MaxMessageSize) ?? 576;
        return Math.Clamp((int)max, 576, 1500) - 28;
    }

    internal static uint ReadAddress(ReadOnlySpan<byte> span) => BinaryPrimitives.ReadUInt32BigEndian(span);
}
