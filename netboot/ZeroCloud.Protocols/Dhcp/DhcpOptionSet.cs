using System.Buffers.Binary;
using System.Collections;
using System.Text;

namespace ZeroCloud.Netboot.Dhcp;

/// <summary>
/// The options of one message, in the order first seen. A code that appears more than once holds the
/// concatenation of its instances (RFC 3396), so a long option split by the sender reads back whole.
/// </summary>
public sealed class DhcpOptionSet : IEnumerable<(byte Code, byte[] Value)>
{
    private readonly List<(byte Code, byte[] Value)> _options = [];

    public int Count => _options.Count;

    public bool Contains(byte code) => IndexOf(code) >= 0;

    public bool TryGet(byte code, out ReadOnlySpan<byte> value)
    {
        var i = IndexOf(code);
        value = i >= 0 ? _options[i].Value : default;
        return i >= 0;
    }

    public byte[]? Get(byte code) => IndexOf(code) is var i and >= 0 ? _options[i].Value : null;

    /// <summary>Sets an option, replacing one with the same code (tests and replies build sets this way).</summary>
    public DhcpOptionSet Set(byte code, ReadOnlySpan<byte> value)
    {
        var i = IndexOf(code);
        if (i >= 0)
        {
            _options[i] = (code, value.ToArray());
        }
        else
        {
            _options.Add((code, value.ToArray()));
        }

        return this;
    }

    public uint? GetAddress(byte code) =>
        TryGet(code, out var v) && v.Length == 4 ? BinaryPrimitives.ReadUInt32BigEndian(v) : null;

    public ushort? GetUInt16(byte code) =>
        TryGet(code, out var v) && v.Length == 2 ? BinaryPrimitives.ReadUInt16BigEndian(v) : null;

    public string? GetString(byte code) =>
        TryGet(code, out var v) ? Encoding.ASCII.GetString(v).TrimEnd('\0') : null;

    internal DhcpParseError ReadFrom(ReadOnlySpan<byte> field, out int overload)
    {
        overload = 0;
        var i = 0;
        while (i < field.Length)
        {
            var code = field[i++];
            if (code == DhcpOption.Pad)
            {
                continue;
            }

            if (code == DhcpOption.End)
            {
                return DhcpParseError.None;
            }

            if (i >= field.Length)
            {
                return DhcpParseError.OptionOverrun;
            }

            int length = field[i++];
            if (i + length > field.Length)
            {
                return DhcpParseError.OptionOverrun;
            }

            var value = field.Slice(i, length);
            i += length;
            if (code == DhcpOption.Overload)
            {
                overload = length == 1 ? value[0] : -1;
                continue;
            }

            Append(code, value);
        }

        // No end option: accepted when the field ends on an option boundary (seen from some embedded clients).
        return DhcpParseError.None;
    }

    private void Append(byte code, ReadOnlySpan<byte> value)
    {
        var index = IndexOf(code);
        if (index < 0)
        {
            _options.Add((code, value.ToArray()));
            return;
        }

        var joined = new byte[_options[index].Value.Length + value.Length];
        _options[index].Value.CopyTo(joined, 0);
        value.CopyTo(joined.AsSpan(_options[index].Value.Length));
        _options[index] = (code, joined);
    }

    private int IndexOf(byte code)
    {
        for (var i = 0; i < _options.Count; i++)
        {
            if (_options[i].Code == code)
            {
                return i;
            }
        }

        return -1;
    }

    public IEnumerator<(byte Code, byte[] Value)> GetEnumerator() => _options.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
