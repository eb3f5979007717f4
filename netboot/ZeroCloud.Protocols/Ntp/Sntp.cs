using System.Buffers.Binary;

namespace ZeroCloud.Netboot.Ntp;

/// <summary>
/// SNTP (RFC 4330) on the wire: the 48-byte NTPv4 header. A client sends mode 3 with its transmit time; a server
/// answers mode 4 with the client's transmit time as the originate time, and its own receive and transmit times.
/// Timestamps are seconds since 1900 (32 bits) and a 32-bit fraction.
/// </summary>
public readonly record struct SntpPacket(int LeapIndicator, int Version, int Mode, int Stratum, uint ReferenceId, DateTime Originate, DateTime Receive, DateTime Transmit)
{
    public const int Length = 48;
    public const int Port = 123;
    public const int ModeClient = 3;
    public const int ModeServer = 4;

    /// <summary>Leap indicator 3: the server's clock is not synchronised.</summary>
    public const int Unsynchronised = 3;

    private static readonly DateTime Era = new(1900, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>A client's request, stamped with its transmit time <paramref name="now"/>.</summary>
    public static byte[] Request(DateTime now)
    {
        var b = new byte[Length];
        b[0] = (0 << 6) | (4 << 3) | ModeClient;
        WriteTimestamp(b.AsSpan(40), now);
        return b;
    }

    /// <summary>
    /// A server's answer to <paramref name="request"/>: the request's transmit time copied as the originate time (so
    /// the client can match and time the exchange), then <paramref name="receive"/> and <paramref name="transmit"/>.
    /// </summary>
    public static byte[] Reply(ReadOnlySpan<byte> request, DateTime receive, DateTime transmit, int stratum, uint referenceId)
    {
        var b = new byte[Length];
        var version = (request[0] >> 3) & 7;
        b[0] = (byte)((0 << 6) | ((version is >= 1 and <= 4 ? version : 4) << 3) | ModeServer);
        b[1] = (byte)stratum;
        b[2] = request[2]; // poll, echoed
        b[3] = unchecked((byte)-20); // precision: about a microsecond
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(12), referenceId);
        WriteTimestamp(b.AsSpan(16), receive); // reference time: the clock is its own reference
        request.Slice(40, 8).CopyTo(b.AsSpan(24));
        WriteTimestamp(b.AsSpan(32), receive);
        WriteTimestamp(b.AsSpan(40), transmit);
        return b;
    }

    public static bool TryParse(ReadOnlySpan<byte> datagram, out SntpPacket packet)
    {
        packet = default;
        if (datagram.Length < Length)
        {
            return false;
        }

        packet = new SntpPacket(
            datagram[0] >> 6,
            (datagram[0] >> 3) & 7,
            datagram[0] & 7,
            datagram[1],
            BinaryPrimitives.ReadUInt32BigEndian(datagram[12..]),
            ReadTimestamp(datagram[24..]),
            ReadTimestamp(datagram[32..]),
            ReadTimestamp(datagram[40..]));
        return packet.Version is >= 1 and <= 4;
    }

    /// <summary>
    /// The clock offset (server minus client) and the round-trip delay of one exchange: t1 the client's send time,
    /// t2 the server's receive time, t3 its transmit time, t4 the client's receive time (RFC 4330 §5).
    /// </summary>
    public static (TimeSpan Offset, TimeSpan Delay) Measure(DateTime t1, DateTime t2, DateTime t3, DateTime t4) =>
        (((t2 - t1) + (t3 - t4)) / 2, (t4 - t1) - (t3 - t2));

    private static void WriteTimestamp(Span<byte> to, DateTime time)
    {
        var ticks = (time.ToUniversalTime() - Era).Ticks;
        var seconds = (ulong)(ticks / TimeSpan.TicksPerSecond);
        var fraction = (ulong)(ticks % TimeSpan.TicksPerSecond) * (1UL << 32) / TimeSpan.TicksPerSecond;
        BinaryPrimitives.WriteUInt32BigEndian(to, unchecked((uint)seconds));
        BinaryPrimitives.WriteUInt32BigEndian(to[4..], (uint)fraction);
    }

    private static DateTime ReadTimestamp(ReadOnlySpan<byte> from)
    {
        var seconds = BinaryPrimitives.ReadUInt32BigEndian(from);
        var fraction = BinaryPrimitives.ReadUInt32BigEndian(from[4..]);
        if (seconds == 0 && fraction == 0)
        {
            return default;
        }

        // Era 1 starts in 2036: a seconds value with the top bit clear is read as after 2036 (RFC 4330 §3).
        var era = (seconds & 0x8000_0000) == 0 ? Era.AddSeconds(uint.MaxValue + 1.0) : Era;
        return era.AddTicks((long)seconds * TimeSpan.TicksPerSecond + (long)((ulong)fraction * TimeSpan.TicksPerSecond >> 32));
    }
}
