using System.Net;
using ZeroCloud.Model.Config;
using ZeroCloud.Model.Net;
using ZeroCloud.Netboot.Dhcp;
using static ZeroCloud.Netboot.Tests.Dhcp.Packets;

namespace ZeroCloud.Netboot.Tests.Dhcp;

public class EngineTests
{
    private const string KnownMac = "52:54:00:00:00:01";
    private static readonly DateTimeOffset T0 = new(2026, 11, 27, 12, 0, 0, TimeSpan.Zero);
    private readonly byte[] _reply = new byte[1500];

    internal static DhcpEngine NewEngine(DhcpMode mode = DhcpMode.Full, EnrollMode enroll = EnrollMode.Auto, string range = "10.77.0.100-10.77.0.102", IEnumerable<Lease>? leases = null)
    {
        var modeText = mode.ToString().ToLowerInvariant();
        var rangeLine = mode == DhcpMode.Full ? $"range: {range}" : "";
        var yaml = $"""
            apiVersion: zerocloud.io/v1
            kind: Cluster
            metadata: {"{"} name: t {"}"}
            spec:
              network:
                subnet: 10.77.0.0/24
                gateway: 10.77.0.1
                dns: [10.77.0.1, 10.77.0.3]
                domain: lab.test
                dhcp:
                  mode: {modeText}
                  {rangeLine}
                  leaseTime: 1h
              nodes:
                enroll: {enroll.ToString().ToLowerInvariant()}
                known:
                  - {"{"} mac: "{KnownMac}", name: node-01, ip: 10.77.0.50 {"}"}
                  - {"{"} mac: "52:54:00:00:00:02", name: node-02, bootFile: snponly.efi {"}"}
            """;
        var result = ClusterConfigLoader.Load(yaml, "t.yaml");
        Assert.True(result.IsValid, string.Join("\n", result.Diagnostics));
        var boot = new BootSettings { NextServer = Ip("10.77.0.2"), HttpBase = "http://10.77.0.2:8080" };
        return new DhcpEngine(DhcpServerOptions.FromCluster(result.Config!, Ip("10.77.0.2"), boot), leases ?? []);
    }

    private (DhcpDecision Decision, DhcpPacket? Reply) Handle(DhcpEngine engine, DhcpPacket request, DateTimeOffset? now = null, int port = DhcpPorts.Server)
    {
        var d = engine.Handle(request, port, now ?? T0, _reply);
        return (d, d.Length > 0 ? Parse(_reply.AsSpan(0, d.Length)) : null);
    }

    [Fact]
    public void A_lease_whose_commit_failed_is_rolled_back_in_the_pool()
    {
        var engine = NewEngine();
        var (_, offer) = Handle(engine, Request(DhcpMessageType.Discover, "52:54:00:aa:00:31"));
        var requested = (DhcpOption.RequestedIpAddress, IPAddress.Parse(Ipv4.FromUInt32(offer!.YourAddress).ToString()).GetAddressBytes());
        var (ack, _) = Handle(engine, Request(DhcpMessageType.Request, "52:54:00:aa:00:31", options: [Address(DhcpOption.ServerIdentifier, "10.77.0.2"), requested]));
        Assert.NotNull(ack.Commit);
        Assert.Null(ack.Previous);
        Assert.NotNull(engine.Pool.GetLease(offer.YourAddress));

        // The store refused it (a full disk, a lost leader): no ACK went out, and the pool forgets it.
        engine.Pool.Revert(ack.Commit, ack.Previous);
        Assert.Null(engine.Pool.GetLease(offer.YourAddress));
        Assert.Null(engine.Pool.GetLeaseOf(ack.Commit.ClientKey));

        // A renewal whose commit failed goes back to the lease the client still holds, not to nothing.
        var address = Lease(engine, "52:54:00:aa:00:32");
        var held = engine.Pool.GetLease(address)!;
        var (renew, _) = Handle(engine, Request(DhcpMessageType.Request, "52:54:00:aa:00:32", ciaddr: address), T0.AddMinutes(30));
        Assert.NotNull(renew.Commit);
        Assert.Equal(held, renew.Previous);
        engine.Pool.Revert(renew.Commit, renew.Previous);
        Assert.Equal(held, engine.Pool.GetLease(address));
    }

