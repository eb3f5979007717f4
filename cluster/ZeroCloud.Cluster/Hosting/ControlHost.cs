using System.CommandLine;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using ZeroCloud.Cluster.Api;
using ZeroCloud.Cluster.Raft;
using ZeroCloud.Model.Api;
using ZeroCloud.Orleans;

namespace ZeroCloud.Cluster.Hosting;

/// <summary>How a control-plane member is started: from `zc serve control`.</summary>
public sealed record ControlHostSettings(
    string DataDirectory,
    IPEndPoint Listen,
    IPEndPoint Raft,
    string Advertise,
    string Name,
    bool Bootstrap,
    IReadOnlyList<string> Peers,
    int ElectionTimeoutMs,
    int SnapshotEvery,
    LogLevel LogLevel = LogLevel.Information,
    int SiloPort = 0,
    int GatewayPort = 0);

/// <summary>Runs one control-plane member in the foreground: the Raft member first, then its API; Ctrl-C or SIGTERM stops both.</summary>
public static partial class ControlHost
{
    public static Command Configure(Command command)
    {
        var data = new Option<string>("--data") { Description = "Folder for the member's log, snapshots and membership (its identity).", DefaultValueFactory = _ => "/var/lib/zerocloud/control", HelpName = "dir" };
        var listen = new Option<string>("--listen") { Description = "Address of the HTTP API.", DefaultValueFactory = _ => "127.0.0.1:7070", HelpName = "ip:port" };
        var raft = new Option<string>("--raft") { Description = "Address Raft peers use (default: the API's address, port + 1).", HelpName = "ip:port" };
        var advertise = new Option<string>("--advertise") { Description = "The API's URL as others reach it (default: http://<listen>).", HelpName = "url" };
        var name = new Option<string>("--name") { Description = "A name for this member (default: its Raft address).", HelpName = "name" };
        var bootstrap = new Option<bool>("--bootstrap") { Description = "Start a new cluster with this member as its only one (once, on the first member)." };
        var peers = new Option<string[]>("--peers") { Description = "API URLs of existing members; a fresh member asks them to add it.", AllowMultipleArgumentsPerToken = true, HelpName = "url" };
        var election = new Option<int>("--election-timeout") { Description = "Lower election timeout in ms (the upper is twice it).", DefaultValueFactory = _ => 150, HelpName = "ms" };
        var snapshotEvery = new Option<int>("--snapshot-every") { Description = "Log entries between snapshots (older entries are dropped), as etcd's --snapshot-count.", DefaultValueFactory = _ => 100_000, HelpName = "n" };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Debug logging, Raft's included." };
        var siloPort = new Option<int>("--silo-port") { Description = "The Orleans silo's port (default: the API's port + 2; 0 with --no-silo).", HelpName = "port" };
        var gatewayPort = new Option<int>("--gateway-port") { Description = "The Orleans gateway's port (default: the API's port + 3).", HelpName = "port" };
        var noSilo = new Option<bool>("--no-silo") { Description = "Run the Raft member and API only, without the Orleans silo." };
        foreach (var option in new Option[] { data, listen, raft, advertise, name, bootstrap, peers, election, snapshotEvery, verbose, siloPort, gatewayPort, noSilo })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parse, cancellationToken) =>
        {
            var stderr = parse.InvocationConfiguration.Error;
            var listenText = parse.GetValue(listen)!;
            if (!IPEndPoint.TryParse(listenText, out var listenAt) || listenAt.Port == 0)
            {
                await stderr.WriteLineAsync($"zc: --listen: \"{listenText}\" is not ip:port").ConfigureAwait(false);
                return 2;
            }

            IPEndPoint raftAt;
            if (parse.GetValue(raft) is { } raftText)
            {
                if (!IPEndPoint.TryParse(raftText, out raftAt!) || raftAt.Port == 0)
                {
                    await stderr.WriteLineAsync($"zc: --raft: \"{raftText}\" is not ip:port").ConfigureAwait(false);
                    return 2;
                }
            }
            else
            {
                raftAt = new IPEndPoint(listenAt.Address, listenAt.Port + 1);
            }

            if (raftAt.Address.Equals(IPAddress.Any) || raftAt.Address.Equals(IPAddress.IPv6Any))
            {
                await stderr.WriteLineAsync("zc: --raft: give the address peers reach this member at, not a wildcard").ConfigureAwait(false);
                return 2;
            }

            var advertised = parse.GetValue(advertise);
            if (advertised is null)
            {
                if (listenAt.Address.Equals(IPAddress.Any) || listenAt.Address.Equals(IPAddress.IPv6Any))
                {
                    await stderr.WriteLineAsync("zc: --listen is a wildcard address; give --advertise with the URL others reach the API at").ConfigureAwait(false);
                    return 2;
                }

                advertised = $"http://{listenAt}";
            }
            else if (!Uri.TryCreate(advertised, UriKind.Absolute, out var uri) || uri.Scheme != "http")
            {
                await stderr.WriteLineAsync($"zc: --advertise: \"{advertised}\" is not an http:// URL").ConfigureAwait(false);
                return 2;
            }

            var peerList = (parse.GetValue(peers) ?? []).SelectMany(p => p.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
            foreach (var peer in peerList)
            {
                if (!Uri.TryCreate(peer, UriKind.Absolute, out var uri) || uri.Scheme != "http")
                {
                    await stderr.WriteLineAsync($"zc: --peers: \"{peer}\" is not an http:// URL of a member's API").ConfigureAwait(false);
                    return 2;
                }
            }

            if (parse.GetValue(bootstrap) && peerList.Count > 0)
            {
                await stderr.WriteLineAsync("zc: give --bootstrap (a new cluster) or --peers (join an existing one), not both").ConfigureAwait(false);
                return 2;
            }

            var electionMs = parse.GetValue(election);
            var every = parse.GetValue(snapshotEvery);
            if (electionMs is < 20 or > 60_000 || every < 1)
            {
                await stderr.WriteLineAsync("zc: --election-timeout must be 20..60000 ms and --snapshot-every at least 1").ConfigureAwait(false);
                return 2;
            }

            var settings = new ControlHostSettings(
                parse.GetValue(data)!,
                listenAt,
                raftAt,
                advertised.TrimEnd('/'),
                parse.GetValue(name) ?? "",
                parse.GetValue(bootstrap),
                peerList,
                electionMs,
                every,
                parse.GetValue(verbose) ? LogLevel.Debug : LogLevel.Information,
                parse.GetValue(noSilo) ? 0 : parse.GetValue(siloPort) is > 0 and var sp ? sp : listenAt.Port + 2,
                parse.GetValue(noSilo) ? 0 : parse.GetValue(gatewayPort) is > 0 and var gp ? gp : listenAt.Port + 3);
            return await RunAsync(settings, stderr, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    public static async Task<int> RunAsync(ControlHostSettings settings, TextWriter stderr, CancellationToken cancellationToken)
    {
        void Logging(ILoggingBuilder b)
        {
            b.SetMinimumLevel(settings.LogLevel);
            if (settings.LogLevel > LogLevel.Debug)
            {
                b.AddFilter("DotNext", LogLevel.Error);
                b.AddFilter("Microsoft", LogLevel.Warning);
                b.AddFilter("Orleans", LogLevel.Warning);
            }

            b.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
                o.ColorBehavior = Microsoft.Extensions.Logging.Console.LoggerColorBehavior.Disabled;
            });
        }

        using var loggerFactory = LoggerFactory.Create(Logging);
        var logger = loggerFactory.CreateLogger("ZeroCloud.Control");
        var options = new ControlNodeOptions
        {
            DataDirectory = settings.DataDirectory,
            RaftEndPoint = settings.Raft,
            ApiUrl = settings.Advertise,
            Name = settings.Name,
            Bootstrap = settings.Bootstrap,
            ElectionTimeoutLow = settings.ElectionTimeoutMs,
            ElectionTimeoutHigh = settings.ElectionTimeoutMs * 2,
            SnapshotEvery = settings.SnapshotEvery,
        };
        await using var node = new ControlNode(options, loggerFactory);
        await using var api = new ControlApi(node, settings.Listen, loggerFactory);
        try
        {
            await node.StartAsync(cancellationToken).ConfigureAwait(false);
            await api.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or IOException { InnerException: SocketException })
        {
            await stderr.WriteLineAsync($"zc: cannot listen on {settings.Listen} (API) or {settings.Raft} (Raft): {ex.Message}").ConfigureAwait(false);
            return 2;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            await stderr.WriteLineAsync($"zc: cannot use the data folder {settings.DataDirectory}: {ex.Message}").ConfigureAwait(false);
            return 2;
        }

        LogServing(logger, settings.Advertise, ControlNode.Format(settings.Raft), node.Role);

        // The silo comes after the store (its membership and grain state live there) and goes before it.
        ControlSilo? silo = null;
        if (settings.SiloPort > 0)
        {
            silo = new ControlSilo(
                new ControlSiloOptions(settings.Raft.Address, settings.SiloPort, settings.GatewayPort, new Uri(settings.Advertise), settings.Name.Length > 0 ? settings.Name : ControlNode.Format(settings.Raft)),
                Logging);
            _ = Task.Run(
                async () =>
                {
                    if (await StartSiloAsync(silo, node, logger, settings, cancellationToken).ConfigureAwait(false))
                    {
                        api.Grains = silo.Grains;
                    }
                },
                cancellationToken);
        }

        await using var siloLifetime = new SiloLifetime(silo);
        if (settings.Bootstrap)
        {
            _ = Task.Run(() => EnsureJoinTokenAsync(settings.Advertise, logger, cancellationToken), cancellationToken);
        }

        if (node.IsUnjoined)
        {
            if (settings.Peers.Count == 0)
            {
                LogWaiting(logger, ControlNode.Format(settings.Raft));
            }
            else
            {
                _ = Task.Run(() => AnnounceAsync(node, settings.Peers, logger, cancellationToken), cancellationToken);
            }
        }

        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            LogStopping(logger);
        }

        return 0;
    }

