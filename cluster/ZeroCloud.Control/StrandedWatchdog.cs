using System.Diagnostics;
using System.Net.Http.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ZeroCloud.Cluster.Api;
using ZeroCloud.Cluster.Raft;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Control;

/// <summary>Set by <see cref="StrandedWatchdog"/> when this member found itself stranded: why, and the peers' APIs to rejoin through.</summary>
public sealed class StrandedSignal
{
    public string? Reason { get; private set; }

    public IReadOnlyList<string> Peers { get; private set; } = [];

    public void Set(string reason, IReadOnlyList<string> peers)
    {
        Peers = peers;
        Reason = reason;
    }
}

/// <summary>
/// The stranded-member repair (decision 0012): a member that stays a candidate, or a follower whose commit index stands
/// still below its leader's, for <see cref="ControlMemberOptions.StrandedAfterSeconds"/>, while a quorum of the
/// configuration without it follows one leader (asked over their APIs: <c>GET /v1/status</c>), stops; the host then
/// has its peers remove it, moves its folder aside and starts it again empty to join as a new member
/// (<see cref="ControlHost"/>). Never on a cluster of fewer than three members, never while the others have no
/// leader or no quorum (then the problem is not this member), never for a member that leads.
/// </summary>
internal sealed partial class StrandedWatchdog(
    ControlNode node,
    IOptions<ControlMemberOptions> options,
    MemberTls tls,
    StrandedSignal signal,
    IHostApplicationLifetime lifetime,
    ILogger<StrandedWatchdog> logger) : BackgroundService
{
    private static readonly TimeSpan Every = TimeSpan.FromSeconds(2);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (settings.StrandedAfterSeconds <= 0)
        {
            return;
        }

        var after = TimeSpan.FromSeconds(settings.StrandedAfterSeconds);
        var fine = Stopwatch.StartNew();
        var commit = node.CommitIndex;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await Task.Delay(Every, stoppingToken).ConfigureAwait(false);
                var role = node.Role;
                var now = node.CommitIndex;
                // Progress: it leads, it is not in a cluster (yet), its log is being reopened, or its commit index moved.
                if (role is not ("candidate" or "follower") || now != commit)
                {
                    commit = now;
                    fine.Restart();
                    continue;
                }

                if (fine.Elapsed < after)
                {
                    continue;
                }

                if (await StrandedAsync(role, fine.Elapsed, stoppingToken).ConfigureAwait(false) is { } verdict)
                {
                    LogStranded(logger, verdict.Reason);
                    signal.Set(verdict.Reason, verdict.Peers);
                    lifetime.StopApplication();
                    return;
                }

                // The others are not fine either (or say this member is not behind): not this member's problem alone.
                fine.Restart();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping
        }
    }

    /// <summary>The reason and the peers' APIs when the others follow one leader without this member, which is stuck; else null.</summary>
    private async Task<(string Reason, IReadOnlyList<string> Peers)?> StrandedAsync(string role, TimeSpan stuck, CancellationToken cancellationToken)
    {
        var members = await node.MembersAsync(cancellationToken).ConfigureAwait(false);
        if (members.Count < 3)
        {
            return null;
        }

        var peers = members.Where(m => !m.IsSelf && m.Api is not null).Select(m => m.Api!).ToList();
        using var http = ControlHost.PeerClient(options.Value, tls, node.Credential);
        http.Timeout = TimeSpan.FromSeconds(3);
        var answers = await Task.WhenAll(peers.Select(async api =>
        {
            try
            {
                return await http.GetFromJsonAsync($"{api.TrimEnd('/')}/v1/status", ControlJsonContext.Default.StatusResponse, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException && !cancellationToken.IsCancellationRequested)
            {
                return null;
            }
        })).ConfigureAwait(false);

        return StrandedVerdict.Of(node.Id, role, node.CommitIndex, stuck, members.Count, answers) is { } reason ? (reason, peers) : null;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Reason}: it stops, has its peers remove it, moves its folder aside and rejoins empty")]
    private static partial void LogStranded(ILogger logger, string reason);
}
