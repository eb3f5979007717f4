using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace ZeroCloud.Node.Runtime;

/// <summary>
/// Unpacks an image's initrd (a gzip'd newc cpio, as <c>zc image build</c> writes it) into a folder, streaming: folders and
/// regular files only (device nodes and links are skipped: a process needs neither, and a link could point out of the
/// folder), every name relative and free of <c>..</c>, and a bound on the bytes written. Throws
/// <see cref="InvalidDataException"/> naming the offset and entry when the archive is not one.
/// </summary>
internal static class InitrdReader
{
    private const int HeaderLength = 110;

    public static long Unpack(Stream gzipped, string destination, long maxBytes) => Unpack(gzipped, destination, maxBytes, null);

    /// <summary>Unpacks only the regular file <paramref name="only"/> (e.g. <c>init</c>), stopping as soon as it is out; false when the archive has none.</summary>
    public static bool Extract(Stream gzipped, string only, string destination, long maxBytes) => Unpack(gzipped, destination, maxBytes, only) > 0 && File.Exists(Path.Combine(destination, only));

    private static long Unpack(Stream gzipped, string destination, long maxBytes, string? only)
    {
        Directory.CreateDirectory(destination);
        using var cpio = new GZipStream(gzipped, CompressionMode.Decompress, leaveOpen: true);
        var header = new byte[HeaderLength];
        long offset = 0, written = 0;
        var buffer = new byte[1 << 16];
        while (true)
        {
            Read(cpio, header, offset, "a header");
            if (!header.AsSpan(0, 6).SequenceEqual("070701"u8))
            {
                throw new InvalidDataException($"initrd: no newc header at offset {offset}");
            }

            long Field(int i) => long.Parse(Encoding.ASCII.GetString(header, 6 + (i * 8), 8), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
            var (mode, size, nameSize) = ((int)Field(1), Field(6), (int)Field(11));
            if (nameSize is < 1 or > 4096 || size < 0)
            {
                throw new InvalidDataException($"initrd: the entry at offset {offset} has a name of {nameSize} bytes and {size} bytes of data");
            }

            var nameBytes = new byte[nameSize];
            Read(cpio, nameBytes, offset, "a name");
            Skip(cpio, Pad(HeaderLength + nameSize));
            var name = Encoding.UTF8.GetString(nameBytes, 0, nameSize - 1);
            offset += HeaderLength + nameSize + Pad(HeaderLength + nameSize);
            if (name == "TRAILER!!!")
            {
                return written;
            }

            var parts = name.Split('/');
            if (name.Length == 0 || name.StartsWith('/') || parts.Any(p => p is "" or "." or ".."))
            {
                throw new InvalidDataException($"initrd: the entry \"{name}\" at offset {offset} is not a plain relative path");
            }

            var path = Path.Combine(destination, name);
            if (only is not null && name != only)
            {
                Skip(cpio, size + Pad(size));
                offset += size + Pad(size);
                continue;
            }

            switch (mode & 0xF000)
            {
                case 0x4000:
                    Directory.CreateDirectory(path);
                    Skip(cpio, size);
                    break;
                case 0x8000:
                    written += size;
                    if (written > maxBytes)
                    {
                        throw new InvalidDataException($"initrd: more than {maxBytes} bytes unpacked (at \"{name}\")");
                    }

                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
                    {
                        for (var left = size; left > 0;)
                        {
                            var n = cpio.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
                            if (n <= 0)
                            {
                                throw new InvalidDataException($"initrd: \"{name}\" ends early");
                            }

                            file.Write(buffer, 0, n);
                            left -= n;
                        }
                    }

                    if (!OperatingSystem.IsWindows())
                    {
                        File.SetUnixFileMode(path, (UnixFileMode)(mode & 0b111_101_101) | UnixFileMode.UserRead | UnixFileMode.UserWrite);
                    }

                    break;
                default:
                    Skip(cpio, size);
                    break;
            }

            Skip(cpio, Pad(size));
            offset += size + Pad(size);
            if (only is not null)
            {
                return written;
            }
        }
    }

    private static int Pad(long n) => (int)((4 - (n % 4)) % 4);

    private static void Read(Stream s, byte[] into, long offset, string what)
    {
        if (s.ReadAtLeast(into, into.Length, throwOnEndOfStream: false) != into.Length)
        {
            throw new InvalidDataException($"initrd: the archive ends inside {what} at offset {offset}");
        }
    }

    private static void Skip(Stream s, long n)
    {
        Span<byte> scratch = stackalloc byte[512];
        while (n > 0)
        {
            var got = s.Read(scratch[..(int)Math.Min(scratch.Length, n)]);
            if (got <= 0)
            {
                throw new InvalidDataException("initrd: the archive ends early");
            }

            n -= got;
        }
    }
}