    private uint Lease(DhcpEngine engine, string mac, DateTimeOffset? now = null)
    {
        var (_, offer) = Handle(engine, Request(DhcpMessageType.Discover, mac), now);
        Assert.NotNull(offer);
        var (ack, reply) = Handle(engine, Request(DhcpMessageType.Request, mac, options: [Address(DhcpOption.ServerIdentifier, "10.77.0.2"), (DhcpOption.RequestedIpAddress, IPAddress.Parse(Ipv4.FromUInt32(offer.YourAddress).ToString()).GetAddressBytes())]), now);
        Assert.Equal(DhcpMessageType.Ack, reply!.MessageType);
        Assert.NotNull(ack.Commit);
        return reply.YourAddress;
    }

    [Fact]
    public void An_address_reserved_at_enrollment_goes_back_to_its_node_after_its_lease_expired_and_to_no_other_machine()
    {
        // Range .100-.102; the enrolled node had .101 and was off for longer than its lease.
        var engine = NewEngine();
        var node = Lease(engine, "52:54:00:aa:00:41");
        Assert.Equal(Ip("10.77.0.100"), node);
        Assert.True(engine.Pool.Enroll(MacAddress.Parse("52:54:00:aa:00:41"), node));
        var later = T0.AddHours(3);

        // Two other machines come while it is off: they get the two other addresses, and a third gets nothing,
        // although .100's lease has expired.
        Assert.Equal(Ip("10.77.0.101"), Lease(engine, "52:54:00:aa:00:42", later));
        Assert.Equal(Ip("10.77.0.102"), Lease(engine, "52:54:00:aa:00:43", later));
        var (_, none) = Handle(engine, Request(DhcpMessageType.Discover, "52:54:00:aa:00:44"), later);
        Assert.Null(none);

        // The node boots again: it is offered its address.
        Assert.Equal(node, Lease(engine, "52:54:00:aa:00:41", later));

        // A static reservation (nodes.known[].ip) wins over an enrolled one, for its MAC and for its address.
        Assert.False(engine.Pool.Enroll(MacAddress.Parse(KnownMac), Ip("10.77.0.102")));
        Assert.False(engine.Pool.Enroll(MacAddress.Parse("52:54:00:aa:00:45"), Ip("10.77.0.50")));
        // One address, one node.
        Assert.False(engine.Pool.Enroll(MacAddress.Parse("52:54:00:aa:00:46"), node));
        Assert.Equal(1, engine.Pool.EnrolledCount);
    }

    [Fact]
    public void Discover_gets_an_offer_with_the_options_from_cluster_yaml()
    {
        var (d, offer) = Handle(NewEngine(), Request(DhcpMessageType.Discover, "52:54:00:aa:00:01"));
        Assert.Equal(DhcpMessageType.Offer, offer!.MessageType);
        Assert.Equal(Ip("10.77.0.100"), offer.YourAddress);
        Assert.Equal(Ip("10.77.0.2"), offer.Options.GetAddress(DhcpOption.ServerIdentifier));
        Assert.Equal(Ip("255.255.255.0"), offer.Options.GetAddress(DhcpOption.SubnetMask));
        Assert.Equal(Ip("10.77.0.1"), offer.Options.GetAddress(DhcpOption.Router));
        Assert.Equal([10, 77, 0, 1, 10, 77, 0, 3], offer.Options.Get(DhcpOption.DomainNameServer));
        Assert.Equal("lab.test", offer.Options.GetString(DhcpOption.DomainName));
        Assert.Equal(Ip("10.77.0.2"), offer.Options.GetAddress(DhcpOption.NtpServers)); // the DHCP server answers SNTP too
        Assert.Equal([0, 0, 0x0e, 0x10], offer.Options.Get(DhcpOption.LeaseTime));
        Assert.Null(d.Commit); // an offer is not a lease
        Assert.Equal(ReplyRoute.UnicastToHardware, d.Route);
        Assert.False(offer.Options.Contains(DhcpOption.BootFileName)); // a plain client gets no boot file
    }

    [Fact]
    public void Broadcast_flag_gets_a_broadcast_reply()
    {
        var (d, _) = Handle(NewEngine(), Request(DhcpMessageType.Discover, "52:54:00:aa:00:01", broadcast: true));
        Assert.Equal(ReplyRoute.Broadcast, d.Route);
    }

