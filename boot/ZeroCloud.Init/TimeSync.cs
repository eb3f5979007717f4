using System.Net;
using System.Net.Sockets;
using ZeroCloud.Model.Net;
using ZeroCloud.Netboot.Ntp;

namespace ZeroCloud.Init;

/// <summary>
/// A node keeps time before anything that needs it (certificates, leases, logs): SNTP (RFC 4330) to the time servers
/// DHCP announced (option 42; the cluster's DHCP servers answer). The clock is set when it is off by more than
/// <see cref="Tolerance"/>; after that, nodes agree with their server to within the exchange's round trip.
/// </summary>
public static class TimeSync
{
    /// <summary>The skew left alone: below this the clock is not stepped.</summary>
    public static readonly TimeSpan Tolerance = TimeSpan.FromMilliseconds(100);

    /// <summary>One exchange with <paramref name="server"/>: the offset (server minus this clock) and the round trip; null when it did not answer.</summary>
    public static (TimeSpan Offset, TimeSpan Delay)? Query(IPEndPoint server, TimeSpan timeout)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveTimeout = (int)timeout.TotalMilliseconds };
        var sent = DateTime.UtcNow;
        var request = SntpPacket.Request(sent);
        socket.SendTo(request, server);
        var buffer = new byte[512];
        var until = Environment.TickCount64 + (long)timeout.TotalMilliseconds; // monotonic: this loop steps the wall clock
        while (Environment.TickCount64 < until)
        {
            int length;
            try
            {
                length = socket.Receive(buffer);
            }
            catch (SocketException)
            {
                return null;
            }

            var received = DateTime.UtcNow;
            // The answer to this request: its originate time is the request's transmit time, byte for byte.
            if (SntpPacket.TryParse(buffer.AsSpan(0, length), out var reply) && reply.Mode == SntpPacket.ModeServer
                && reply.LeapIndicator != SntpPacket.Unsynchronised && reply.Stratum is > 0 and < 16
                && buffer.AsSpan(24, 8).SequenceEqual(request.AsSpan(40, 8)))
            {
                return SntpPacket.Measure(sent, reply.Receive, reply.Transmit, received);
            }
        }

        return null;
    }

    /// <summary>
    /// Asks each server in turn (three tries each) and steps the clock by the first answer's offset when it is beyond
    /// <see cref="Tolerance"/>. Returns a line for the console.
    /// </summary>
    public static string Synchronise(IReadOnlyList<uint> servers, Action<DateTime> setClock)
    {
        if (servers.Count == 0)
        {
            return "time: DHCP announced no time server; the clock is left as it is";
        }

        foreach (var server in servers)
        {
            var endpoint = new IPEndPoint(Ipv4.FromUInt32(server), SntpPacket.Port);
            for (var attempt = 0; attempt < 3; attempt++)
            {
                if (Query(endpoint, TimeSpan.FromSeconds(1)) is not var (offset, delay))
                {
                    continue;
                }

                if (offset.Duration() <= Tolerance)
                {
                    return $"time: {offset.TotalMilliseconds:0.0} ms from {endpoint.Address} (round trip {delay.TotalMilliseconds:0.0} ms), within {Tolerance.TotalMilliseconds:0} ms; clock left alone";
                }

                setClock(DateTime.UtcNow + offset);
                return $"time: {offset.TotalSeconds:0.000} s from {endpoint.Address} (round trip {delay.TotalMilliseconds:0.0} ms); clock set";
            }
        }

        return $"time: no time server answered ({string.Join(", ", servers.Select(s => Ipv4.FromUInt32(s)))}); the clock is left as it is";
    }
}
