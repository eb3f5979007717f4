using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using ZeroCloud.Cluster.Power;
using ZeroCloud.Model.Api;
using static ZeroCloud.Cluster.Api.ApiResults;

namespace ZeroCloud.Cluster.Api;

/// <summary>
/// Power control (<c>zc power</c>): the leader runs a job against the BMC that <c>spec.nodes.known[].bmc</c> names
/// (<see cref="PowerService"/>) and answers with the job as recorded; <c>GET …/power/jobs</c> lists a node's last jobs.
/// </summary>
public sealed partial class ControlApi
{
    private PowerService? _power;

    private PowerService Power => _power ??= _services.GetService<PowerService>()
        ?? new PowerService(_node, _services.GetRequiredService<IControlStore>(), Box, _services.GetService<PowerJobOptions>());

    private async Task PowerAsync(HttpContext ctx, string name)
    {
        if (Inputs.Name(name, "the node's name") is { } invalid)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidName, invalid).ConfigureAwait(false);
            return;
        }

        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        var request = Parse(ctx, body, ControlJsonContext.Default.PowerRequest, out var error);
        if (request is null)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidJson, error).ConfigureAwait(false);
            return;
        }

        if (PowerJob.Validate(request.Action) is { } badAction)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, badAction).ConfigureAwait(false);
            return;
        }

        // The spec and the secret as the majority has them.
        if (!await BarrierAsync(ctx).ConfigureAwait(false))
        {
            return;
        }

        PowerJobDto job;
        try
        {
            job = await Power.RunAsync(name, request.Action, Who(ctx), ctx.RequestAborted).ConfigureAwait(false);
        }
        catch (PowerRequestException ex)
        {
            await ErrorAsync(ctx, ex.Status, ex.Code, ex.Message).ConfigureAwait(false);
            return;
        }
        catch (ControlApiException ex)
        {
            // The job's record could not be written (no quorum, the leader moved): the job may have run.
            await ErrorAsync(ctx, ex.Status is >= 400 and < 600 ? ex.Status : 503, ex.Code, $"the power job's record was not written: {ex.Message}").ConfigureAwait(false);
            return;
        }

        await JsonAsync(ctx, 200, job, ControlJsonContext.Default.PowerJobDto).ConfigureAwait(false);
    }

    private async Task PowerJobsAsync(HttpContext ctx, string name)
    {
        if (Inputs.Name(name, "the node's name") is { } invalid)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidName, invalid).ConfigureAwait(false);
            return;
        }

        if (!IsTrue(ctx.Request.Query["stale"]) && !await BarrierAsync(ctx).ConfigureAwait(false))
        {
            return;
        }

        var skipped = new List<string>();
        var jobs = Power.Jobs(name, skipped).OrderByDescending(j => j.Id, StringComparer.Ordinal).ToList();
        ReportSkipped(skipped);
        await JsonAsync(ctx, 200, new PowerJobsResponse(jobs), ControlJsonContext.Default.PowerJobsResponse).ConfigureAwait(false);
    }
}