    [Fact]
    public void Relay_gets_the_reply_on_port_67_with_option_82_echoed()
    {
        byte[] agent = [1, 4, (byte)'p', (byte)'o', (byte)'r', (byte)'t'];
        var (d, offer) = Handle(NewEngine(), Request(DhcpMessageType.Discover, "52:54:00:aa:00:01", giaddr: Ip("10.77.0.1"), options: [(DhcpOption.RelayAgentInformation, agent)]));
        Assert.Equal((ReplyRoute.Unicast, Ip("10.77.0.1"), 67), (d.Route, d.Address, d.Port));
        Assert.Equal(agent, offer!.Options.Get(DhcpOption.RelayAgentInformation));
        Assert.Equal(Ip("10.77.0.1"), offer.RelayAddress);
    }

    [Fact]
    public void Request_for_the_offer_is_acked_and_committed_before_sending()
    {
        var engine = NewEngine();
        var address = Lease(engine, "52:54:00:aa:00:01");
        var lease = engine.Pool.GetLease(address)!;
        Assert.Equal(LeaseState.Bound, lease.State);
        Assert.Equal(T0 + TimeSpan.FromHours(1), lease.Expires);
    }

    [Fact]
    public void Two_clients_never_get_the_same_address()
    {
        var engine = NewEngine();
        var a = Lease(engine, "52:54:00:aa:00:01");
        var b = Lease(engine, "52:54:00:aa:00:02");
        var c = Lease(engine, "52:54:00:aa:00:03");
        Assert.Equal(3, new[] { a, b, c }.Distinct().Count());
        // The range (3 addresses) is full: a fourth client gets nothing rather than a duplicate.
        var (d, reply) = Handle(engine, Request(DhcpMessageType.Discover, "52:54:00:aa:00:04"));
        Assert.Null(reply);
        Assert.Equal(DropReason.PoolExhausted, d.Dropped);
    }

    [Fact]
    public void Offered_address_is_held_for_its_client()
    {
        var engine = NewEngine();
        var (_, first) = Handle(engine, Request(DhcpMessageType.Discover, "52:54:00:aa:00:01"));
        var (_, second) = Handle(engine, Request(DhcpMessageType.Discover, "52:54:00:aa:00:02"));
        Assert.NotEqual(first!.YourAddress, second!.YourAddress);
        // Another client asking for the held address by INIT-REBOOT is refused.
        var (_, nak) = Handle(engine, Request(DhcpMessageType.Request, "52:54:00:aa:00:03", options: [Address(DhcpOption.RequestedIpAddress, "10.77.0.100")]));
        Assert.Equal(DhcpMessageType.Nak, nak!.MessageType);
    }

    [Fact]
    public void Request_for_someone_elses_address_is_naked_by_broadcast()
    {
        var engine = NewEngine();
        var taken = Lease(engine, "52:54:00:aa:00:01");
        var (d, nak) = Handle(engine, Request(DhcpMessageType.Request, "52:54:00:aa:00:02", options: [(DhcpOption.RequestedIpAddress, Ipv4.FromUInt32(taken).GetAddressBytes())]));
        Assert.Equal(DhcpMessageType.Nak, nak!.MessageType);
        Assert.Equal(0u, nak.YourAddress);
        Assert.Equal(ReplyRoute.Broadcast, d.Route);
        Assert.Null(d.Commit);
    }

    [Fact]
    public void Request_for_an_address_on_another_network_is_naked()
    {
        var (_, nak) = Handle(NewEngine(), Request(DhcpMessageType.Request, "52:54:00:aa:00:01", options: [Address(DhcpOption.RequestedIpAddress, "192.168.1.20")]));
        Assert.Equal(DhcpMessageType.Nak, nak!.MessageType);
        Assert.Equal("wrong network", nak.Options.GetString(DhcpOption.Message));
    }

