using ZeroCloud.Model.Config;

namespace ZeroCloud.Model.Tests.Config;

public class UnitsTests
{
    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("1s", 1000)]
    [InlineData("1.5s", 1500)]
    [InlineData("1m30s", 90_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("1d", 86_400_000)]
    public void Durations_parse(string text, long ms)
    {
        Assert.True(Durations.TryParse(text, out var value));
        Assert.Equal(TimeSpan.FromMilliseconds(ms), value);
        Assert.True(Durations.TryParse(Durations.Format(value), out var again));
        Assert.Equal(value, again);
    }

    [Theory]
    [InlineData("")]
    [InlineData("5")]
    [InlineData("s")]
    [InlineData("5 s")]
    [InlineData("5S")]
    [InlineData("1h-")]
    [InlineData("1..5s")]
    public void Durations_reject(string text) => Assert.False(Durations.TryParse(text, out _));

    [Theory]
    [InlineData("100m", 100)]
    [InlineData("0.5", 500)]
    [InlineData("2", 2000)]
    [InlineData("0.001", 1)]
    public void Cpu_parses(string text, long millis)
    {
        Assert.True(Quantities.TryParseCpu(text, out var value));
        Assert.Equal(millis, value);
    }

    [Theory]
    [InlineData("32Mi", 32L << 20)]
    [InlineData("1Gi", 1L << 30)]
    [InlineData("1.5Gi", 3L << 29)]
    [InlineData("512M", 512_000_000)]
    [InlineData("1048576", 1_048_576)]
    [InlineData("4k", 4000)]
    public void Memory_parses(string text, long bytes)
    {
        Assert.True(Quantities.TryParseMemory(text, out var value));
        Assert.Equal(bytes, value);
        Assert.True(Quantities.TryParseMemory(Quantities.FormatMemory(value), out var again));
        Assert.Equal(value, again);
    }

    [Theory]
    [InlineData("32MB")]
    [InlineData("1.5")]
    [InlineData("Mi")]
    [InlineData("-1Mi")]
    [InlineData("1 Gi")]
    public void Memory_rejects(string text) => Assert.False(Quantities.TryParseMemory(text, out _));
}
