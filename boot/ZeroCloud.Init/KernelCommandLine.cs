namespace ZeroCloud.Init;

/// <summary>The <c>zc.*</c> parameters from /proc/cmdline: <c>zc.join=</c>, <c>zc.token=</c>, <c>zc.name=</c>, <c>zc.mac=</c>, <c>zc.cluster=</c>.</summary>
public sealed record KernelCommandLine(IReadOnlyDictionary<string, string> Values)
{
    public string? this[string key] => Values.GetValueOrDefault(key);

    public static KernelCommandLine Parse(string cmdline)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var word in cmdline.Split((char[])[' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries))
        {
            if (!word.StartsWith("zc.", StringComparison.Ordinal))
            {
                continue;
            }

            var eq = word.IndexOf('=', StringComparison.Ordinal);
            values[eq < 0 ? word[3..] : word[3..eq]] = eq < 0 ? "" : word[(eq + 1)..];
        }

        return new KernelCommandLine(values);
    }
}
