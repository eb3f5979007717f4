using System.CommandLine;
using System.Text.Json;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Cli;

/// <summary>
/// <c>zc power status|on|off|cycle|pxe &lt;node&gt;</c> and <c>zc power jobs &lt;node&gt;</c>: jobs the leader runs against the
/// machine's BMC (<c>spec.nodes.known[].bmc</c>) and records. Exit 1 when the job failed.
/// </summary>
internal static partial class ClusterCommands
{
    private static Command Power()
    {
        var command = new Command("power", "Power control through a machine's BMC (spec.nodes.known[].bmc, IPMI or Redfish): recorded jobs, retried with backoff, confirmed by reading the state back.");
        foreach (var (action, description) in new[]
        {
            (PowerActions.Status, "Read the machine's power state."),
            (PowerActions.On, "Power on, then confirm it is on."),
            (PowerActions.Off, "Force off (no graceful shutdown), then confirm it is off."),
            (PowerActions.Cycle, "Hard reset (power on when it is off), then confirm it is on."),
            (PowerActions.Pxe, "Boot from the network once (PXE), reset, then confirm it is on: the machine boots the node image again."),
        })
        {
            var server = ServerOption();
            var json = JsonOption();
            var node = new Argument<string>("node") { Description = "The machine's name in spec.nodes.known." };
            var sub = new Command(action, description) { server, node, json };
            sub.SetAction((parse, ct) => RunAsync(parse, server, async (client, stdout) =>
            {
                var job = await client.PowerAsync(parse.GetValue(node)!, action, ct).ConfigureAwait(false);
                if (parse.GetValue(json))
                {
                    await stdout.WriteLineAsync(JsonSerializer.Serialize(job, ControlJsonContext.Default.PowerJobDto)).ConfigureAwait(false);
                }
                else
                {
                    await WriteJobAsync(stdout, job).ConfigureAwait(false);
                }

                return job.State == PowerJobStates.Succeeded ? ZcCommand.Ok : ZcCommand.Failed;
            }));
            command.Subcommands.Add(sub);
        }

        var jobsServer = ServerOption();
        var jobsJson = JsonOption();
        var jobsNode = new Argument<string>("node") { Description = "The machine's name." };
        var jobs = new Command("jobs", $"The machine's last power jobs (up to 20), newest first.") { jobsServer, jobsNode, jobsJson };
        jobs.SetAction((parse, ct) => RunAsync(parse, jobsServer, async (client, stdout) =>
        {
            var r = await client.PowerJobsAsync(parse.GetValue(jobsNode)!, ct).ConfigureAwait(false);
            if (parse.GetValue(jobsJson))
            {
                await stdout.WriteLineAsync(JsonSerializer.Serialize(r, ControlJsonContext.Default.PowerJobsResponse)).ConfigureAwait(false);
                return ZcCommand.Ok;
            }

            await stdout.WriteLineAsync($"{"JOB",-30} {"ACTION",-7} {"STATE",-10} {"POWER",-8} {"SECONDS",7}  WHO").ConfigureAwait(false);
            foreach (var j in r.Jobs)
            {
                var seconds = j.Finished is { } f ? $"{(f - j.Started).TotalSeconds:0.0}" : "-";
                await stdout.WriteLineAsync($"{j.Id,-30} {j.Action,-7} {j.State,-10} {j.Power ?? "-",-8} {seconds,7}  {j.Who}").ConfigureAwait(false);
            }

            return ZcCommand.Ok;
        }));
        command.Subcommands.Add(jobs);
        return command;
    }

    private static async Task WriteJobAsync(TextWriter stdout, PowerJobDto job)
    {
        var seconds = job.Finished is { } f ? (f - job.Started).TotalSeconds : 0;
        await stdout.WriteLineAsync($"power {job.Action} {job.Node} via {job.Bmc}: {job.State}{(job.Power is null ? "" : $", power is {job.Power}")} ({seconds:0.0}s, job {job.Id})").ConfigureAwait(false);
        foreach (var (step, i) in job.Steps.Select((s, i) => (s, i + 1)))
        {
            var attempts = step.Attempts > 1 ? $" after {step.Attempts} attempts" : "";
            var said = step.Error ?? step.Detail;
            await stdout.WriteLineAsync($"  {i}. {step.Name}: {step.State}{attempts}{(said is null ? "" : $" — {said}")}").ConfigureAwait(false);
        }

        if (job.Error is not null && job.Steps.Count == 0)
        {
            await stdout.WriteLineAsync($"  {job.Error}").ConfigureAwait(false);
        }
    }
}
