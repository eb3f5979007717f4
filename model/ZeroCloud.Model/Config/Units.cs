using System.Globalization;

namespace ZeroCloud.Model.Config;

/// <summary>Durations as operators write them: <c>500ms</c>, <c>5s</c>, <c>1m30s</c>, <c>1h</c>, <c>7d</c>.</summary>
public static class Durations
{
    public const string Hint = "a number with a unit, such as 500ms, 5s, 1m30s, 1h or 1d";

    public static bool TryParse(ReadOnlySpan<char> text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (text.IsEmpty)
        {
            return false;
        }

        decimal totalMs = 0;
        var i = 0;
        while (i < text.Length)
        {
            var start = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
            {
                i++;
            }

            if (i == start || !decimal.TryParse(text[start..i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                return false;
            }

            var unitStart = i;
            while (i < text.Length && char.IsAsciiLetterLower(text[i]))
            {
                i++;
            }

            decimal scale;
            switch (text[unitStart..i])
            {
                case "ms": scale = 1; break;
                case "s": scale = 1000; break;
                case "m": scale = 60_000; break;
                case "h": scale = 3_600_000; break;
                case "d": scale = 86_400_000; break;
                default: return false;
            }

            totalMs += number * scale;
            if (totalMs > (decimal)TimeSpan.MaxValue.TotalMilliseconds / 2)
            {
                return false;
            }
        }

        value = TimeSpan.FromMilliseconds((double)totalMs);
        return true;
    }

    /// <summary>The shortest form that <see cref="TryParse"/> reads back to the same value.</summary>
    public static string Format(TimeSpan value)
    {
        if (value == TimeSpan.Zero)
        {
            return "0s";
        }

        if (value.Ticks % TimeSpan.TicksPerSecond != 0)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{(long)value.TotalMilliseconds}ms");
        }

        var s = (long)value.TotalSeconds;
        var parts = new System.Text.StringBuilder();
        foreach (var (unit, size) in new[] { ("d", 86_400L), ("h", 3_600L), ("m", 60L), ("s", 1L) })
        {
            if (s >= size)
            {
                parts.Append(CultureInfo.InvariantCulture, $"{s / size}{unit}");
                s %= size;
            }
        }

        return parts.ToString();
    }
}

/// <summary>Resource quantities in the Kubernetes notation operators know: CPU in cores or millicores, memory in bytes with SI or binary suffixes.</summary>
public static class Quantities
{
    public const string CpuHint = "cores or millicores, such as 100m, 0.5 or 2";
    public const string MemoryHint = "bytes with an optional suffix, such as 32Mi, 1Gi, 512M or 1048576";

    /// <summary>CPU in millicores: <c>100m</c> = 100, <c>0.5</c> = 500, <c>2</c> = 2000.</summary>
    public static bool TryParseCpu(ReadOnlySpan<char> text, out long millicores)
    {
        millicores = 0;
        decimal value;
        if (text.EndsWith("m"))
        {
            if (!long.TryParse(text[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var m))
            {
                return false;
            }

            value = m;
        }
        else
        {
            if (!decimal.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var cores) || cores > 1_000_000)
            {
                return false;
            }

            value = cores * 1000;
            if (value != decimal.Truncate(value))
            {
                return false; // finer than a millicore
            }
        }

        millicores = (long)value;
        return true;
    }

    /// <summary>Memory in bytes: <c>32Mi</c>, <c>1Gi</c>, <c>512M</c>, <c>1.5Gi</c>, <c>1048576</c>.</summary>
    public static bool TryParseMemory(ReadOnlySpan<char> text, out long bytes)
    {
        bytes = 0;
        var end = text.Length;
        while (end > 0 && char.IsAsciiLetter(text[end - 1]))
        {
            end--;
        }

        decimal scale;
        switch (text[end..])
        {
            case "": scale = 1; break;
            case "k": scale = 1e3m; break;
            case "M": scale = 1e6m; break;
            case "G": scale = 1e9m; break;
            case "T": scale = 1e12m; break;
            case "Ki": scale = 1L << 10; break;
            case "Mi": scale = 1L << 20; break;
            case "Gi": scale = 1L << 30; break;
            case "Ti": scale = 1L << 40; break;
            default: return false;
        }

        if (!decimal.TryParse(text[..end], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number) || number > 1e15m)
        {
            return false;
        }

        var value = number * scale;
        if (value > long.MaxValue / 2 || value != decimal.Truncate(value))
        {
            return false;
        }

        bytes = (long)value;
        return true;
    }

    public static string FormatCpu(long millicores) =>
        millicores % 1000 == 0 ? (millicores / 1000).ToString(CultureInfo.InvariantCulture) : millicores.ToString(CultureInfo.InvariantCulture) + "m";

    public static string FormatMemory(long bytes)
    {
        foreach (var (suffix, size) in new[] { ("Ti", 1L << 40), ("Gi", 1L << 30), ("Mi", 1L << 20), ("Ki", 1L << 10) })
        {
            if (bytes >= size && bytes % size == 0)
            {
                return (bytes / size).ToString(CultureInfo.InvariantCulture) + suffix;
            }
        }

        return bytes.ToString(CultureInfo.InvariantCulture);
    }
}
