using System.Buffers.Binary;
using System.Text;

namespace ZeroCloud.Netboot.Dhcp;

/// <summary>
/// Writes a DHCP message into a caller's buffer: header, magic cookie, options (an option longer than 255
/// bytes is split into consecutive instances, RFC 3396), end, padding. Allocates nothing.
/// </summary>
public ref struct DhcpWriter
{
    private readonly Span<byte> _buffer;
    private int _length;

    public DhcpWriter(Span<byte> buffer)
    {
        if (buffer.Length < DhcpPacket.BootpMinimumLength)
        {
            throw new ArgumentException($"a DHCP buffer holds at least {DhcpPacket.BootpMinimumLength} bytes", nameof(buffer));
        }

        _buffer = buffer;
        _length = 0;
    }

    /// <summary>Room left for options, keeping one byte for the end option.</summary>
    public readonly int Remaining => _buffer.Length - _length - 1;

    public void WriteHeader(DhcpPacket p) =>
        WriteHeader(p.Op, p.HardwareType, p.HardwareAddressLength, p.Hops, p.TransactionId, p.Seconds, p.Flags,
            p.ClientAddress, p.YourAddress, p.ServerAddress, p.RelayAddress, p.ClientHardwareAddress, p.ServerName, p.BootFile);

    public void WriteHeader(
        byte op, byte htype, byte hlen, byte hops, uint xid, ushort secs, ushort flags,
        uint ciaddr, uint yiaddr, uint siaddr, uint giaddr, ReadOnlySpan<byte> chaddr, string? sname, string? file)
    {
        var b = _buffer;
        b[..DhcpPacket.MinimumLength].Clear();
        b[0] = op;
        b[1] = htype;
        b[2] = hlen;
        b[3] = hops;
        BinaryPrimitives.WriteUInt32BigEndian(b[4..], xid);
        BinaryPrimitives.WriteUInt16BigEndian(b[8..], secs);
        BinaryPrimitives.WriteUInt16BigEndian(b[10..], flags);
        BinaryPrimitives.WriteUInt32BigEndian(b[12..], ciaddr);
        BinaryPrimitives.WriteUInt32BigEndian(b[16..], yiaddr);
        BinaryPrimitives.WriteUInt32BigEndian(b[20..], siaddr);
        BinaryPrimitives.WriteUInt32BigEndian(b[24..], giaddr);
        chaddr[..Math.Min(16, chaddr.Length)].CopyTo(b[28..44]);
        WriteField(b.Slice(44, 64), sname);
        WriteField(b.Slice(108, 128), file);
        DhcpPacket.MagicCookie.CopyTo(b[DhcpPacket.HeaderLength..]);
        _length = DhcpPacket.MinimumLength;
    }

    public void AddOption(byte code, scoped ReadOnlySpan<byte> value)
    {
        do
        {
            var chunk = Math.Min(value.Length, 255);
            if (_length + 2 + chunk + 1 > _buffer.Length)
            {
                throw new InvalidOperationException($"option {code} does not fit in a {_buffer.Length}-byte message");
            }

            _buffer[_length++] = code;
            _buffer[_length++] = (byte)chunk;
            value[..chunk].CopyTo(_buffer[_length..]);
            _length += chunk;
            value = value[chunk..];
        }
        while (!value.IsEmpty);
    }

    public void AddOption(byte code, byte value) => AddOption(code, [value]);

    public void AddOption(byte code, ushort value)
    {
        Span<byte> v = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(v, value);
        AddOption(code, v);
    }

    public void AddOption(byte code, uint value)
    {
        Span<byte> v = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(v, value);
        AddOption(code, v);
    }

    public void AddAddresses(byte code, scoped ReadOnlySpan<uint> addresses)
    {
        Span<byte> v = stackalloc byte[addresses.Length * 4];
        for (var i = 0; i < addresses.Length; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(v[(i * 4)..], addresses[i]);
        }

        AddOption(code, v);
    }

    public void AddOption(byte code, string ascii)
    {
        Span<byte> v = stackalloc byte[Encoding.ASCII.GetByteCount(ascii)];
        Encoding.ASCII.GetBytes(ascii, v);
        AddOption(code, v);
    }

    /// <summary>Writes the end option and zero padding up to <paramref name="minimumLength"/>; returns the message length.</summary>
    public int Finish(int minimumLength = DhcpPacket.BootpMinimumLength)
    {
        _buffer[_length++] = DhcpOption.End;
        var total = Math.Max(_length, Math.Min(minimumLength, _buffer.Length));
        _buffer[_length..total].Clear();
        return total;
    }

    private static void WriteField(Span<byte> field, string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return;
        }

        if (Encoding.ASCII.GetByteCount(text) >= field.Length)
        {
            throw new ArgumentException($"\"{text}\" does not fit the {field.Length}-byte field", nameof(text));
        }

        Encoding.ASCII.GetBytes(text, field);
    }
}
