using System.Diagnostics.Metrics;
using ZeroCloud.Model.Diagnostics;

namespace ZeroCloud.Netboot.Dhcp;

/// <summary>
/// The DHCP server's metrics (meter <c>ZeroCloud.Dhcp</c>): datagrams received, replies sent, requests dropped by
/// reason, and packets that did not parse by error. One instance per server.
/// </summary>
public sealed class DhcpMetrics : ComponentMeter
{
    public const string MeterName = "ZeroCloud.Dhcp";

    private readonly Counter<long> _received;
    private readonly Counter<long> _replies;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _badPackets;

    public DhcpMetrics()
        : base(MeterName)
    {
        _received = Meter.CreateCounter<long>("zc.dhcp.received", description: "DHCP datagrams received");
        _replies = Meter.CreateCounter<long>("zc.dhcp.replies", description: "DHCP replies sent");
        _dropped = Meter.CreateCounter<long>("zc.dhcp.dropped", description: "DHCP requests answered with nothing, by reason");
        _badPackets = Meter.CreateCounter<long>("zc.dhcp.bad_packets", description: "datagrams that are not DHCP, by parse error");
    }

    public long Received => Totals.Total("zc.dhcp.received");

    public long Replies => Totals.Total("zc.dhcp.replies");

    public long Dropped => Totals.Total("zc.dhcp.dropped");

    public long BadPackets => Totals.Total("zc.dhcp.bad_packets");

    public void OnReceived() => _received.Add(1);

    public void OnReply() => _replies.Add(1);

    public void OnDropped(DropReason reason) => _dropped.Add(1, new KeyValuePair<string, object?>("reason", reason.ToString()));

    /// <summary>Counts a packet that did not parse; returns how many with this error so far.</summary>
    public long OnBadPacket(DhcpParseError error)
    {
        _badPackets.Add(1, new KeyValuePair<string, object?>("error", error.ToString()));
        return Totals.Total("zc.dhcp.bad_packets", $"error={error}");
    }
}