    [Fact]
    public void Request_naming_another_server_withdraws_our_offer_silently()
    {
        var engine = NewEngine();
        var (_, offer) = Handle(engine, Request(DhcpMessageType.Discover, "52:54:00:aa:00:01"));
        var (d, reply) = Handle(engine, Request(DhcpMessageType.Request, "52:54:00:aa:00:01", options: [Address(DhcpOption.ServerIdentifier, "10.77.0.9"), (DhcpOption.RequestedIpAddress, Ipv4.FromUInt32(offer!.YourAddress).GetAddressBytes())]));
        Assert.Null(reply);
        Assert.Equal(DropReason.NotForUs, d.Dropped);
        // The address is free again: another client is offered it.
        var (_, other) = Handle(engine, Request(DhcpMessageType.Discover, "52:54:00:aa:00:02", options: [(DhcpOption.RequestedIpAddress, Ipv4.FromUInt32(offer.YourAddress).GetAddressBytes())]));
        Assert.Equal(offer.YourAddress, other!.YourAddress);
    }

    [Fact]
    public void Request_for_an_address_never_offered_or_leased_is_naked_and_makes_no_lease()
    {
        // One DHCPREQUEST per address with no DISCOVER used to take the whole pool, each an fsync or a Raft write.
        var engine = NewEngine();
        for (var i = 0; i < 50; i++)
        {
            var mac = $"52:54:00:bb:00:{i:x2}";
            var (d, nak) = Handle(engine, Request(DhcpMessageType.Request, mac, options: [Address(DhcpOption.RequestedIpAddress, $"10.77.0.{100 + i}")]));
            Assert.Equal(DhcpMessageType.Nak, nak!.MessageType);
            Assert.Null(d.Commit);
        }

        Assert.Equal(0, engine.Pool.LeaseCount);

        // With the server's own id and no offer behind it: the same.
        var (named, nak2) = Handle(engine, Request(DhcpMessageType.Request, "52:54:00:bb:01:00", options: [Address(DhcpOption.ServerIdentifier, "10.77.0.2"), Address(DhcpOption.RequestedIpAddress, "10.77.0.160")]));
        Assert.Equal(DhcpMessageType.Nak, nak2!.MessageType);
        Assert.Null(named.Commit);

        // A client that was given the address before (INIT-REBOOT after a reboot, past the lease cache's quarter) is still ACKed.
        var address = Lease(engine, "52:54:00:aa:00:01");
        var (again, ack) = Handle(engine, Request(DhcpMessageType.Request, "52:54:00:aa:00:01", options: [(DhcpOption.RequestedIpAddress, Ipv4.FromUInt32(address).GetAddressBytes())]), T0 + TimeSpan.FromMinutes(20));
        Assert.Equal(DhcpMessageType.Ack, ack!.MessageType);
        Assert.NotNull(again.Commit);
    }

    [Fact]
    public void A_lease_asked_for_again_within_a_quarter_of_its_time_is_acked_as_it_stands_with_no_commit()
    {
        // One boot asks three times (PXE ROM, iPXE, the OS): only the first is written.
        var engine = NewEngine();
        var address = Lease(engine, "52:54:00:aa:00:01");
        var held = engine.Pool.GetLease(address)!;
        var asked = Request(DhcpMessageType.Request, "52:54:00:aa:00:01", options: [(DhcpOption.RequestedIpAddress, Ipv4.FromUInt32(address).GetAddressBytes())]);
        var (cached, ack) = Handle(engine, asked, T0 + TimeSpan.FromMinutes(5));
        Assert.Equal(DhcpMessageType.Ack, ack!.MessageType);
        Assert.Equal(address, ack.YourAddress);
        Assert.Null(cached.Commit);
        Assert.Same(held, cached.Cached);
        Assert.Same(held, engine.Pool.GetLease(address));
        // Its remaining time, not a fresh hour: 55 min, renewal at half of that, rebinding at 7/8.
        Assert.Equal([0, 0, 0x0c, 0xe4], ack.Options.Get(DhcpOption.LeaseTime));
        Assert.Equal([0, 0, 0x06, 0x72], ack.Options.Get(DhcpOption.RenewalTime));

        // Past the quarter (a renewal at half time, or a reboot 20 min later): written, with a full lease.
        var (renewed, ack2) = Handle(engine, asked, T0 + TimeSpan.FromMinutes(20));
        Assert.Equal(DhcpMessageType.Ack, ack2!.MessageType);
        Assert.Null(renewed.Cached);
        Assert.Equal(T0 + TimeSpan.FromMinutes(80), renewed.Commit!.Expires);
        Assert.Equal([0, 0, 0x0e, 0x10], ack2.Options.Get(DhcpOption.LeaseTime));
    }

