using System.Net;
using ZeroCloud.Model.Net;

namespace ZeroCloud.Model.Tests.Net;

public class NetTypesTests
{
    [Theory]
    [InlineData("52:54:00:AB:cd:ef")]
    [InlineData("52-54-00-ab-cd-ef")]
    [InlineData("525400abcdef")]
    public void Mac_forms_parse_to_one_value(string text)
    {
        Assert.True(MacAddress.TryParse(text, out var mac));
        Assert.Equal("52:54:00:ab:cd:ef", mac.ToString());
        Span<byte> bytes = stackalloc byte[6];
        mac.WriteTo(bytes);
        Assert.Equal(mac, MacAddress.Read(bytes));
    }

    [Theory]
    [InlineData("52:54:00:ab:cd")]
    [InlineData("52:54-00:ab:cd:ef")]
    [InlineData("52:54:00:ab:cd:eg")]
    [InlineData("52:54:00:ab:cd:ef:01")]
    public void Bad_macs_are_refused(string text) => Assert.False(MacAddress.TryParse(text, out _));

    [Theory]
    [InlineData("10.0.0.1", true)]
    [InlineData("255.255.255.255", true)]
    [InlineData("10.0.0", false)]
    [InlineData("10.0.0.01", false)]
    [InlineData("10.0.0.256", false)]
    [InlineData("::1", false)]
    [InlineData("0x0a.0.0.1", false)]
    public void Ipv4_parsing_is_strict(string text, bool ok) => Assert.Equal(ok, Ipv4.TryParse(text, out _));

    [Fact]
    public void Subnet_arithmetic()
    {
        Assert.True(Ipv4Subnet.TryParse("10.77.0.0/24", out var subnet, out _));
        Assert.Equal(IPAddress.Parse("255.255.255.0"), subnet.Mask);
        Assert.Equal(IPAddress.Parse("10.77.0.255"), subnet.Broadcast);
        Assert.True(subnet.Contains(IPAddress.Parse("10.77.0.9")));
        Assert.False(subnet.Contains(IPAddress.Parse("10.77.1.9")));
        Assert.False(subnet.IsHostAddress(subnet.BroadcastValue));
        Assert.False(Ipv4Subnet.TryParse("10.77.0.1/24", out _, out var error));
        Assert.Contains("10.77.0.0/24", error, StringComparison.Ordinal);
    }
}
