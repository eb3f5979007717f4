using System.Net;
using System.Net.Sockets;
using System.Text;
using ZeroCloud.Model.Net;
using ZeroCloud.Netboot.Dhcp;

namespace ZeroCloud.Init;

/// <summary>The address a DHCP server gave: the lease and the options the node uses.</summary>
public sealed record DhcpLease(uint Address, uint Mask, uint? Router, uint Server, IReadOnlyList<uint> Dns, string? Domain, string? HostName, TimeSpan LeaseTime, uint NextServer = 0, string? BootFile = null, IReadOnlyList<uint>? TimeServers = null);

/// <summary>
/// What PXE firmware says about itself (RFC 4578): vendor class <c>PXEClient:Arch:xxxxx:UNDI:002001</c>, option 93
/// (architecture), option 97 (machine UUID), and for iPXE the user class <c>iPXE</c> (option 77).
/// </summary>
public sealed record PxeIdentity(ushort Architecture, Guid MachineId, string? UserClass = null)
{
    public string VendorClass => FormattableString.Invariant($"PXEClient:Arch:{Architecture:D5}:UNDI:002001");
}

/// <summary>
/// The node's own DHCP client (the netboot codec, the other way round): DISCOVER, OFFER, REQUEST, ACK on a UDP
/// socket bound to the interface. The broadcast flag is set, so replies reach a host that has no address yet
/// without a raw socket. Retries with backoff until the deadline.
/// </summary>
public static class DhcpClient
{
    public static DhcpLease Acquire(string ifname, MacAddress mac, string? hostName, TimeSpan deadline, PxeIdentity? pxe = null)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { EnableBroadcast = true };
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        socket.SetRawSocketOption(1, 25, Encoding.ASCII.GetBytes(ifname + "\0")); // SO_BINDTODEVICE
        socket.Bind(new IPEndPoint(IPAddress.Any, DhcpPorts.Client));
        var started = System.Diagnostics.Stopwatch.StartNew(); // monotonic: the clock is set (stepped) after DHCP
        var wait = TimeSpan.FromSeconds(1);
        var buffer = new byte[1500];
        var broadcast = new IPEndPoint(IPAddress.Broadcast, DhcpPorts.Server);
        while (started.Elapsed < deadline)
        {
            var xid = (uint)Random.Shared.NextInt64(1, uint.MaxValue); // a transaction id needs to be unlikely to repeat, not secret
            socket.SendTo(buffer.AsSpan(0, Write(buffer, DhcpMessageType.Discover, xid, mac, hostName, null, null, pxe)), broadcast);
            if (Receive(socket, buffer, xid, DhcpMessageType.Offer, wait, out _) is { } offer)
            {
                var server = offer.Options.GetAddress(DhcpOption.ServerIdentifier) ?? 0;
                // The REQUEST is sent again with the same xid while no answer comes (2, 4, 8 s; RFC 2131 4.1): a server
                // that makes the lease durable before its ACK (ours commits it to the cluster's store) may answer late
                // on a busy cluster, and that late ACK is still this transaction's. Going back to DISCOVER instead made
                // every late commit a wasted one and added another to the server's queue. A NAK ends it at once.
                DhcpPacket? ack = null;
                var requestWait = TimeSpan.FromSeconds(2);
                for (var sent = 0; sent < 3 && ack is null; sent++, requestWait *= 2)
                {
                    var request = Write(buffer, DhcpMessageType.Request, xid, mac, hostName, offer.YourAddress, server, pxe);
                    socket.SendTo(buffer.AsSpan(0, request), broadcast);
                    ack = Receive(socket, buffer, xid, DhcpMessageType.Ack, requestWait, out var refused);
                    if (refused)
                    {
                        break;
                    }
                }

                if (ack is not null)
                {
                    var options = ack.Options;
                    var dns = Addresses(options.Get(DhcpOption.DomainNameServer));
                    var ntp = Addresses(options.Get(DhcpOption.NtpServers));
                    var leaseSeconds = options.Get(DhcpOption.LeaseTime) is { Length: 4 } l ? (uint)((l[0] << 24) | (l[1] << 16) | (l[2] << 8) | l[3]) : 3600u;
                    return new DhcpLease(
                        ack.YourAddress,
                        options.GetAddress(DhcpOption.SubnetMask) ?? 0xFFFFFF00,
                        options.GetAddress(DhcpOption.Router),
                        server,
                        dns,
                        options.GetString(DhcpOption.DomainName),
                        options.GetString(DhcpOption.HostName),
                        TimeSpan.FromSeconds(leaseSeconds),
                        ack.ServerAddress,
                        options.GetString(DhcpOption.BootFileName) ?? (ack.BootFile.Length > 0 ? ack.BootFile : null),
                        ntp);
                }
            }

            wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, TimeSpan.FromSeconds(8).Ticks));
        }

        throw new TimeoutException($"no DHCP lease on {ifname} within {deadline.TotalSeconds:0} s");
    }

    private static List<uint> Addresses(byte[]? d) =>
        d is null ? [] : [.. Enumerable.Range(0, d.Length / 4).Select(i => (uint)((d[i * 4] << 24) | (d[(i * 4) + 1] << 16) | (d[(i * 4) + 2] << 8) | d[(i * 4) + 3]))];

    private static int Write(byte[] buffer, DhcpMessageType type, uint xid, MacAddress mac, string? hostName, uint? requested, uint? server, PxeIdentity? pxe)
    {
        var chaddr = new byte[16];
        mac.WriteTo(chaddr);
        var w = new DhcpWriter(buffer);
        w.WriteHeader(DhcpPacket.BootRequest, 1, 6, 0, xid, 0, DhcpPacket.BroadcastFlag, 0, 0, 0, 0, chaddr, null, null);
        w.AddOption(DhcpOption.MessageType, (byte)type);
        w.AddOption(DhcpOption.VendorClassIdentifier, pxe?.VendorClass ?? "ZeroCloud:node");
        if (pxe is not null)
        {
            w.AddOption(DhcpOption.ClientSystemArchitecture, [(byte)(pxe.Architecture >> 8), (byte)pxe.Architecture]);
            w.AddOption(DhcpOption.ClientMachineId, [0, .. pxe.MachineId.ToByteArray()]);
            if (pxe.UserClass is { } userClass)
            {
                w.AddOption(DhcpOption.UserClass, userClass);
            }
        }

        // Client id 1 + MAC, as iPXE sends it: the server sees the firmware and the booted node as one client.
        w.AddOption(DhcpOption.ClientIdentifier, [1, .. chaddr.AsSpan(0, 6)]);
        if (requested is { } address)
        {
            w.AddOption(DhcpOption.RequestedIpAddress, address);
        }

        if (server is { } id)
        {
            w.AddOption(DhcpOption.ServerIdentifier, id);
        }

        if (hostName is not null)
        {
            w.AddOption(DhcpOption.HostName, hostName);
        }

        w.AddOption(DhcpOption.ParameterRequestList, [DhcpOption.SubnetMask, DhcpOption.Router, DhcpOption.DomainNameServer, DhcpOption.DomainName, DhcpOption.HostName, DhcpOption.LeaseTime, DhcpOption.NtpServers]);
        return w.Finish();
    }

    /// <summary>The reply of <paramref name="type"/> to <paramref name="xid"/> within <paramref name="wait"/>; null on a timeout or a NAK (<paramref name="refused"/>).</summary>
    private static DhcpPacket? Receive(Socket socket, byte[] buffer, uint xid, DhcpMessageType type, TimeSpan wait, out bool refused)
    {
        refused = false;
        var until = Environment.TickCount64 + (long)wait.TotalMilliseconds;
        while (Environment.TickCount64 < until)
        {
            socket.ReceiveTimeout = (int)Math.Max(1, until - Environment.TickCount64);
            int n;
            try
            {
                n = socket.Receive(buffer);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
            {
                return null;
            }

            if (DhcpPacket.TryParse(buffer.AsSpan(0, n), out var packet, out _) && packet.Op == DhcpPacket.BootReply && packet.TransactionId == xid)
            {
                if (packet.MessageType == type)
                {
                    return packet;
                }

                if (packet.MessageType == DhcpMessageType.Nak)
                {
                    refused = true;
                    return null;
                }
            }
        }

        return null;
    }
}