    [Fact]
    public void A_changed_host_name_another_client_or_a_cache_threshold_of_zero_is_written_as_before()
    {
        var engine = NewEngine();
        var address = Lease(engine, "52:54:00:aa:00:01");
        var bytes = Ipv4.FromUInt32(address).GetAddressBytes();
        var (named, _) = Handle(engine, Request(DhcpMessageType.Request, "52:54:00:aa:00:01", options: [(DhcpOption.RequestedIpAddress, bytes), (DhcpOption.HostName, "web-1"u8.ToArray())]), T0 + TimeSpan.FromMinutes(1));
        Assert.Equal("web-1", named.Commit!.HostName);
        Assert.Null(named.Cached);

        var (other, nak) = Handle(engine, Request(DhcpMessageType.Request, "52:54:00:aa:00:09", options: [(DhcpOption.RequestedIpAddress, bytes)]), T0 + TimeSpan.FromMinutes(1));
        Assert.Equal(DhcpMessageType.Nak, nak!.MessageType);
        Assert.Null(other.Cached);

        var off = new DhcpEngine(engine.Options with { CacheThreshold = 0 }, []);
        var first = Lease(off, "52:54:00:aa:00:01");
        var (again, _) = Handle(off, Request(DhcpMessageType.Request, "52:54:00:aa:00:01", options: [(DhcpOption.RequestedIpAddress, Ipv4.FromUInt32(first).GetAddressBytes())]), T0 + TimeSpan.FromSeconds(1));
        Assert.NotNull(again.Commit);
        Assert.Null(again.Cached);
    }

    [Fact]
    public void A_cached_ack_waits_for_the_commit_in_flight_of_its_lease()
    {
        // The client asked again before its first ACK was durable: only the commit's ACK may answer it.
        var engine = NewEngine();
        var gate = new CommitGate();
        var (_, offer) = Handle(engine, Request(DhcpMessageType.Discover, "52:54:00:aa:00:01"));
        var asked = Request(DhcpMessageType.Request, "52:54:00:aa:00:01", options: [Address(DhcpOption.ServerIdentifier, "10.77.0.2"), (DhcpOption.RequestedIpAddress, Ipv4.FromUInt32(offer!.YourAddress).GetAddressBytes())]);
        var first = gate.Pass(engine.Handle(asked, DhcpPorts.Server, T0, _reply));
        Assert.NotNull(first.Commit);
        Assert.Equal(1, gate.Count);

        var retry = gate.Pass(engine.Handle(asked, DhcpPorts.Server, T0 + TimeSpan.FromSeconds(2), _reply));
        Assert.Equal(DropReason.Busy, retry.Dropped);
        Assert.Equal(0, retry.Length);

        gate.End(first.Commit!.Address);
        Assert.Equal(0, gate.Count);
        var later = gate.Pass(engine.Handle(asked, DhcpPorts.Server, T0 + TimeSpan.FromSeconds(3), _reply));
        Assert.Equal(DhcpMessageType.Ack, later.ReplyType);
        Assert.NotNull(later.Cached);
        Assert.Equal(0, gate.Count);
    }

    [Fact]
    public void Renew_extends_the_lease_and_is_unicast_to_the_client()
    {
        var engine = NewEngine();
        var address = Lease(engine, "52:54:00:aa:00:01");
        var later = T0 + TimeSpan.FromMinutes(30);
        var (d, ack) = Handle(engine, Request(DhcpMessageType.Request, "52:54:00:aa:00:01", ciaddr: address), later);
        Assert.Equal(DhcpMessageType.Ack, ack!.MessageType);
        Assert.Equal(address, ack.YourAddress);
        Assert.Equal(address, ack.ClientAddress);
        Assert.Equal((ReplyRoute.Unicast, address, 68), (d.Route, d.Address, d.Port));
        Assert.Equal(later + TimeSpan.FromHours(1), d.Commit!.Expires);
    }

    [Fact]
    public void Rebind_of_an_unknown_address_is_naked()
    {
        var (_, nak) = Handle(NewEngine(), Request(DhcpMessageType.Request, "52:54:00:aa:00:01", ciaddr: Ip("10.77.0.7")));
        Assert.Equal(DhcpMessageType.Nak, nak!.MessageType);
    }

