using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Cluster.Api;

/// <summary>
/// Rate limits per identity (ASP.NET Core's rate limiter, token buckets, nothing queued), after the caller is
/// identified: every request of a node, a read-only operator or a join token counts against its identity, every
/// request without a valid credential against its client address; an admin is not limited (etcd's root is not
/// either). On top, a node's heartbeats per node name and enrollment tickets per credential. A node beats at most
/// every 100 ms, so its buckets never empty; a flood under one identity gets 429 with Retry-After instead of grain
/// calls, audit entries and Raft writes.
/// </summary>
public static class NodeRateLimits
{
    public const string Heartbeats = "zc-heartbeats";
    public const string Tickets = "zc-tickets";

    /// <summary>Heartbeats a node name may send per second, and its burst.</summary>
    public const int HeartbeatsPerSecond = 20;

    /// <summary>Tickets one credential may ask for per second (a rack booting at once), and its burst.</summary>
    public const int TicketsPerSecond = 100;

    /// <summary>Requests per second one identity (a node, a read-only operator, a join token) may make in all, and twice that as its burst.</summary>
    public const int PerIdentityPerSecond = 500;

    /// <summary>Requests per second one client address may make without a valid credential (status probes, joins, refusals).</summary>
    public const int PerAddressPerSecond = 100;

    public static IServiceCollection AddNodeRateLimits(this IServiceCollection services) =>
        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(ctx => ControlApi.CallerOf(ctx) switch
            {
                { IsAdmin: true } => RateLimitPartition.GetNoLimiter("admin"),
                { Problem: null } caller when caller != Caller.Anonymous => Bucket($"{caller.Role} {caller.Name}", PerIdentityPerSecond),
                _ => Bucket("address " + ctx.Connection.RemoteIpAddress, PerAddressPerSecond),
            });
            o.AddPolicy(Heartbeats, ctx => Bucket("heartbeat " + (ctx.Request.RouteValues["name"] as string ?? ""), HeartbeatsPerSecond));
            o.AddPolicy(Tickets, ctx => Bucket("tickets " + CredentialId(ctx), TicketsPerSecond));
            o.OnRejected = async (context, ct) =>
            {
                context.HttpContext.Response.Headers.RetryAfter = "1";
                await ApiResults.ErrorAsync(context.HttpContext, 429, ErrorCodes.TooManyRequests, "too many requests under this identity; slow down (Retry-After: 1)").ConfigureAwait(false);
            };
        });

    private static RateLimitPartition<string> Bucket(string key, int perSecond) =>
        RateLimitPartition.GetTokenBucketLimiter(key, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = perSecond * 2,
            TokensPerPeriod = perSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        });

    /// <summary>The credential's kind and id (never its secret); the client address when there is none or it has no id.</summary>
    private static string CredentialId(HttpContext ctx) =>
        ControlApi.CredentialName(ctx) is var name && (name == "anonymous" || name.EndsWith(' ')) ? "address " + ctx.Connection.RemoteIpAddress : name;
}
