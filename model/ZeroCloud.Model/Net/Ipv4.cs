using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace ZeroCloud.Model.Net;

/// <summary>Helpers for IPv4 addresses as 32-bit numbers in host order.</summary>
public static class Ipv4
{
    /// <summary>Strict dotted-quad parsing: four decimal parts, nothing else (no "10.1", no hex, no IPv6).</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out IPAddress address)
    {
        address = IPAddress.None;
        var parts = 0;
        uint value = 0;
        foreach (var range in text.Split('.'))
        {
            var part = text[range];
            if (part.Length is 0 or > 3 || (part.Length > 1 && part[0] == '0') || !byte.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var b))
            {
                return false;
            }

            value = (value << 8) | b;
            parts++;
        }

        if (parts != 4)
        {
            return false;
        }

        address = FromUInt32(value);
        return true;
    }

    public static uint ToUInt32(IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new ArgumentException("not an IPv4 address", nameof(address));
        }

        Span<byte> bytes = stackalloc byte[4];
        address.TryWriteBytes(bytes, out _);
        return BinaryPrimitives.ReadUInt32BigEndian(bytes);
    }

    public static IPAddress FromUInt32(uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return new IPAddress(bytes);
    }
}

/// <summary>An IPv4 subnet such as 10.77.0.0/24.</summary>
public readonly record struct Ipv4Subnet
{
    public Ipv4Subnet(IPAddress network, int prefixLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(prefixLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(prefixLength, 32);
        var value = Ipv4.ToUInt32(network);
        if ((value & ~MaskOf(prefixLength)) != 0)
        {
            throw new ArgumentException($"{network}/{prefixLength} has host bits set", nameof(network));
        }

        NetworkValue = value;
        PrefixLength = prefixLength;
    }

    public uint NetworkValue { get; }

    public int PrefixLength { get; }

    public uint MaskValue => MaskOf(PrefixLength);

    public uint BroadcastValue => NetworkValue | ~MaskValue;

    public IPAddress Network => Ipv4.FromUInt32(NetworkValue);

    public IPAddress Mask => Ipv4.FromUInt32(MaskValue);

    public IPAddress Broadcast => Ipv4.FromUInt32(BroadcastValue);

    public bool Contains(IPAddress address) => Contains(Ipv4.ToUInt32(address));

    public bool Contains(uint address) => (address & MaskValue) == NetworkValue;

    /// <summary>True for an address a host may use: inside the subnet and neither its network nor its broadcast address (/31 and /32 excepted).</summary>
    public bool IsHostAddress(uint address) =>
        Contains(address) && (PrefixLength >= 31 || (address != NetworkValue && address != BroadcastValue));

    public static uint MaskOf(int prefixLength) => prefixLength == 0 ? 0 : uint.MaxValue << (32 - prefixLength);

    /// <summary>Parses <c>a.b.c.d/n</c>; on failure <paramref name="error"/> says why (and suggests the network address when host bits are set).</summary>
    public static bool TryParse(string text, out Ipv4Subnet subnet, out string error)
    {
        subnet = default;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0)
        {
            error = $"\"{text}\" is not a subnet: write it in CIDR form, such as 10.77.0.0/24";
            return false;
        }

        if (!Ipv4.TryParse(text.AsSpan(0, slash), out var address))
        {
            error = $"\"{text}\" is not a subnet: \"{text[..slash]}\" is not an IPv4 address";
            return false;
        }

        var prefix = text.AsSpan(slash + 1);
        if (!int.TryParse(prefix, NumberStyles.None, CultureInfo.InvariantCulture, out var length) || length > 32)
        {
            error = $"\"{text}\" is not a subnet: the prefix length \"{prefix}\" must be a number from 0 to 32";
            return false;
        }

        var value = Ipv4.ToUInt32(address);
        var network = value & MaskOf(length);
        if (network != value)
        {
            error = $"\"{text}\" has host bits set: the subnet is {Ipv4.FromUInt32(network)}/{length}";
            return false;
        }

        subnet = new Ipv4Subnet(address, length);
        error = "";
        return true;
    }

    public override string ToString() => $"{Network}/{PrefixLength}";

    /// <summary>Parses a host address with its prefix, <c>10.77.0.5/24</c> (host bits allowed).</summary>
    public static bool TryParseHost(string text, out uint address, out int prefixLength)
    {
        address = 0;
        prefixLength = 0;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || !Ipv4.TryParse(text.AsSpan(0, slash), out var ip) ||
            !int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out prefixLength) || prefixLength is < 1 or > 32)
        {
            return false;
        }

        address = Ipv4.ToUInt32(ip);
        return true;
    }
}

/// <summary>An inclusive range of IPv4 addresses.</summary>
public readonly record struct Ipv4Range(IPAddress Start, IPAddress End)
{
    public uint StartValue => Ipv4.ToUInt32(Start);

    public uint EndValue => Ipv4.ToUInt32(End);

    public long Count => (long)EndValue - StartValue + 1;

    public bool Contains(uint address) => address >= StartValue && address <= EndValue;

    public override string ToString() => $"{Start}-{End}";
}
