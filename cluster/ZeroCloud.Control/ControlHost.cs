using System.CommandLine;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ZeroCloud.Cluster.Api;
using ZeroCloud.Cluster.Raft;
using ZeroCloud.Cluster.Store;
using ZeroCloud.Model.Api;
using ZeroCloud.Orleans;

namespace ZeroCloud.Control;

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

    /// <summary>How long a member may take to stop once asked (SIGTERM, Ctrl-C): past it, it exits with 1.</summary>
    public static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Runs one member as one host: the Raft member (started before anything else, stopped after everything else),
    /// the API on Kestrel, the Orleans silo (started once the member belongs to a cluster with a leader; it leaves
    /// the cluster before the member stops), and the bootstrap chores. SIGTERM or Ctrl-C stops it within
    /// <see cref="ShutdownTimeout"/>: exit 0, or 1 when stopping took longer.
    /// </summary>
    public static async Task<int> RunAsync(ControlHostSettings settings, TextWriter stderr, CancellationToken cancellationToken)
    {
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
        ControlNode? node = null;
        var builder = new HostBuilder()
            .UseContentRoot(AppContext.BaseDirectory)
            .ConfigureLogging(b => ConfigureLogging(b, settings.LogLevel))
            .ConfigureServices(services =>
            {
                services.Configure<HostOptions>(o => o.ShutdownTimeout = ShutdownTimeout);
                services.AddSingleton(settings);
                services.AddSingleton(sp => node = new ControlNode(options, sp.GetRequiredService<ILoggerFactory>()));
                services.AddHostedService<RaftMemberService>();
                services.AddSingleton<LocalStore>();
                services.AddSingleton<IControlStore>(sp => sp.GetRequiredService<LocalStore>());
                services.AddHttpForwarder();
                services.AddSingleton<ControlApi>();
                services.AddSingleton<NodeEndpoints>();
                services.AddSingleton<ISiloDirectory, SiloDirectory>();
                services.AddSingleton(new ApiMetrics(ControlNode.Format(settings.Raft)));
                // Before the silo, which waits for this member to have joined (the chores announce it to its peers).
                services.AddHostedService<MemberChores>();
            })
            .ConfigureWebHost(web => web
                .UseKestrelCore()
                .ConfigureKestrel(k =>
                {
                    k.Listen(settings.Listen);
                    k.Limits.MaxRequestBodySize = ControlApi.MaxBodyBytes;
                    k.AddServerHeader = false;
                })
                .ConfigureServices(services => services.AddRoutingCore())
                .Configure(app =>
                {
                    var metrics = app.ApplicationServices.GetRequiredService<ApiMetrics>();
                    app.Use((ctx, next) =>
                    {
                        metrics.Count(ctx);
                        return next(ctx);
                    });
                    app.UseRouting();
                    app.UseEndpoints(endpoints =>
                    {
                        app.ApplicationServices.GetRequiredService<NodeEndpoints>().Map(endpoints);
                        app.ApplicationServices.GetRequiredService<ControlApi>().Map(endpoints);
                    });
                }));
        if (settings.SiloPort > 0)
        {
            var name = settings.Name.Length > 0 ? settings.Name : ControlNode.Format(settings.Raft);
            builder.AddControlSilo(
                new ControlSiloOptions(settings.Raft.Address, settings.SiloPort, settings.GatewayPort, name),
                ct => WaitForClusterAsync(node!, ct));
        }

        using var host = builder.Build();
        host.Services.GetRequiredService<LocalStore>().Status = host.Services.GetRequiredService<ControlApi>().BuildStatusAsync;
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("ZeroCloud.Control");
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        var stopping = System.Diagnostics.Stopwatch.StartNew();
        using var stoppingRegistration = lifetime.ApplicationStopping.Register(() =>
        {
            LogStopping(logger);
            stopping.Restart();
        });
        try
        {
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
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
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested || lifetime.ApplicationStopping.IsCancellationRequested)
        {
            // asked to stop while starting: stop what started
        }

        await host.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
        if (stopping.Elapsed > ShutdownTimeout + TimeSpan.FromMilliseconds(500))
        {
            LogSlowStop(logger, stopping.Elapsed.TotalSeconds, ShutdownTimeout.TotalSeconds);
            return 1;
        }

        LogStopped(logger, stopping.Elapsed.TotalSeconds);
        return 0;
    }

    private static void ConfigureLogging(ILoggingBuilder b, LogLevel level)
    {
        b.SetMinimumLevel(level);
        if (level > LogLevel.Debug)
        {
            b.AddFilter("DotNext", LogLevel.Error);
            b.AddFilter("Microsoft", LogLevel.Warning);
            b.AddFilter("Orleans", LogLevel.Warning);
            b.AddFilter("Polly", LogLevel.Warning);
        }

        b.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
            o.ColorBehavior = Microsoft.Extensions.Logging.Console.LoggerColorBehavior.Disabled;
        });
    }

    /// <summary>Completes once this member belongs to a cluster that has a leader: the silo's membership table lives in the store.</summary>
    private static async Task WaitForClusterAsync(ControlNode node, CancellationToken cancellationToken)
    {
        while (node.Role is not ("leader" or "follower"))
        {
            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The Raft member: started before every other service of the host, stopped after all of them.</summary>
    private sealed class RaftMemberService(ControlNode node, ControlHostSettings settings, ILogger<RaftMemberService> logger) : IHostedLifecycleService
    {
        public async Task StartingAsync(CancellationToken cancellationToken)
        {
            await node.StartAsync(cancellationToken).ConfigureAwait(false);
            LogServing(logger, settings.Advertise, ControlNode.Format(settings.Raft), node.Role);
        }

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public async Task StoppedAsync(CancellationToken cancellationToken) => await node.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>A bootstrapped member makes the first join token; a fresh one asks its peers to add it.</summary>
    private sealed class MemberChores(ControlNode node, LocalStore store, ControlHostSettings settings, ILogger<MemberChores> logger) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            try
            {
                if (settings.Bootstrap)
                {
                    await EnsureJoinTokenAsync(store, logger, stoppingToken).ConfigureAwait(false);
                }
                else if (node.IsUnjoined)
                {
                    if (settings.Peers.Count == 0)
                    {
                        LogWaiting(logger, ControlNode.Format(settings.Raft));
                    }
                    else
                    {
                        await AnnounceAsync(node, settings.Peers, logger, stoppingToken).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                // stopping
            }
        }
    }

    /// <summary>A bootstrapped cluster has a join token from the start (kubeadm init's way): made once, printed, listed by zc get tokens.</summary>
    private static async Task EnsureJoinTokenAsync(LocalStore store, ILogger logger, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var tokens = await store.RangeAsync(StoreKeys.Tokens, ct: cancellationToken).ConfigureAwait(false);
                if (tokens.Kvs.Count == 0)
                {
                    var token = ControlApi.NewToken("made at bootstrap", null);
                    var key = StoreKeys.Token(token.Id);
                    var value = System.Text.Json.JsonSerializer.Serialize(token, ControlJsonContext.Default.TokenDto);
                    var txn = new TxnRequest([new CompareDto(key, "version", "=", Number: 0)], [new OpDto("put", key, value)], []);
                    if ((await store.TxnAsync(txn, cancellationToken).ConfigureAwait(false)).Succeeded)
                    {
                        LogToken(logger, $"{token.Id}.{token.Secret}");
                    }
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

    [LoggerMessage(Level = LogLevel.Information, Message = "stopped in {Seconds:0.00} s")]
    private static partial void LogStopped(ILogger logger, double seconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "stopping took {Seconds:0.00} s, more than the {Limit} s allowed")]
    private static partial void LogSlowStop(ILogger logger, double seconds, double limit);

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