    /// <summary>Starts the silo once this member belongs to a cluster with a leader (its membership table needs the store).</summary>
    private static async Task<bool> StartSiloAsync(ControlSilo silo, ControlNode node, ILogger logger, ControlHostSettings settings, CancellationToken cancellationToken)
    {
        while (node.Role is not ("leader" or "follower"))
        {
            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }

        try
        {
            await silo.StartAsync(cancellationToken).ConfigureAwait(false);
            LogSilo(logger, settings.SiloPort, settings.GatewayPort);
            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogSiloFailed(logger, ex.Message);
            return false;
        }
    }

    /// <summary>Disposes the silo first when the member stops.</summary>
    private sealed class SiloLifetime(ControlSilo? silo) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => silo?.DisposeAsync() ?? ValueTask.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Orleans silo started on port {Silo} (gateway {Gateway})")]
    private static partial void LogSilo(ILogger logger, int silo, int gateway);

    [LoggerMessage(Level = LogLevel.Error, Message = "the Orleans silo did not start: {Problem}")]
    private static partial void LogSiloFailed(ILogger logger, string problem);

    /// <summary>A bootstrapped cluster has a join token from the start (kubeadm init's way): made once, printed, listed by zc get tokens.</summary>
    private static async Task EnsureJoinTokenAsync(string api, ILogger logger, CancellationToken cancellationToken)
    {
        using var client = new ControlClient(new Uri(api));
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var tokens = await client.TokensAsync(cancellationToken).ConfigureAwait(false);
                if (tokens.Tokens.Count == 0)
                {
                    var token = await client.CreateTokenAsync("made at bootstrap", null, cancellationToken).ConfigureAwait(false);
                    LogToken(logger, $"{token.Id}.{token.Secret}");
                }

                return;
            }
            catch (ControlApiException)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "join token: {Token} (nodes join with it; zc get tokens lists the tokens)")]
    private static partial void LogToken(ILogger logger, string token);

    /// <summary>Asks the peers to add this fresh member, one after another, until one of them has.</summary>
    private static async Task AnnounceAsync(ControlNode node, IReadOnlyList<string> peers, ILogger logger, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(40) };
        var body = new AddMemberRequest(ControlNode.Format(node.Options.RaftEndPoint));
        for (var attempt = 0; node.IsUnjoined && !cancellationToken.IsCancellationRequested; attempt++)
        {
            var peer = peers[attempt % peers.Count];
            try
            {
                using var response = await http.PostAsJsonAsync($"{peer.TrimEnd('/')}/v1/members", body, ControlJsonContext.Default.AddMemberRequest, cancellationToken).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    LogJoined(logger, peer);
                    return;
                }

                LogJoinRefused(logger, peer, (int)response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                LogJoinRefused(logger, peer, 0, ex.Message);
            }

            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "serving the API at {Api}, Raft at {Raft} ({Role})")]
    private static partial void LogServing(ILogger logger, string api, string raft, string role);

    [LoggerMessage(Level = LogLevel.Warning, Message = "this member has no cluster yet: start it with --bootstrap (a new cluster) or --peers, or add it from a member: POST /v1/members {{\"address\":\"{Raft}\"}}")]
    private static partial void LogWaiting(ILogger logger, string raft);

    [LoggerMessage(Level = LogLevel.Information, Message = "added to the cluster through {Peer}")]
    private static partial void LogJoined(ILogger logger, string peer);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Peer} did not add this member (status {Status}): {Why}; retrying")]
    private static partial void LogJoinRefused(ILogger logger, string peer, int status, string why);

    [LoggerMessage(Level = LogLevel.Information, Message = "stopping")]
    private static partial void LogStopping(ILogger logger);
}
