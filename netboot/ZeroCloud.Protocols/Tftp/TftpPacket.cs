using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace ZeroCloud.Netboot.Tftp;

public enum TftpOpcode : ushort
{
    ReadRequest = 1,
    WriteRequest = 2,
    Data = 3,
    Ack = 4,
    Error = 5,
    OptionAck = 6,
}

/// <summary>TFTP error codes (RFC 1350, 2347).</summary>
public enum TftpErrorCode : ushort
{
    NotDefined = 0,
    FileNotFound = 1,
    AccessViolation = 2,
    DiskFull = 3,
    IllegalOperation = 4,
    UnknownTransferId = 5,
    FileExists = 6,
    NoSuchUser = 7,
    OptionRefused = 8,
}

/// <summary>Why a TFTP request was not accepted.</summary>
public enum TftpParseError
{
    None,
    TooShort,
    UnknownOpcode,
    NotTerminated,
    NameNotUtf8,
    EmptyName,
    BadMode,
    OddOptions,
}

/// <summary>A read or write request: file name, mode and options (RFC 1350 §5, RFC 2347), names lower-cased.</summary>
public sealed record TftpRequest(TftpOpcode Opcode, string FileName, string Mode, IReadOnlyList<KeyValuePair<string, string>> Options)
{
    private static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    public string? Option(string name) => Options.FirstOrDefault(o => o.Key == name).Value;

    public static bool TryParse(ReadOnlySpan<byte> packet, [NotNullWhen(true)] out TftpRequest? request, out TftpParseError error)
    {
        request = null;
        if (packet.Length < 4)
        {
            error = TftpParseError.TooShort;
            return false;
        }

        var opcode = (TftpOpcode)BinaryPrimitives.ReadUInt16BigEndian(packet);
        if (opcode is not (TftpOpcode.ReadRequest or TftpOpcode.WriteRequest))
        {
            error = TftpParseError.UnknownOpcode;
            return false;
        }

        var fields = new List<string>();
        var rest = packet[2..];
        while (!rest.IsEmpty)
        {
            var end = rest.IndexOf((byte)0);
            if (end < 0)
            {
                error = TftpParseError.NotTerminated;
                return false;
            }

            try
            {
                fields.Add(StrictUtf8.GetString(rest[..end]));
            }
            catch (DecoderFallbackException)
            {
                error = TftpParseError.NameNotUtf8;
                return false;
            }

            rest = rest[(end + 1)..];
        }

        if (fields.Count < 2)
        {
            error = TftpParseError.NotTerminated;
            return false;
        }

        if (fields[0].Length == 0)
        {
            error = TftpParseError.EmptyName;
            return false;
        }

        var mode = fields[1].ToLowerInvariant();
        if (mode is not ("octet" or "netascii" or "mail"))
        {
            error = TftpParseError.BadMode;
            return false;
        }

        // Some clients pad with a trailing empty field; options come in name/value pairs.
        var optionFields = fields.Skip(2).ToList();
        if (optionFields.Count % 2 == 1)
        {
            if (optionFields[^1].Length != 0)
            {
                error = TftpParseError.OddOptions;
                return false;
            }

            optionFields.RemoveAt(optionFields.Count - 1);
        }

        var options = new List<KeyValuePair<string, string>>();
        for (var i = 0; i < optionFields.Count; i += 2)
        {
            options.Add(new(optionFields[i].ToLowerInvariant(), optionFields[i + 1]));
        }

        request = new TftpRequest(opcode, fields[0], mode, options);
        error = TftpParseError.None;
        return true;
    }

    public int WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)Opcode);
        var at = 2;
        foreach (var field in new[] { FileName, Mode }.Concat(Options.SelectMany(o => new[] { o.Key, o.Value })))
        {
            at += Encoding.UTF8.GetBytes(field, destination[at..]);
            destination[at++] = 0;
        }

        return at;
    }
}

/// <summary>Encoders and decoders for the small TFTP packets. Pure: spans in, values out.</summary>
public static class TftpCodec
{
    public const int HeaderLength = 4;

