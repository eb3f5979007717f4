namespace ZeroCloud.Model;

/// <summary>
/// A secret kept in a file only its owner can read (0600), so it never has to appear in an argument list (world-readable
/// in /proc/&lt;pid&gt;/cmdline), a log line or a program's output.
/// </summary>
public static class SecretFile
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Writes <paramref name="secret"/> to <paramref name="path"/>, created 0600 (and made 0600 if it existed).</summary>
    public static void Write(string path, string secret)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerOnly;
        }

        using (var stream = new FileStream(path, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(secret);
            writer.Write('\n');
        }

        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, OwnerOnly);
        }
    }

    /// <summary>The secret in <paramref name="path"/> (its first line), or null with the reason.</summary>
    public static string? Read(string path, out string? problem)
    {
        try
        {
            var text = File.ReadLines(path).FirstOrDefault()?.Trim();
            problem = string.IsNullOrEmpty(text) ? $"{path} is empty" : null;
            return problem is null ? text : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            problem = $"{path}: {ex.Message}";
            return null;
        }
    }
}
