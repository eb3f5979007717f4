using System.Buffers.Binary;
using System.Globalization;

namespace ZeroCloud.Model.Net;

/// <summary>A 48-bit Ethernet address. Prints as lower-case, colon-separated hex (<c>52:54:00:00:00:01</c>).</summary>
public readonly record struct MacAddress : IComparable<MacAddress>
{
    private readonly ulong _value;

    public MacAddress(ulong value)
    {
        if (value > 0xFFFF_FFFF_FFFFUL)
        {
            throw new ArgumentOutOfRangeException(nameof(value), "a MAC address has 48 bits");
        }

        _value = value;
    }

    public ulong Value => _value;

    /// <summary>Reads six bytes in wire order.</summary>
    public static MacAddress Read(ReadOnlySpan<byte> bytes)
    {
        Span<byte> eight = stackalloc byte[8];
        eight.Clear();
        bytes[..6].CopyTo(eight[2..]);
        return new MacAddress(BinaryPrimitives.ReadUInt64BigEndian(eight));
    }

    /// <summary>Writes six bytes in wire order.</summary>
    public void WriteTo(Span<byte> destination)
    {
        Span<byte> eight = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(eight, _value);
        eight[2..].CopyTo(destination);
    }

    /// <summary>Accepts six hex pairs separated by ':' or '-' (any case), or twelve hex digits.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out MacAddress mac)
    {
        mac = default;
        ulong value = 0;
        if (text.Length == 12)
        {
            if (!ulong.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value))
            {
                return false;
            }

            mac = new MacAddress(value);
            return true;
        }

        if (text.Length != 17)
        {
            return false;
        }

        var separator = text[2];
        if (separator is not (':' or '-'))
        {
            return false;
        }

        for (var i = 0; i < 6; i++)
        {
            var pair = text.Slice(i * 3, 2);
            if (i < 5 && text[(i * 3) + 2] != separator)
            {
                return false;
            }

            if (!byte.TryParse(pair, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var b))
            {
                return false;
            }

            value = (value << 8) | b;
        }

        mac = new MacAddress(value);
        return true;
    }

    public static MacAddress Parse(string text) =>
        TryParse(text, out var mac) ? mac : throw new FormatException($"'{text}' is not a MAC address (six hex pairs such as 52:54:00:00:00:01)");

    public int CompareTo(MacAddress other) => _value.CompareTo(other._value);

    public static bool operator <(MacAddress left, MacAddress right) => left._value < right._value;

    public static bool operator >(MacAddress left, MacAddress right) => left._value > right._value;

    public static bool operator <=(MacAddress left, MacAddress right) => left._value <= right._value;

    public static bool operator >=(MacAddress left, MacAddress right) => left._value >= right._value;

    public override string ToString()
    {
        Span<byte> b = stackalloc byte[6];
        WriteTo(b);
        return string.Create(CultureInfo.InvariantCulture, $"{b[0]:x2}:{b[1]:x2}:{b[2]:x2}:{b[3]:x2}:{b[4]:x2}:{b[5]:x2}");
    }

    /// <summary>Twelve lower-case hex digits, for file names and host names.</summary>
    public string ToCompactString() => _value.ToString("x12", CultureInfo.InvariantCulture);
}
