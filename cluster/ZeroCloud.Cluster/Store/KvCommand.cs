using System.Text;

namespace ZeroCloud.Cluster.Store;

public enum CompareTarget : byte
{
    Version = 1,
    CreateRevision = 2,
    ModRevision = 3,
    Value = 4,
}

public enum CompareOp : byte
{
    Equal = 1,
    NotEqual = 2,
    Less = 3,
    Greater = 4,
}

/// <summary>One condition of a transaction, as in etcd: a key's version, create or mod revision, or value, compared to a constant. A missing key has version and revisions 0.</summary>
public sealed record Compare(string Key, CompareTarget Target, CompareOp Op, long Number = 0, byte[]? Value = null);

/// <summary>A write inside a transaction.</summary>
public abstract record KvOp(string Key);

public sealed record PutOp(string Key, byte[] Value) : KvOp(Key);

/// <summary>Deletes <see cref="KvOp.Key"/>, or every key that starts with it when <paramref name="Prefix"/> is set.</summary>
public sealed record DeleteOp(string Key, bool Prefix = false) : KvOp(Key);

/// <summary>
/// The only command the state machine applies: if every comparison holds, the success writes, else the failure
/// writes; all of them at one new revision (none when nothing changes). A plain put is a transaction with no
/// comparisons. Encoded to bytes for the Raft log by <see cref="Encode"/> / <see cref="Decode(ReadOnlySpan{byte})"/>.
/// </summary>
public sealed record KvTxn(IReadOnlyList<Compare> Compares, IReadOnlyList<KvOp> Success, IReadOnlyList<KvOp> Failure)
{
    private const byte FormatVersion = 1;

    public static KvTxn Put(string key, byte[] value) => new([], [new PutOp(key, value)], []);

    public static KvTxn Delete(string key, bool prefix = false) => new([], [new DeleteOp(key, prefix)], []);

    public byte[] Encode()
    {
        using var stream = new MemoryStream();
        using var w = new BinaryWriter(stream, Encoding.UTF8);
        w.Write(FormatVersion);
        w.Write7BitEncodedInt(Compares.Count);
        foreach (var c in Compares)
        {
            w.Write(c.Key);
            w.Write((byte)c.Target);
            w.Write((byte)c.Op);
            w.Write(c.Number);
            WriteBytes(w, c.Value);
        }

        foreach (var ops in new[] { Success, Failure })
        {
            w.Write7BitEncodedInt(ops.Count);
            foreach (var op in ops)
            {
                switch (op)
                {
                    case PutOp put:
                        w.Write((byte)1);
                        w.Write(put.Key);
                        WriteBytes(w, put.Value);
                        break;
                    case DeleteOp delete:
                        w.Write((byte)2);
                        w.Write(delete.Key);
                        w.Write(delete.Prefix);
                        break;
                }
            }
        }

        w.Flush();
        return stream.ToArray();
    }

    public static KvTxn Decode(ReadOnlySpan<byte> bytes) => Decode(bytes, out _);

    private static KvTxn Decode(ReadOnlySpan<byte> bytes, out long consumed)
    {
        using var stream = new MemoryStream(bytes.ToArray());
        using var r = new BinaryReader(stream, Encoding.UTF8);
        if (r.ReadByte() != FormatVersion)
        {
            throw new InvalidDataException("unknown transaction format");
        }

        var compares = new List<Compare>();
        for (var i = r.Read7BitEncodedInt(); i > 0; i--)
        {
            compares.Add(new Compare(r.ReadString(), (CompareTarget)r.ReadByte(), (CompareOp)r.ReadByte(), r.ReadInt64(), ReadBytes(r)));
        }

        var lists = new List<KvOp>[2];
        for (var l = 0; l < 2; l++)
        {
            lists[l] = [];
            for (var i = r.Read7BitEncodedInt(); i > 0; i--)
            {
                lists[l].Add(r.ReadByte() switch
                {
                    1 => new PutOp(r.ReadString(), ReadBytes(r) ?? []),
                    2 => new DeleteOp(r.ReadString(), r.ReadBoolean()),
                    var kind => throw new InvalidDataException($"unknown operation {kind}"),
                });
            }
        }

        consumed = stream.Position;
        return new KvTxn(compares, lists[0], lists[1]);
    }

    private static void WriteBytes(BinaryWriter w, byte[]? value)
    {
        w.Write7BitEncodedInt(value is null ? -1 : value.Length);
        if (value is not null)
        {
            w.Write(value);
        }
    }

    private static byte[]? ReadBytes(BinaryReader r)
    {
        var length = r.Read7BitEncodedInt();
        if (length > r.BaseStream.Length - r.BaseStream.Position)
        {
            throw new InvalidDataException($"a value of {length} bytes runs past the end of the entry");
        }

        return length < 0 ? null : r.ReadBytes(length);
    }

    /// <summary>
    /// A total decoder for log entries: the transaction, or null and what is wrong with the bytes. No exception
    /// escapes, lengths are checked against what is there, enums must be known and nothing may follow the
    /// transaction, so every member skips the same undecodable entry the same way instead of stopping its applier.
    /// </summary>
    public static KvTxn? TryDecode(ReadOnlySpan<byte> bytes, out string? problem)
    {
        try
        {
            var txn = Decode(bytes, out var consumed);
            problem = consumed != bytes.Length ? $"{bytes.Length - consumed} bytes follow the transaction"
                : txn.Compares.FirstOrDefault(c => !Enum.IsDefined(c.Target) || !Enum.IsDefined(c.Op)) is { } bad ? $"compare on \"{bad.Key}\": unknown target or operator"
                : null;
            return problem is null ? txn : null;
        }
#pragma warning disable CA1031 // total by design: whatever the bytes are, the answer is "undecodable", never an exception
        catch (Exception ex)
#pragma warning restore CA1031
        {
            problem = $"{ex.GetType().Name}: {ex.Message}";
            return null;
        }
    }
}
