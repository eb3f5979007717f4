using System.Diagnostics.Metrics;
using ZeroCloud.Model.Diagnostics;

namespace ZeroCloud.Netboot.Tftp;

/// <summary>
/// The TFTP server's metrics (meter <c>ZeroCloud.Tftp</c>): transfers by outcome, bytes sent, transfers in flight,
/// requests refused by reason and datagrams that are not TFTP requests. One instance per server.
/// </summary>
public sealed class TftpMetrics : ComponentMeter
{
    public const string MeterName = "ZeroCloud.Tftp";

    private readonly Counter<long> _transfers;
    private readonly Counter<long> _bytes;
    private readonly UpDownCounter<long> _active;
    private readonly Counter<long> _refused;
    private readonly Counter<long> _malformed;

    public TftpMetrics()
        : base(MeterName)
    {
        _transfers = Meter.CreateCounter<long>("zc.tftp.transfers", description: "TFTP transfers that ended, by outcome (completed, failed)");
        _bytes = Meter.CreateCounter<long>("zc.tftp.bytes", unit: "By", description: "bytes of file data sent");
        _active = Meter.CreateUpDownCounter<long>("zc.tftp.active", description: "TFTP transfers in flight");
        _refused = Meter.CreateCounter<long>("zc.tftp.refused", description: "TFTP requests refused, by reason");
        _malformed = Meter.CreateCounter<long>("zc.tftp.malformed", description: "datagrams that are not TFTP requests");
    }

    public long Completed => Totals.Total("zc.tftp.transfers", "outcome=completed");

    public long Failed => Totals.Total("zc.tftp.transfers", "outcome=failed");

    public long Malformed => Totals.Total("zc.tftp.malformed");

    public void OnStarted() => _active.Add(1);

    public void OnEnded(bool completed, long bytes)
    {
        _active.Add(-1);
        _transfers.Add(1, new KeyValuePair<string, object?>("outcome", completed ? "completed" : "failed"));
        _bytes.Add(bytes);
    }

    public void OnRefused(string reason) => _refused.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void OnMalformed() => _malformed.Add(1);
}
