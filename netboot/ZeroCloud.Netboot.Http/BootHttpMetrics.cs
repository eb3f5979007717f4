using System.Diagnostics.Metrics;
using ZeroCloud.Model.Diagnostics;

namespace ZeroCloud.Netboot.Http;

/// <summary>
/// The boot HTTP server's metrics (meter <c>ZeroCloud.Netboot.Http</c>): requests by kind (script, file, digest, api)
/// and status class (2xx, 3xx, 4xx, 5xx), and bytes of bodies sent. One instance per server.
/// </summary>
public sealed class BootHttpMetrics : ComponentMeter
{
    public const string MeterName = "ZeroCloud.Netboot.Http";

    private readonly Counter<long> _requests;
    private readonly Counter<long> _bytes;

    public BootHttpMetrics()
        : base(MeterName)
    {
        _requests = Meter.CreateCounter<long>("zc.http.requests", description: "boot HTTP requests, by kind and status class");
        _bytes = Meter.CreateCounter<long>("zc.http.bytes", unit: "By", description: "bytes of response bodies sent");
    }

    public void OnRequest(string path, int status, long bytes)
    {
        var kind = path.StartsWith("/boot/", StringComparison.Ordinal) ? "script"
            : path.StartsWith("/sha256/", StringComparison.Ordinal) ? "digest"
            : path.StartsWith("/v1/", StringComparison.Ordinal) ? "api"
            : "file";
        _requests.Add(1, new KeyValuePair<string, object?>("kind", kind), new KeyValuePair<string, object?>("status", $"{status / 100}xx"));
        _bytes.Add(bytes);
    }
}
