using System.Buffers.Binary;
using System.Net;

namespace ZeroCloud.Netboot.Tests.Lab;

/// <summary>Reads the UDP datagrams out of a classic pcap file (Ethernet link type), as tcpdump -w writes it.</summary>
internal static class Pcap
{
    public sealed record Datagram(IPAddress Source, int SourcePort, IPAddress Destination, int DestinationPort, byte[] Payload);

    public static List<Datagram> ReadUdp(string path)
    {
        var data = File.ReadAllBytes(path);
        var result = new List<Datagram>();
        if (data.Length < 24)
        {
            return result;
        }

        var offset = 24;
        while (offset + 16 <= data.Length)
        {
            var captured = (int)BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(offset + 8));
            offset += 16;
            if (offset + captured > data.Length)
            {
                break; // the writer was stopped mid-record
            }

            var frame = data.AsSpan(offset, captured);
            offset += captured;
            if (frame.Length < 42 || BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) != 0x0800 || frame[23] != 17)
            {
                continue;
            }

            var ihl = (frame[14] & 0xF) * 4;
            var udp = frame[(14 + ihl)..];
            var length = BinaryPrimitives.ReadUInt16BigEndian(udp[4..]);
            result.Add(new Datagram(
                new IPAddress(frame.Slice(26, 4)),
                BinaryPrimitives.ReadUInt16BigEndian(udp),
                new IPAddress(frame.Slice(30, 4)),
                BinaryPrimitives.ReadUInt16BigEndian(udp[2..]),
                udp[8..Math.Min(udp.Length, length)].ToArray()));
        }

        return result;
    }
}
