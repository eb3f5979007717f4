using ZeroCloud.Netboot.Http;
using ZeroCloud.Netboot.Tftp;

namespace ZeroCloud.Netboot.Tests.Tftp;

/// <summary>The TFTP and boot-HTTP servers' counters are Meters, as the DHCP server's are.</summary>
public class TftpMetricsTests
{
    [Fact]
    public void Transfers_count_by_outcome_with_their_bytes_and_refusals_by_reason()
    {
        using var metrics = new TftpMetrics();
        metrics.OnStarted();
        metrics.OnStarted();
        metrics.OnStarted();
        metrics.OnEnded(completed: true, 1000);
        metrics.OnEnded(completed: false, 24);
        metrics.OnRefused("busy");
        metrics.OnMalformed();

        Assert.Equal((1, 1, 1), (metrics.Completed, metrics.Failed, metrics.Malformed));
        Assert.Equal(1024, metrics.Totals.Total("zc.tftp.bytes"));
        Assert.Equal(1, metrics.Totals.Total("zc.tftp.active"));
        Assert.Equal(1, metrics.Totals.Total("zc.tftp.refused", "reason=busy"));
    }

    [Fact]
    public void Boot_http_requests_count_by_kind_and_status_class()
    {
        using var metrics = new BootHttpMetrics();
        metrics.OnRequest("/boot/52:54:00:00:00:01.ipxe", 200, 300);
        metrics.OnRequest("/images/node/vmlinuz", 206, 4096);
        metrics.OnRequest("/sha256/abc", 404, 0);
        metrics.OnRequest("/v1/nodes", 401, 80);

        Assert.Equal(1, metrics.Totals.Total("zc.http.requests", "kind=script,status=2xx"));
        Assert.Equal(1, metrics.Totals.Total("zc.http.requests", "kind=file,status=2xx"));
        Assert.Equal(1, metrics.Totals.Total("zc.http.requests", "kind=digest,status=4xx"));
        Assert.Equal(4476, metrics.Totals.Total("zc.http.bytes"));
    }
}
