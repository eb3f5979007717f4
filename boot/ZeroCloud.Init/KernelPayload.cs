using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;

namespace ZeroCloud.Init;

/// <summary>
/// The kernel inside a bzImage: its compressed payload (boot protocol 2.08+: <c>payload_offset</c> and
/// <c>payload_length</c> in the setup header, from the start of the protected-mode code) decompressed to the
/// <c>vmlinux</c> ELF, which QEMU boots directly through its PVH entry note. Under emulation (TCG) that saves the
/// guest's own decompression, the slowest part of its boot (about 7 s to /init from a Debian bzImage here, 2.4 s from
/// its vmlinux). XZ (Debian's choice) is decoded by the system's liblzma, gzip by .NET; other payloads are refused.
/// </summary>
public static partial class KernelPayload
{
    /// <summary>Why <paramref name="bzImage"/> has no payload this can extract; null when it has one.</summary>
    public static string? Problem(ReadOnlySpan<byte> bzImage) => Locate(bzImage, out _, out _);

    /// <summary>Writes the vmlinux of <paramref name="bzImage"/> to <paramref name="output"/>; throws <see cref="InvalidDataException"/> saying what is wrong.</summary>
    public static void ExtractVmlinux(byte[] bzImage, Stream output)
    {
        if (Locate(bzImage, out var offset, out var length) is { } problem)
        {
            throw new InvalidDataException(problem);
        }

        var payload = bzImage.AsSpan(offset, length);
        if (payload.StartsWith(XzMagic))
        {
            Xz.Decode(payload, output);
        }
        else if (payload.StartsWith(GzipMagic))
        {
            using var gzip = new GZipStream(new MemoryStream(bzImage, offset, length, writable: false), CompressionMode.Decompress);
            gzip.CopyTo(output);
        }
        else
        {
            throw new InvalidDataException($"the kernel payload is compressed with a method this cannot decode (magic {Convert.ToHexString(payload[..Math.Min(6, payload.Length)])}; xz and gzip are supported)");
        }
    }

    private static ReadOnlySpan<byte> XzMagic => [0xFD, (byte)'7', (byte)'z', (byte)'X', (byte)'Z', 0x00];

    private static ReadOnlySpan<byte> GzipMagic => [0x1F, 0x8B];

    private static ReadOnlySpan<byte> ElfMagic => [0x7F, (byte)'E', (byte)'L', (byte)'F'];

    private static string? Locate(ReadOnlySpan<byte> image, out int offset, out int length)
    {
        offset = length = 0;
        if (image.Length < 0x250 || !image.Slice(0x202, 4).SequenceEqual("HdrS"u8))
        {
            return "not a bzImage (no \"HdrS\" setup header at 0x202)";
        }

        var version = BinaryPrimitives.ReadUInt16LittleEndian(image[0x206..]);
        if (version < 0x0208)
        {
            return $"boot protocol {version >> 8}.{version & 0xFF} has no payload fields (2.08 or newer is needed)";
        }

        var setupSectors = image[0x1F1] == 0 ? 4 : image[0x1F1];
        var protectedMode = (setupSectors + 1) * 512L;
        var start = protectedMode + BinaryPrimitives.ReadUInt32LittleEndian(image[0x248..]);
        var size = (long)BinaryPrimitives.ReadUInt32LittleEndian(image[0x24C..]);
        if (size == 0 || start + size > image.Length)
        {
            return $"the payload ({size} bytes at {start}) lies outside the {image.Length}-byte file";
        }

        offset = (int)start;
        length = (int)size;
        return null;
    }

    /// <summary>True when <paramref name="path"/> starts like an ELF file (a vmlinux, not a bzImage).</summary>
    public static bool IsElf(string path)
    {
        Span<byte> head = stackalloc byte[4];
        using var file = File.OpenRead(path);
        return file.ReadAtLeast(head, 4, throwOnEndOfStream: false) == 4 && head.SequenceEqual(ElfMagic);
    }

    /// <summary>liblzma's stream decoder (xz-utils, on every Debian system), one call per block of output.</summary>
    private static partial class Xz
    {
        private const string Library = "liblzma.so.5";
        private const int Ok = 0;
        private const int StreamEnd = 1;
        private const int Run = 0;
        private const int Finish = 3;

        [StructLayout(LayoutKind.Sequential)]
        private unsafe struct LzmaStream
        {
            public byte* NextIn;
            public nuint AvailIn;
            public ulong TotalIn;
            public byte* NextOut;
            public nuint AvailOut;
            public ulong TotalOut;
            public nint Allocator;
            public nint Internal;
            public nint Reserved1;
            public nint Reserved2;
            public nint Reserved3;
            public nint Reserved4;
            public ulong SeekPos;
            public ulong ReservedInt2;
            public nuint ReservedInt3;
            public nuint ReservedInt4;
            public int ReservedEnum1;
            public int ReservedEnum2;
        }

        [LibraryImport(Library, EntryPoint = "lzma_stream_decoder")]
        private static unsafe partial int StreamDecoder(LzmaStream* stream, ulong memoryLimit, uint flags);

        [LibraryImport(Library, EntryPoint = "lzma_code")]
        private static unsafe partial int Code(LzmaStream* stream, int action);

        [LibraryImport(Library, EntryPoint = "lzma_end")]
        private static unsafe partial void End(LzmaStream* stream);

        /// <summary>
        /// Decodes one .xz stream (the kernel's build appends the uncompressed size after it: bytes past the stream's
        /// end are ignored, as the kernel's own decompressor does).
        /// </summary>
        public static unsafe void Decode(ReadOnlySpan<byte> input, Stream output)
        {
            var stream = default(LzmaStream);
            int started;
            try
            {
                started = StreamDecoder(&stream, ulong.MaxValue, 0);
            }
            catch (DllNotFoundException ex)
            {
                throw new InvalidDataException($"the kernel payload is xz and {Library} could not be loaded ({ex.Message}); apt-get install liblzma5", ex);
            }

            if (started != Ok)
            {
                throw new InvalidDataException($"lzma_stream_decoder failed ({started})");
            }

            var buffer = new byte[1 << 20];
            try
            {
                fixed (byte* source = input)
                fixed (byte* target = buffer)
                {
                    stream.NextIn = source;
                    stream.AvailIn = (nuint)input.Length;
                    while (true)
                    {
                        stream.NextOut = target;
                        stream.AvailOut = (nuint)buffer.Length;
                        var result = Code(&stream, stream.AvailIn == 0 ? Finish : Run);
                        output.Write(buffer, 0, buffer.Length - (int)stream.AvailOut);
                        if (result == StreamEnd)
                        {
                            return;
                        }

                        if (result != Ok)
                        {
                            // 7: LZMA_FORMAT_ERROR, 8: LZMA_OPTIONS_ERROR, 9: LZMA_DATA_ERROR, 10: LZMA_BUF_ERROR (truncated).
                            throw new InvalidDataException($"the kernel's xz payload is damaged or truncated (liblzma error {result} after {stream.TotalIn} of {input.Length} bytes)");
                        }
                    }
                }
            }
            finally
            {
                End(&stream);
            }
        }
    }
}
