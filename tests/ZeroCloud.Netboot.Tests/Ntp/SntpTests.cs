using ZeroCloud.Netboot.Ntp;

namespace ZeroCloud.Netboot.Tests.Ntp;

/// <summary>SNTP on the wire and the clock arithmetic of RFC 4330.</summary>
public class SntpTests
{
    [Fact]
    public void A_reply_echoes_the_request_and_carries_the_servers_times()
    {
        var sent = new DateTime(2026, 11, 30, 12, 0, 0, DateTimeKind.Utc).AddTicks(1234567);
        var request = SntpPacket.Request(sent);
        Assert.True(SntpPacket.TryParse(request, out var asked));
        Assert.Equal((4, SntpPacket.ModeClient), (asked.Version, asked.Mode));
        Assert.True((asked.Transmit - sent).Duration() <= TimeSpan.FromTicks(1));

        var received = sent.AddMilliseconds(5);
        var reply = SntpPacket.Reply(request, received, received.AddTicks(300), 10, 0x7F7F0100);
        Assert.True(SntpPacket.TryParse(reply, out var answer));
        Assert.Equal((SntpPacket.ModeServer, 10, 0x7F7F0100u, 0), (answer.Mode, answer.Stratum, answer.ReferenceId, answer.LeapIndicator));
        Assert.Equal(request.AsSpan(40, 8).ToArray(), reply.AsSpan(24, 8).ToArray());
        Assert.True((answer.Receive - received).Duration() <= TimeSpan.FromTicks(1));
        Assert.True((answer.Transmit - received.AddTicks(300)).Duration() <= TimeSpan.FromTicks(1));
    }

    [Fact]
    public void Offset_and_delay_follow_rfc_4330()
    {
        // The client's clock is 5 s behind; 10 ms each way; the server takes 1 ms.
        var t1 = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var t2 = t1.AddSeconds(5).AddMilliseconds(10);
        var t3 = t2.AddMilliseconds(1);
        var t4 = t1.AddMilliseconds(21);

        var (offset, delay) = SntpPacket.Measure(t1, t2, t3, t4);

        Assert.Equal(TimeSpan.FromSeconds(5), offset);
        Assert.Equal(TimeSpan.FromMilliseconds(20), delay);
    }

    [Fact]
    public void Short_or_unknown_version_datagrams_are_not_packets()
    {
        Assert.False(SntpPacket.TryParse(new byte[47], out _));
        Assert.False(SntpPacket.TryParse(new byte[48], out _)); // version 0
    }
}
