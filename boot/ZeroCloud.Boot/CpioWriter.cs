using System.Globalization;
using System.Text;

namespace ZeroCloud.Boot;

/// <summary>One entry of an initramfs: a folder, a regular file, a symlink or a character device.</summary>
public sealed record CpioEntry(string Path, CpioKind Kind, int Mode, byte[] Data, int RdevMajor = 0, int RdevMinor = 0)
{
    public static CpioEntry Directory(string path, int mode = 0b111_101_101) => new(path, CpioKind.Directory, mode, []);

    public static CpioEntry File(string path, byte[] data, int mode = 0b110_100_100) => new(path, CpioKind.File, mode, data);

    public static CpioEntry Symlink(string path, string target) => new(path, CpioKind.Symlink, 0b111_111_111, Encoding.UTF8.GetBytes(target));

    public static CpioEntry CharDevice(string path, int major, int minor, int mode = 0b110_000_000) => new(path, CpioKind.CharDevice, mode, [], major, minor);
}

public enum CpioKind
{
    Directory,
    File,
    Symlink,
    CharDevice,
}

/// <summary>
/// Writes the "newc" cpio format the kernel unpacks into its initial rootfs (Documentation/driver-api/early-userspace/
/// buffer-format.rst). Reproducible by construction: entries sorted by path, inode numbers in that order, owner 0:0,
/// modification time 0, so the same inputs always give the same bytes.
/// </summary>
public static class CpioWriter
{
    private const int TypeDirectory = 0x4000;
    private const int TypeFile = 0x8000;
    private const int TypeSymlink = 0xA000;
    private const int TypeCharDevice = 0x2000;

    public static void Write(Stream output, IEnumerable<CpioEntry> entries)
    {
        var ino = 1;
        foreach (var entry in entries.OrderBy(e => e.Path, StringComparer.Ordinal))
        {
            if (entry.Path.Length == 0 || entry.Path.StartsWith('/') || entry.Path.Split('/').Contains(".."))
            {
                throw new ArgumentException($"'{entry.Path}' is not a relative path inside the archive");
            }

            var type = entry.Kind switch
            {
                CpioKind.Directory => TypeDirectory,
                CpioKind.File => TypeFile,
                CpioKind.Symlink => TypeSymlink,
                _ => TypeCharDevice,
            };
            WriteEntry(output, ino++, type | (entry.Mode & 0xFFF), entry.Kind == CpioKind.Directory ? 2 : 1, entry.Path, entry.Data, entry.RdevMajor, entry.RdevMinor);
        }

        WriteEntry(output, 0, 0, 1, "TRAILER!!!", [], 0, 0);
    }

    private static void WriteEntry(Stream output, int ino, int mode, int nlink, string name, byte[] data, int rdevMajor, int rdevMinor)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name);
        var header = new StringBuilder("070701", 110);
        foreach (var field in new long[] { ino, mode, 0, 0, nlink, 0, data.Length, 0, 0, rdevMajor, rdevMinor, nameBytes.Length + 1, 0 })
        {
            header.Append(field.ToString("X8", CultureInfo.InvariantCulture));
        }

        output.Write(Encoding.ASCII.GetBytes(header.ToString()));
        output.Write(nameBytes);
        output.WriteByte(0);
        Pad(output, 110 + nameBytes.Length + 1);
        output.Write(data);
        Pad(output, data.Length);
    }

    private static void Pad(Stream output, long length)
    {
        for (var i = length; i % 4 != 0; i++)
        {
            output.WriteByte(0);
        }
    }

    /// <summary>Reads back a newc archive (tests, and `zc image ls --files`).</summary>
    public static List<CpioEntry> Read(byte[] archive)
    {
        var entries = new List<CpioEntry>();
        var at = 0;
        while (true)
        {
            if (at + 110 > archive.Length || !archive.AsSpan(at, 6).SequenceEqual("070701"u8))
            {
                throw new InvalidDataException($"no newc header at offset {at}");
            }

            var start = at;
            int Field(int i) => int.Parse(Encoding.ASCII.GetString(archive, start + 6 + (i * 8), 8), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
            int mode = Field(1), size = Field(6), rdevMajor = Field(9), rdevMinor = Field(10), nameSize = Field(11);
            var name = Encoding.UTF8.GetString(archive, at + 110, nameSize - 1);
            var dataStart = Align(at + 110 + nameSize);
            var data = archive.AsSpan(dataStart, size).ToArray();
            at = Align(dataStart + size);
            if (name == "TRAILER!!!")
            {
                return entries;
            }

            var kind = (mode & 0xF000) switch
            {
                TypeDirectory => CpioKind.Directory,
                TypeSymlink => CpioKind.Symlink,
                TypeCharDevice => CpioKind.CharDevice,
                _ => CpioKind.File,
            };
            entries.Add(new CpioEntry(name, kind, mode & 0xFFF, data, rdevMajor, rdevMinor));
        }
    }

    private static int Align(int n) => (n + 3) & ~3;
}
