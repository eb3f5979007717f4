using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using ZeroCloud.Model.Net;

namespace ZeroCloud.Netboot.Dhcp;

/// <summary>Why a datagram was not accepted as a DHCP message.</summary>
public enum DhcpParseError
{
    None,

    /// <summary>Shorter than the 236-byte BOOTP header plus the 4-byte magic cookie.</summary>
    TooShort,

    /// <summary>Bytes 236..239 are not 99.130.83.99.</summary>
    BadMagicCookie,

    /// <summary>op is neither BOOTREQUEST (1) nor BOOTREPLY (2).</summary>
    BadOp,

    /// <summary>hlen is larger than the 16-byte chaddr field.</summary>
    BadHardwareAddressLength,

    /// <summary>An option's length runs past the end of its field.</summary>
    OptionOverrun,

    /// <summary>Option 52 is not 1, 2 or 3.</summary>
    BadOverload,
}

/// <summary>
/// A parsed DHCP/BOOTP message (RFC 2131). Pure: built from a span, written to a span. Options that appear
/// more than once are concatenated in order (RFC 3396); option overload (52) is followed into file and sname.
/// </summary>
public sealed class DhcpPacket
{
    public const int HeaderLength = 236;
    public const int MinimumLength = HeaderLength + 4;

    /// <summary>The BOOTP minimum that some old clients require of replies.</summary>
    public const int BootpMinimumLength = 300;

    public const byte BootRequest = 1;
    public const byte BootReply = 2;
    public const ushort BroadcastFlag = 0x8000;

    public static ReadOnlySpan<byte> MagicCookie => [99, 130, 83, 99];

    public byte Op { get; init; }

    public byte HardwareType { get; init; } = 1;

    public byte HardwareAddressLength { get; init; } = 6;

    public byte Hops { get; init; }

    public uint TransactionId { get; init; }

    public ushort Seconds { get; init; }

    public ushort Flags { get; init; }

    public uint ClientAddress { get; init; }

    public uint YourAddress { get; init; }

    public uint ServerAddress { get; init; }

    public uint RelayAddress { get; init; }

    /// <summary>The 16-byte chaddr field as received.</summary>
    public byte[] ClientHardwareAddress { get; init; } = new byte[16];

    /// <summary>sname, when not used for overloaded options (null-terminated text).</summary>
    public string ServerName { get; init; } = "";

    /// <summary>file, when not used for overloaded options (null-terminated text).</summary>
    public string BootFile { get; init; } = "";

    public DhcpOptionSet Options { get; init; } = new();

    public bool IsBroadcast => (Flags & BroadcastFlag) != 0;

    /// <summary>The client's MAC address when the hardware is Ethernet (htype 1, hlen 6).</summary>
    public MacAddress? Mac => HardwareType == 1 && HardwareAddressLength == 6 ? MacAddress.Read(ClientHardwareAddress) : null;

    public DhcpMessageType MessageType =>
        Options.TryGet(DhcpOption.MessageType, out var v) && v.Length == 1 ? (DhcpMessageType)v[0] : DhcpMessageType.None;

    public static bool TryParse(ReadOnlySpan<byte> data, [NotNullWhen(true)] out DhcpPacket? packet, out DhcpParseError error)
    {
        packet = null;
        if (data.Length < MinimumLength)
        {
            error = DhcpParseError.TooShort;
            return false;
        }

        if (!data.Slice(HeaderLength, 4).SequenceEqual(MagicCookie))
        {
            error = DhcpParseError.BadMagicCookie;
            return false;
        }

        var op = data[0];
        if (op is not (BootRequest or BootReply))
        {
            error = DhcpParseError.BadOp;
            return false;
        }

        if (data[2] > 16)
        {
            error = DhcpParseError.BadHardwareAddressLength;
            return false;
        }

        var options = new DhcpOptionSet();
        error = options.ReadFrom(data[MinimumLength..], out var overload);
        if (error != DhcpParseError.None)
        {
            return false;
        }

        var file = data.Slice(108, 128);
        var sname = data.Slice(44, 64);
        if (overload is not 0)
        {
            if (overload is not (1 or 2 or 3))
            {
                error = DhcpParseError.BadOverload;
                return false;
            }

            // RFC 2131 §4.1: options, then file, then sname; an overload option inside them is not followed again.
            if ((overload & 1) != 0 && (error = options.ReadFrom(file, out _)) != DhcpParseError.None)
            {
                return false;
            }

            if ((overload & 2) != 0 && (error = options.ReadFrom(sname, out _)) != DhcpParseError.None)
            {
                return false;
            }
        }

        packet = new DhcpPacket
        {
            Op = op,
            HardwareType = data[1],
            HardwareAddressLength = data[2],
            Hops = data[3],
            TransactionId = BinaryPrimitives.ReadUInt32BigEndian(data[4..]),
            Seconds = BinaryPrimitives.ReadUInt16BigEndian(data[8..]),
            Flags = BinaryPrimitives.ReadUInt16BigEndian(data[10..]),
            ClientAddress = BinaryPrimitives.ReadUInt32BigEndian(data[12..]),
            YourAddress = BinaryPrimitives.ReadUInt32BigEndian(data[16..]),
            ServerAddress = BinaryPrimitives.ReadUInt32BigEndian(data[20..]),
            RelayAddress = BinaryPrimitives.ReadUInt32BigEndian(data[24..]),
            ClientHardwareAddress = data.Slice(28, 16).ToArray(),
            ServerName = (overload & 2) != 0 ? "" : CString(sname),
            BootFile = (overload & 1) != 0 ? "" : CString(file),
            Options = options,
        };
        error = DhcpParseError.None;
        return true;
    }

    /// <summary>Writes the message (options in their order, no overload), the end option and padding to <paramref name="minimumLength"/>.</summary>
    public int WriteTo(Span<byte> destination, int minimumLength = BootpMinimumLength)
    {
        var writer = new DhcpWriter(destination);
        writer.WriteHeader(this);
        foreach (var (code, value) in Options)
        {
            writer.AddOption(code, value);
        }

        return writer.Finish(minimumLength);
    }

    private static string CString(ReadOnlySpan<byte> field)
    {
        var end = field.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? field : field[..end]);
    }
}
