using System.Globalization;

namespace ZeroCloud.Orleans;

/// <summary>
/// The silo's clock. Normally the system's; with <c>ZC_CLOCK_OFFSET_FILE</c> set (tests only), the wall clock is the
/// system's plus the seconds written in that file, read again at most ten times a second: how a test steps a member's
/// wall clock without setting the host's. Monotonic time (<see cref="TimeProvider.GetTimestamp"/>, timers) is always
/// the system's, as a real wall-clock step leaves it.
/// </summary>
public sealed class OffsetTimeProvider(string file) : TimeProvider
{
    public const string Variable = "ZC_CLOCK_OFFSET_FILE";

    private (long At, TimeSpan Offset)? _read;

    private static TimeProvider? _fromEnvironment;

    /// <summary>The system's clock, or (with <see cref="Variable"/> set) one offset by that file, said once on stderr.</summary>
    public static TimeProvider FromEnvironment()
    {
        if (_fromEnvironment is { } made)
        {
            return made;
        }

        if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } file)
        {
            Console.Error.WriteLine($"zc: test hook {Variable}: this member's wall clock is offset by the seconds in {file}");
            return _fromEnvironment = new OffsetTimeProvider(file);
        }

        return _fromEnvironment = System;
    }

    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Offset();

    private TimeSpan Offset()
    {
        var read = _read;
        var now = Environment.TickCount64;
        if (read is { } r && now - r.At < 100)
        {
            return r.Offset;
        }

        var offset = TimeSpan.Zero;
        try
        {
            if (File.Exists(file) && double.TryParse(File.ReadAllText(file).Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
            {
                offset = TimeSpan.FromSeconds(seconds);
            }
        }
        catch (IOException)
        {
            offset = read?.Offset ?? TimeSpan.Zero;
        }

        _read = (now, offset);
        return offset;
    }
}