    public static bool TryReadOpcode(ReadOnlySpan<byte> packet, out TftpOpcode opcode)
    {
        opcode = packet.Length >= 2 ? (TftpOpcode)BinaryPrimitives.ReadUInt16BigEndian(packet) : 0;
        return packet.Length >= 2 && opcode is >= TftpOpcode.ReadRequest and <= TftpOpcode.OptionAck;
    }

    public static bool TryParseAck(ReadOnlySpan<byte> packet, out ushort block)
    {
        block = 0;
        if (packet.Length < 4 || BinaryPrimitives.ReadUInt16BigEndian(packet) != (ushort)TftpOpcode.Ack)
        {
            return false;
        }

        block = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        return true;
    }

    public static bool TryParseData(ReadOnlySpan<byte> packet, out ushort block, out ReadOnlySpan<byte> data)
    {
        block = 0;
        data = default;
        if (packet.Length < 4 || BinaryPrimitives.ReadUInt16BigEndian(packet) != (ushort)TftpOpcode.Data)
        {
            return false;
        }

        block = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        data = packet[4..];
        return true;
    }

    public static bool TryParseError(ReadOnlySpan<byte> packet, out TftpErrorCode code, out string message)
    {
        code = 0;
        message = "";
        if (packet.Length < 4 || BinaryPrimitives.ReadUInt16BigEndian(packet) != (ushort)TftpOpcode.Error)
        {
            return false;
        }

        code = (TftpErrorCode)BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        var text = packet[4..];
        var end = text.IndexOf((byte)0);
        message = Encoding.UTF8.GetString(end < 0 ? text : text[..end]);
        return true;
    }

    /// <summary>Writes the 4-byte DATA header; the caller puts the payload after it.</summary>
    public static void WriteDataHeader(Span<byte> destination, ushort block)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)TftpOpcode.Data);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], block);
    }

    public static int WriteAck(Span<byte> destination, ushort block)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)TftpOpcode.Ack);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], block);
        return 4;
    }

    public static int WriteError(Span<byte> destination, TftpErrorCode code, string message)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)TftpOpcode.Error);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)code);
        var length = Encoding.UTF8.GetBytes(message.AsSpan(0, Math.Min(message.Length, 200)), destination[4..]);
        destination[4 + length] = 0;
        return 5 + length;
    }

    public static int WriteOptionAck(Span<byte> destination, IEnumerable<KeyValuePair<string, string>> options)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)TftpOpcode.OptionAck);
        var at = 2;
        foreach (var (name, value) in options)
        {
            at += Encoding.ASCII.GetBytes(name, destination[at..]);
            destination[at++] = 0;
            at += Encoding.ASCII.GetBytes(value, destination[at..]);
            destination[at++] = 0;
        }

        return at;
    }

    /// <summary>A read or write request: the file, the mode and the options (RFC 2347), each NUL-terminated.</summary>
    public static int WriteRequest(Span<byte> destination, TftpOpcode opcode, string file, string mode, IEnumerable<KeyValuePair<string, string>> options)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)opcode);
        var at = 2;
        foreach (var part in (IEnumerable<string>)[file, mode, .. options.SelectMany(o => (string[])[o.Key, o.Value])])
        {
            at += Encoding.UTF8.GetBytes(part, destination[at..]);
            destination[at++] = 0;
        }

        return at;
    }

    /// <summary>An OACK's options (RFC 2347), in order; false when the packet is not a well-formed OACK.</summary>
    public static bool TryParseOptionAck(ReadOnlySpan<byte> packet, [NotNullWhen(true)] out IReadOnlyList<KeyValuePair<string, string>>? options)
    {
        options = null;
        if (packet.Length < 2 || BinaryPrimitives.ReadUInt16BigEndian(packet) != (ushort)TftpOpcode.OptionAck)
        {
            return false;
        }

        var parts = new List<string>();
        var rest = packet[2..];
        while (rest.Length > 0)
        {
            var end = rest.IndexOf((byte)0);
            if (end < 0)
            {
                return false;
            }

            parts.Add(Encoding.ASCII.GetString(rest[..end]));
            rest = rest[(end + 1)..];
        }

        if (parts.Count % 2 != 0)
        {
            return false;
        }

        options = [.. Enumerable.Range(0, parts.Count / 2).Select(i => new KeyValuePair<string, string>(parts[2 * i], parts[(2 * i) + 1]))];
        return true;
    }
}
