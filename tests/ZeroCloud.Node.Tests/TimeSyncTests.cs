using System.Net;
using System.Net.Sockets;
using ZeroCloud.Init;
using ZeroCloud.Netboot.Ntp;

namespace ZeroCloud.Node.Tests;

/// <summary>PID 1's SNTP client against a server on loopback whose clock runs ahead.</summary>
public class TimeSyncTests
{
    private static async Task<(IPEndPoint At, Task Served)> ServeAsync(TimeSpan ahead, int leap = 0)
    {
        var server = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var at = (IPEndPoint)server.Client.LocalEndPoint!;
        var served = Task.Run(async () =>
        {
            using (server)
            {
                var request = await server.ReceiveAsync().WaitAsync(TimeSpan.FromSeconds(10));
                var now = DateTime.UtcNow + ahead;
                var reply = SntpPacket.Reply(request.Buffer, now, now, 10, 0x7F7F0100);
                reply[0] = (byte)((leap << 6) | (reply[0] & 0x3F));
                await server.SendAsync(reply, request.RemoteEndPoint);
            }
        });
        await Task.Yield();
        return (at, served);
    }

    [Fact]
    public async Task The_offset_is_the_servers_lead_within_the_round_trip()
    {
        var (at, served) = await ServeAsync(TimeSpan.FromSeconds(3));

        var measured = TimeSync.Query(at, TimeSpan.FromSeconds(5));
        await served;

        // RFC 4330: the offset is exact up to half the round trip (how long the request and the answer each took is
        // not known); a loaded machine can delay the fake server by a second, so the bound is what is checked.
        Assert.NotNull(measured);
        var (offset, delay) = measured.Value;
        Assert.InRange(offset.TotalSeconds, 3 - (delay.TotalSeconds / 2) - 0.01, 3 + (delay.TotalSeconds / 2) + 0.01);
        Assert.True(delay >= TimeSpan.Zero && delay < TimeSpan.FromSeconds(5), $"round trip {delay}");
    }

    [Fact]
    public async Task An_unsynchronised_server_is_not_believed_and_no_server_changes_nothing()
    {
        var (at, served) = await ServeAsync(TimeSpan.FromHours(5), leap: SntpPacket.Unsynchronised);

        Assert.Null(TimeSync.Query(at, TimeSpan.FromMilliseconds(500)));
        await served;
        var set = false;
        Assert.Contains("no time server", TimeSync.Synchronise([], _ => set = true), StringComparison.Ordinal);
        Assert.False(set);
    }
}
