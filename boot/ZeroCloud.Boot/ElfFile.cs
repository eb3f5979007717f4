using System.Buffers.Binary;
using System.Text;

namespace ZeroCloud.Boot;

/// <summary>
/// What a 64-bit little-endian ELF needs at run time: its program interpreter (PT_INTERP) and the shared libraries
/// named by DT_NEEDED in its dynamic section. Enough to copy a NativeAOT binary's libraries into an initramfs.
/// </summary>
public sealed record ElfFile(string? Interpreter, IReadOnlyList<string> Needed)
{
    private const uint PtLoad = 1;
    private const uint PtDynamic = 2;
    private const uint PtInterp = 3;
    private const long DtNull = 0;
    private const long DtNeeded = 1;
    private const long DtStrtab = 5;

    public static ElfFile Read(ReadOnlySpan<byte> elf)
    {
        if (elf.Length < 64 || !elf[..4].SequenceEqual("\u007fELF"u8))
        {
            throw new InvalidDataException("not an ELF file");
        }

        if (elf[4] != 2 || elf[5] != 1)
        {
            throw new InvalidDataException("only 64-bit little-endian ELF files are supported");
        }

        var phoff = (long)BinaryPrimitives.ReadUInt64LittleEndian(elf[32..]);
        var phentsize = BinaryPrimitives.ReadUInt16LittleEndian(elf[54..]);
        var phnum = BinaryPrimitives.ReadUInt16LittleEndian(elf[56..]);
        string? interpreter = null;
        (long Offset, long Size) dynamic = default;
        var loads = new List<(ulong Vaddr, ulong Offset, ulong Size)>();
        for (var i = 0; i < phnum; i++)
        {
            var ph = elf.Slice((int)(phoff + (i * phentsize)), phentsize);
            var type = BinaryPrimitives.ReadUInt32LittleEndian(ph);
            var offset = BinaryPrimitives.ReadUInt64LittleEndian(ph[8..]);
            var vaddr = BinaryPrimitives.ReadUInt64LittleEndian(ph[16..]);
            var filesz = BinaryPrimitives.ReadUInt64LittleEndian(ph[32..]);
            switch (type)
            {
                case PtInterp:
                    interpreter = CString(elf[(int)offset..(int)(offset + filesz)]);
                    break;
                case PtDynamic:
                    dynamic = ((long)offset, (long)filesz);
                    break;
                case PtLoad:
                    loads.Add((vaddr, offset, filesz));
                    break;
            }
        }

        if (dynamic.Size == 0)
        {
            return new ElfFile(interpreter, []); // statically linked
        }

        var needed = new List<ulong>();
        ulong strtab = 0;
        for (var at = dynamic.Offset; at + 16 <= dynamic.Offset + dynamic.Size; at += 16)
        {
            var tag = BinaryPrimitives.ReadInt64LittleEndian(elf[(int)at..]);
            var value = BinaryPrimitives.ReadUInt64LittleEndian(elf[(int)(at + 8)..]);
            if (tag == DtNull)
            {
                break;
            }

            if (tag == DtNeeded)
            {
                needed.Add(value);
            }
            else if (tag == DtStrtab)
            {
                strtab = value;
            }
        }

        // DT_STRTAB is a virtual address: find the loaded segment that holds it.
        var segment = loads.FirstOrDefault(l => strtab >= l.Vaddr && strtab < l.Vaddr + l.Size);
        if (segment.Size == 0)
        {
            throw new InvalidDataException("the dynamic string table is in no loaded segment");
        }

        var strtabOffset = (long)(strtab - segment.Vaddr + segment.Offset);
        var names = new List<string>(needed.Count);
        foreach (var n in needed)
        {
            names.Add(CString(elf[(int)(strtabOffset + (long)n)..]));
        }

        return new ElfFile(interpreter, names);
    }

    private static string CString(ReadOnlySpan<byte> bytes)
    {
        var end = bytes.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? bytes : bytes[..end]);
    }

    /// <summary>Where the dynamic loader looks on Debian (multiarch first).</summary>
    public static readonly IReadOnlyList<string> LibraryPath = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/lib", "/usr/lib"];

    /// <summary>The binary's libraries and theirs, transitively, as absolute paths on this host, plus the interpreter.</summary>
    public static SortedSet<string> Closure(string binary, IReadOnlyList<string>? libraryPath = null)
    {
        libraryPath ??= LibraryPath;
        var found = new SortedSet<string>(StringComparer.Ordinal);
        var queue = new Queue<string>([binary]);
        while (queue.Count > 0)
        {
            var elf = Read(File.ReadAllBytes(queue.Dequeue()));
            if (elf.Interpreter is { } interp && found.Add(interp))
            {
                queue.Enqueue(interp);
            }

            foreach (var name in elf.Needed)
            {
                var path = libraryPath.Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists)
                    ?? throw new FileNotFoundException($"{name}, needed by the binary, is in none of {string.Join(", ", libraryPath)}");
                if (found.Add(path))
                {
                    queue.Enqueue(path);
                }
            }
        }

        return found;
    }
}