    [Fact]
    public void Release_frees_the_address_but_the_client_gets_it_back_first()
    {
        var engine = NewEngine();
        var address = Lease(engine, "52:54:00:aa:00:01");
        var (d, reply) = Handle(engine, Request(DhcpMessageType.Release, "52:54:00:aa:00:01", ciaddr: address, options: [Address(DhcpOption.ServerIdentifier, "10.77.0.2")]));
        Assert.Null(reply);
        Assert.Equal(LeaseState.Released, d.Commit!.State);
        Assert.Equal(address, Lease(engine, "52:54:00:aa:00:01"));
    }

    [Fact]
    public void Declined_address_is_quarantined_then_returns()
    {
        var engine = NewEngine(range: "10.77.0.100-10.77.0.100");
        var address = Lease(engine, "52:54:00:aa:00:01");
        var (d, _) = Handle(engine, Request(DhcpMessageType.Decline, "52:54:00:aa:00:01", options: [Address(DhcpOption.ServerIdentifier, "10.77.0.2"), (DhcpOption.RequestedIpAddress, Ipv4.FromUInt32(address).GetAddressBytes())]));
        Assert.Equal(LeaseState.Declined, d.Commit!.State);
        var (none, reply) = Handle(engine, Request(DhcpMessageType.Discover, "52:54:00:aa:00:02"));
        Assert.Null(reply);
        Assert.Equal(DropReason.PoolExhausted, none.Dropped);
        var (_, offer) = Handle(engine, Request(DhcpMessageType.Discover, "52:54:00:aa:00:02"), T0 + TimeSpan.FromHours(2));
        Assert.Equal(address, offer!.YourAddress);
    }

    [Fact]
    public void Expired_lease_is_reused_once_the_range_has_no_unused_address()
    {
        var engine = NewEngine(range: "10.77.0.100-10.77.0.100");
        var address = Lease(engine, "52:54:00:aa:00:01");
        var (_, nothing) = Handle(engine, Request(DhcpMessageType.Discover, "52:54:00:aa:00:02"), T0 + TimeSpan.FromMinutes(59));
        Assert.Null(nothing);
        var (_, offer) = Handle(engine, Request(DhcpMessageType.Discover, "52:54:00:aa:00:02"), T0 + TimeSpan.FromMinutes(61));
        Assert.Equal(address, offer!.YourAddress);
    }

    [Fact]
    public void Inform_gets_options_without_an_address_or_a_lease_time()
    {
        var (d, ack) = Handle(NewEngine(), Request(DhcpMessageType.Inform, "52:54:00:aa:00:01", ciaddr: Ip("10.77.0.30")));
        Assert.Equal(DhcpMessageType.Ack, ack!.MessageType);
        Assert.Equal(0u, ack.YourAddress);
        Assert.False(ack.Options.Contains(DhcpOption.LeaseTime));
        Assert.Equal(Ip("10.77.0.1"), ack.Options.GetAddress(DhcpOption.Router));
        Assert.Equal((ReplyRoute.Unicast, Ip("10.77.0.30")), (d.Route, d.Address));
        Assert.Null(d.Commit);
    }

    [Fact]
    public void Known_machine_gets_its_reserved_address_and_name()
    {
        var engine = NewEngine();
        Assert.Equal(Ip("10.77.0.50"), Lease(engine, KnownMac));
        var (_, offer) = Handle(engine, Request(DhcpMessageType.Discover, KnownMac));
        Assert.Equal("node-01", offer!.Options.GetString(DhcpOption.HostName));
        // Nobody else can take the reservation.
        var (_, nak) = Handle(engine, Request(DhcpMessageType.Request, "52:54:00:aa:00:09", options: [Address(DhcpOption.RequestedIpAddress, "10.77.0.50")]));
        Assert.Equal(DhcpMessageType.Nak, nak!.MessageType);
    }

    [Fact]
    public void Enroll_known_ignores_unknown_macs()
    {
        var engine = NewEngine(enroll: EnrollMode.Known);
        var (d, reply) = Handle(engine, Request(DhcpMessageType.Discover, "52:54:00:aa:00:01"));
        Assert.Null(reply);
        Assert.Equal(DropReason.UnknownMachine, d.Dropped);
        Assert.Equal(Ip("10.77.0.50"), Lease(engine, KnownMac));
    }

