using ZeroCloud.Netboot.Dhcp;

namespace ZeroCloud.Netboot.Tests.Dhcp;

/// <summary>The DHCP server's counters are a Meter; its totals are what an exporter would see.</summary>
public class DhcpMetricsTests
{
    [Fact]
    public void Counters_add_up_by_reason_and_by_error()
    {
        using var metrics = new DhcpMetrics();
        metrics.OnReceived();
        metrics.OnReceived();
        metrics.OnReply();
        metrics.OnDropped(DropReason.UnknownMachine);
        metrics.OnDropped(DropReason.UnknownMachine);
        metrics.OnDropped(DropReason.Unsupported);
        Assert.Equal(1, metrics.OnBadPacket(DhcpParseError.BadMagicCookie));
        Assert.Equal(2, metrics.OnBadPacket(DhcpParseError.BadMagicCookie));

        Assert.Equal((2, 1, 3, 2), (metrics.Received, metrics.Replies, metrics.Dropped, metrics.BadPackets));
        Assert.Equal(2, metrics.Totals.Total("zc.dhcp.dropped", "reason=UnknownMachine"));
    }

    [Fact]
    public void Two_servers_in_one_process_count_apart()
    {
        using var a = new DhcpMetrics();
        using var b = new DhcpMetrics();
        a.OnReceived();

        Assert.Equal((1, 0), (a.Received, b.Received));
    }
}
