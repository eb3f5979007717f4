using System.Text;
using ZeroCloud.Netboot.Posix;

namespace ZeroCloud.Netboot.Tftp;

/// <summary>
/// A read-only folder files are served from. A name is refused unless it stays inside: no "..", no absolute path,
/// no control characters, nothing over 255 bytes, and after every symlink is resolved the file is still under the
/// root and is a regular file (no devices, fifos or folders). A second folder (the distro's iPXE binaries) answers
/// for the names it holds when the root does not have them.
/// </summary>
public sealed class TftpRoot
{
    public const int MaxNameBytes = 255;
    private readonly string _root;
    private readonly string? _fallback;

    public TftpRoot(string root, string? fallback = null)
    {
        _root = NativeFs.RealPath(root) ?? throw new DirectoryNotFoundException($"the TFTP root {root} does not exist");
        _fallback = fallback is null ? null : NativeFs.RealPath(fallback);
    }

    public string Path => _root;

    /// <summary>Resolves <paramref name="name"/> to a file to serve, or says why not.</summary>
    public bool TryResolve(string name, out string path, out TftpErrorCode code, out string reason)
    {
        path = "";
        code = TftpErrorCode.AccessViolation;
        if (Encoding.UTF8.GetByteCount(name) > MaxNameBytes)
        {
            reason = $"name longer than {MaxNameBytes} bytes";
            return false;
        }

        if (name.Any(char.IsControl))
        {
            reason = "control character in the name";
            return false;
        }

        var normalized = name.Replace('\\', '/');
        if (normalized.StartsWith('/'))
        {
            reason = "absolute path";
            return false;
        }

        var segments = normalized.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Any(s => s == ".."))
        {
            reason = "'..' in the path";
            return false;
        }

        if (segments.Length == 0)
        {
            reason = "empty name";
            return false;
        }

        foreach (var root in _fallback is null ? [_root] : new[] { _root, _fallback })
        {
            var candidate = System.IO.Path.Combine([root, .. segments]);
            var real = NativeFs.RealPath(candidate);
            if (real is null)
            {
                continue;
            }

            if (!real.StartsWith(root + "/", StringComparison.Ordinal))
            {
                reason = "the path leads outside the root (symlink)";
                return false;
            }

            if (NativeFs.KindOf(real) != NativeFs.FileKind.Regular)
            {
                reason = "not a regular file";
                return false;
            }

            path = real;
            code = 0;
            reason = "";
            return true;
        }

        code = TftpErrorCode.FileNotFound;
        reason = "no such file";
        return false;
    }

    /// <summary>RFC 764 netascii: LF becomes CR LF, a bare CR becomes CR NUL.</summary>
    public static byte[] ToNetascii(ReadOnlySpan<byte> data)
    {
        var output = new List<byte>(data.Length + (data.Length / 16));
        foreach (var b in data)
        {
            switch (b)
            {
                case (byte)'\n':
                    output.Add((byte)'\r');
                    output.Add((byte)'\n');
                    break;
                case (byte)'\r':
                    output.Add((byte)'\r');
                    output.Add(0);
                    break;
                default:
                    output.Add(b);
                    break;
            }
        }

        return [.. output];
    }
}