    [Fact]
    public void Client_identifier_is_the_identity_and_is_echoed()
    {
        var engine = NewEngine();
        byte[] id = [0xff, 1, 2, 3, 4];
        var (_, offer) = Handle(engine, Request(DhcpMessageType.Discover, "52:54:00:aa:00:01", options: [(DhcpOption.ClientIdentifier, id)]));
        Assert.Equal(id, offer!.Options.Get(DhcpOption.ClientIdentifier));
    }

    public static TheoryData<string, ClientArchitecture?, string, string?> BootCases => new()
    {
        // vendor class, option 93, expected file, expected option 60
        { "PXEClient:Arch:00000:UNDI:002001", ClientArchitecture.X86Bios, "undionly.kpxe", "PXEClient" },
        { "PXEClient:Arch:00000:UNDI:002001", null, "undionly.kpxe", "PXEClient" },
        { "PXEClient:Arch:00007:UNDI:003016", ClientArchitecture.X64Uefi, "ipxe.efi", "PXEClient" },
        { "PXEClient:Arch:00009:UNDI:003016", ClientArchitecture.EfiByteCode, "ipxe.efi", "PXEClient" },
        { "HTTPClient:Arch:00016:UNDI:003001", ClientArchitecture.X64UefiHttp, "http://10.77.0.2:8080/ipxe.efi", "HTTPClient" },
    };

    [Theory]
    [MemberData(nameof(BootCases))]
    public void Boot_file_by_architecture(string vendorClass, ClientArchitecture? arch, string file, string? echoed)
    {
        var options = new List<(byte, byte[])> { Text(DhcpOption.VendorClassIdentifier, vendorClass), Uuid() };
        if (arch is { } a)
        {
            options.Add(Arch(a));
        }

        var (_, offer) = Handle(NewEngine(), Request(DhcpMessageType.Discover, "52:54:00:aa:00:01", options: [.. options]));
        Assert.Equal(file, offer!.BootFile);
        Assert.Equal(file, offer.Options.GetString(DhcpOption.BootFileName));
        Assert.Equal(echoed, offer.Options.GetString(DhcpOption.VendorClassIdentifier));
        Assert.Equal(Uuid().Item2, offer.Options.Get(DhcpOption.ClientMachineId));
        Assert.Equal(Ip("10.77.0.2"), offer.ServerAddress);
        if (echoed == "PXEClient")
        {
            Assert.Equal([6, 1, 8, 255], offer.Options.Get(DhcpOption.VendorSpecific));
            Assert.Equal("10.77.0.2", offer.Options.GetString(DhcpOption.TftpServerName));
        }
        else
        {
            Assert.False(offer.Options.Contains(DhcpOption.VendorSpecific));
        }
    }

