using Microsoft.AspNetCore.Http;
using ZeroCloud.Cluster.Store;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Config;
using static ZeroCloud.Cluster.Api.ApiResults;

namespace ZeroCloud.Cluster.Api;

/// <summary>cluster.yaml: <c>POST /v1/apply</c> validates it and stores it as the desired state.</summary>
public sealed partial class ControlApi
{
    private async Task ApplyAsync(HttpContext ctx)
    {
        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        var file = ctx.Request.Query["file"] is { Count: > 0 } f ? f.ToString() : "cluster.yaml";
        var result = ClusterConfigLoader.Load(body, file);
        if (!result.IsValid)
        {
            var diagnostics = result.Diagnostics.Select(d => new DiagnosticDto(d.File, d.Position.Line, d.Position.Column, d.Path, d.Message)).ToList();
            var message = $"{file} has {diagnostics.Count} problem{(diagnostics.Count == 1 ? "" : "s")}; nothing was applied";
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidSpec, message, diagnostics).ConfigureAwait(false);
            return;
        }

        var config = result.Config!;
        var txn = new KvTxn([new Compare(SpecKey, CompareTarget.Value, CompareOp.NotEqual, Value: body)], [new PutOp(SpecKey, body)], []);
        var committed = await CommitAsync(ctx, txn).ConfigureAwait(false);
        if (committed is not null)
        {
            var response = new ApplyResponse(committed.Revision, config.Metadata.Name, config.Spec.Nodes.Known.Length, config.Spec.Services.Length, committed.Succeeded);
            await JsonAsync(ctx, 200, response, ControlJsonContext.Default.ApplyResponse).ConfigureAwait(false);
        }
    }
}
