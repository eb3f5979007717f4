using System.Text;

namespace ZeroCloud.Init;

/// <summary>
/// A list of arguments carried in one kernel command-line parameter (<c>zc.args=</c>): base64url of the arguments
/// joined by NUL, so an argument holding spaces, quotes, commas or '=' can neither split the command line nor add a
/// parameter of its own. Arguments cannot contain NUL (the placement's validation refuses it).
/// </summary>
public static class KernelArgumentList
{
    /// <summary>The kernel's command line is at most this long on x86 (COMMAND_LINE_SIZE).</summary>
    public const int MaxCommandLine = 2048;

    public static string Encode(IReadOnlyList<string> arguments)
    {
        if (arguments.Any(a => a.Contains('\0', StringComparison.Ordinal)))
        {
            throw new ArgumentException("an argument contains NUL", nameof(arguments));
        }

        return Convert.ToBase64String(Encoding.UTF8.GetBytes(string.Join('\0', arguments))).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    /// <summary>The arguments back; null when <paramref name="encoded"/> is not base64url.</summary>
    public static string[]? Decode(string encoded)
    {
        if (encoded.Length == 0)
        {
            return [];
        }

        var text = encoded.Replace('-', '+').Replace('_', '/');
        text += new string('=', (4 - (text.Length % 4)) % 4);
        var bytes = new byte[text.Length * 3 / 4];
        if (!Convert.TryFromBase64String(text, bytes, out var written))
        {
            return null;
        }

        return Encoding.UTF8.GetString(bytes, 0, written).Split('\0');
    }
}
