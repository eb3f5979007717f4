using Microsoft.AspNetCore.Http;
using ZeroCloud.Cluster.Store;

namespace ZeroCloud.Cluster.Api;

public sealed partial class ControlApi
{
    /// <summary>
    /// GET /v1/backup (admin): the whole store as a backup file (<see cref="Backup"/>), at a linearizable read point;
    /// with <c>?stale=true</c>, this member's own copy, without one: the way out when quorum is lost for good.
    /// </summary>
    private async Task BackupAsync(HttpContext ctx)
    {
        var stale = ctx.Request.Query["stale"] == "true";
        if (!stale && !await BarrierAsync(ctx).ConfigureAwait(false))
        {
            return;
        }

        var (snapshot, revision, keys) = _node.Read(s => (s.Snapshot(), s.Revision, s.Count));
        var file = Backup.Write(snapshot, revision, keys, _node.Id, !stale, DateTimeOffset.UtcNow);
        ctx.Response.ContentType = "application/octet-stream";
        ctx.Response.ContentLength = file.Length;
        ctx.Response.Headers.ContentDisposition = $"attachment; filename=\"zerocloud-{revision}.backup\"";
        await ctx.Response.Body.WriteAsync(file, ctx.RequestAborted).ConfigureAwait(false);
    }
}