    [Fact]
    public void Arm64_without_a_binary_gets_an_address_but_no_boot_file()
    {
        var (_, offer) = Handle(NewEngine(), Request(DhcpMessageType.Discover, "52:54:00:aa:00:01", options: [Text(DhcpOption.VendorClassIdentifier, "PXEClient:Arch:00011:UNDI:003016"), Arch(ClientArchitecture.Arm64Uefi)]));
        Assert.Equal(Ip("10.77.0.100"), offer!.YourAddress);
        Assert.False(offer.Options.Contains(DhcpOption.BootFileName));
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void Ipxe_gets_its_per_machine_script_url(bool userClass, bool option175)
    {
        var options = new List<(byte, byte[])> { Text(DhcpOption.VendorClassIdentifier, "PXEClient:Arch:00000:UNDI:002001"), Arch(ClientArchitecture.X86Bios) };
        if (userClass)
        {
            options.Add(Text(DhcpOption.UserClass, "iPXE"));
        }

        if (option175)
        {
            options.Add((DhcpOption.Ipxe, [19, 1, 1]));
        }

        var (_, offer) = Handle(NewEngine(), Request(DhcpMessageType.Discover, "52:54:00:AA:00:01", options: [.. options]));
        Assert.Equal("http://10.77.0.2:8080/boot/52:54:00:aa:00:01.ipxe", offer!.BootFile);
    }

    [Fact]
    public void Per_machine_boot_file_from_cluster_yaml_wins()
    {
        var (_, offer) = Handle(NewEngine(), Request(DhcpMessageType.Discover, "52:54:00:00:00:02", options: [Text(DhcpOption.VendorClassIdentifier, "PXEClient:Arch:00007:UNDI:003016"), Arch(ClientArchitecture.X64Uefi)]));
        Assert.Equal("snponly.efi", offer!.BootFile);
    }

    [Fact]
    public void Proxy_mode_answers_pxe_clients_only_and_never_sets_yiaddr()
    {
        var engine = NewEngine(mode: DhcpMode.Proxy);
        var (plainDecision, plain) = Handle(engine, Request(DhcpMessageType.Discover, "52:54:00:aa:00:01"));
        Assert.Null(plain);
        Assert.Equal(DropReason.NotBooting, plainDecision.Dropped);

        var pxe = Request(DhcpMessageType.Discover, "52:54:00:aa:00:01", options: [Text(DhcpOption.VendorClassIdentifier, "PXEClient:Arch:00000:UNDI:002001"), Arch(ClientArchitecture.X86Bios), Uuid()]);
        var (d, offer) = Handle(engine, pxe);
        Assert.Equal(DhcpMessageType.Offer, offer!.MessageType);
        Assert.Equal(0u, offer.YourAddress);
        Assert.Equal("undionly.kpxe", offer.BootFile);
        Assert.False(offer.Options.Contains(DhcpOption.LeaseTime));
        Assert.Equal(ReplyRoute.Broadcast, d.Route);

        // The PXE client then asks the boot server on 4011 and gets an ACK sent straight back.
        var request = Request(DhcpMessageType.Request, "52:54:00:aa:00:01", ciaddr: Ip("10.77.0.150"), options: [Text(DhcpOption.VendorClassIdentifier, "PXEClient:Arch:00000:UNDI:002001"), Arch(ClientArchitecture.X86Bios), Uuid()]);
        var (ackDecision, ack) = Handle(engine, request, port: DhcpPorts.PxeBootServer);
        Assert.Equal(DhcpMessageType.Ack, ack!.MessageType);
        Assert.Equal(0u, ack.YourAddress);
        Assert.Equal("undionly.kpxe", ack.BootFile);
        Assert.Equal((ReplyRoute.Unicast, Ip("10.77.0.150"), 0), (ackDecision.Route, ackDecision.Address, ackDecision.Port));
    }

    [Fact]
    public void Mode_off_answers_nothing()
    {
        var (d, reply) = Handle(NewEngine(mode: DhcpMode.Off), Request(DhcpMessageType.Discover, "52:54:00:aa:00:01"));
        Assert.Null(reply);
        Assert.Equal(DropReason.ModeOff, d.Dropped);
    }

    [Fact]
    public void Leases_loaded_at_start_are_respected()
    {
        var held = new Lease(Ip("10.77.0.100"), MacAddress.Parse("52:54:00:aa:00:01"), "mac:525400aa0001", T0 + TimeSpan.FromHours(1), LeaseState.Bound);
        var engine = NewEngine(leases: [held]);
        var (_, offer) = Handle(engine, Request(DhcpMessageType.Discover, "52:54:00:aa:00:02"));
        Assert.NotEqual(held.Address, offer!.YourAddress);
        var (_, again) = Handle(engine, Request(DhcpMessageType.Discover, "52:54:00:aa:00:01"));
        Assert.Equal(held.Address, again!.YourAddress);
    }

    [Fact]
    public void An_expired_lease_keeps_its_address_from_other_clients_for_the_wall_clock_tolerance()
    {
        // Written by another replica, whose clock may be behind ours: its expiry counts 30 s late (WallClock.Tolerance).
        var held = new Lease(Ip("10.77.0.100"), MacAddress.Parse("52:54:00:aa:00:01"), "mac:525400aa0001", T0, LeaseState.Bound);
        var engine = NewEngine(leases: [held]);
        var wants = (DhcpOption.RequestedIpAddress, Ipv4.FromUInt32(held.Address).GetAddressBytes());
        var (_, within) = Handle(engine, Request(DhcpMessageType.Discover, "52:54:00:aa:00:02", options: [wants]), T0 + TimeSpan.FromSeconds(20));
        Assert.NotEqual(held.Address, within!.YourAddress);
        var (_, past) = Handle(engine, Request(DhcpMessageType.Discover, "52:54:00:aa:00:03", options: [wants]), T0 + TimeSpan.FromSeconds(31));
        Assert.Equal(held.Address, past!.YourAddress);
    }
}
