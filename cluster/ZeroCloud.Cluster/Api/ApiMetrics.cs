using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Http;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Diagnostics;

namespace ZeroCloud.Cluster.Api;

/// <summary>
/// The API's metrics as a <see cref="Meter"/> (<c>ZeroCloud.Control.Api</c>; exporters come later): every request is
/// counted under <c>zc.api.requests</c> by route (the first path segment after /v1: kv, txn, watch, nodes, …),
/// origin (<c>client</c>; <c>member</c> for a write another member forwarded; <c>self</c> for a request this member
/// sent to itself, which should never happen) and agent (the User-Agent's first product, or none). A listener
/// in the same process (<see cref="MeterTotals"/>) keeps the totals for <c>GET /v1/metrics</c>.
/// </summary>
public sealed class ApiMetrics : ComponentMeter
{
    public const string MeterName = "ZeroCloud.Control.Api";

    private readonly Counter<long> _requests;
    private readonly string _self;

    public ApiMetrics(string self)
        : base(MeterName)
    {
        _self = self;
        _requests = Meter.CreateCounter<long>("zc.api.requests", description: "HTTP requests the control API received");
    }

    /// <summary>Counts one request.</summary>
    public void Count(HttpContext ctx)
    {
        var path = ctx.Request.Path.Value ?? "";
        var route = path.StartsWith("/v1/", StringComparison.Ordinal) ? path[4..].Split('/', 2)[0] : "other";
        if (route == "metrics")
        {
            return;
        }

        var origin = ctx.Request.Headers.TryGetValue(ControlClient.ForwardedHeader, out var by) ? by.ToString() == _self ? "self" : "member" : "client";
        var agent = ctx.Request.Headers.UserAgent.ToString() is { Length: > 0 } ua ? ua.Split('/', ' ')[0] : "none";
        _requests.Add(1, new KeyValuePair<string, object?>("route", route), new KeyValuePair<string, object?>("origin", origin), new KeyValuePair<string, object?>("agent", agent));
    }

    /// <summary>The totals since this member started.</summary>
    public MetricsResponse Snapshot() =>
        new([.. Totals.All().Where(t => t.Instrument == "zc.api.requests").Select(t =>
        {
            var tags = t.Tags.Split(',').Select(p => p.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
            return new RequestCountDto(tags.GetValueOrDefault("route", ""), tags.GetValueOrDefault("origin", ""), tags.GetValueOrDefault("agent", ""), t.Total);
        })]);
}
