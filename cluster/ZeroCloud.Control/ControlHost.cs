using System.CommandLine;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ZeroCloud.Cluster.Api;
using ZeroCloud.Cluster.Raft;
using ZeroCloud.Cluster.Store;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Images;
using ZeroCloud.Orleans;

namespace ZeroCloud.Control;

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
        var strandedAfter = new Option<int>("--stranded-after") { Description = "Seconds this member may stay a candidate, or a follower stuck behind its leader, while a quorum of the others follows one leader, before it repairs itself: removed from the configuration, its folder moved aside, rejoined empty (0: never).", DefaultValueFactory = _ => 30, HelpName = "s" };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Debug logging, Raft's included." };
        var siloPort = new Option<int>("--silo-port") { Description = "The Orleans silo's port (default: the API's port + 2; 0 with --no-silo).", HelpName = "port" };
        var gatewayPort = new Option<int>("--gateway-port") { Description = "Open an Orleans gateway on this port for outside Orleans clients (default: none; nothing of ZeroCloud uses one).", HelpName = "port" };
        var noSilo = new Option<bool>("--no-silo") { Description = "Run the Raft member and API only, without the Orleans silo." };
        var caFile = new Option<string>("--ca-file") { Description = "The cluster's root certificate (PEM) for a member that joins: it verifies its peers with it and receives its own certificate from them (the first member keeps it in <data>/pki/root.crt).", HelpName = "file" };
        var certFile = new Option<string>("--cert-file") { Description = "The client certificate (PEM) of the node this member runs on, written by its agent: presented for this member's CSR and its request to be added, in place of --token-file.", HelpName = "file" };
        var keyFile = new Option<string>("--key-file") { Description = "The key of --cert-file (PEM, 0600).", HelpName = "file" };
        var tokenFile = new Option<string>("--token-file") { Description = "A file whose first line is the credential this member's calls to its peers carry (the key of its node, or an operator credential; default: $ZC_TOKEN, else the admin credential --bootstrap made).", HelpName = "file" };
        foreach (var option in new Option[] { data, listen, raft, advertise, name, bootstrap, peers, election, snapshotEvery, strandedAfter, verbose, siloPort, gatewayPort, noSilo, tokenFile, caFile, certFile, keyFile })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parse, cancellationToken) =>
        {
            var stderr = parse.InvocationConfiguration.Error;
            var options = new ControlMemberOptions
            {
                DataDirectory = parse.GetValue(data)!,
                Listen = parse.GetValue(listen)!,
                Raft = parse.GetValue(raft),
                Advertise = parse.GetValue(advertise),
                Name = parse.GetValue(name) ?? "",
                Bootstrap = parse.GetValue(bootstrap),
                Peers = [.. (parse.GetValue(peers) ?? []).SelectMany(p => p.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))],
                ElectionTimeoutMs = parse.GetValue(election),
                SnapshotEvery = parse.GetValue(snapshotEvery),
                StrandedAfterSeconds = parse.GetValue(strandedAfter),
                LogLevel = parse.GetValue(verbose) ? LogLevel.Debug : LogLevel.Information,
                TokenFile = parse.GetValue(tokenFile),
                CaFile = parse.GetValue(caFile),
                CertFile = parse.GetValue(certFile),
                KeyFile = parse.GetValue(keyFile),
            };
            if ((options.CertFile is null) != (options.KeyFile is null))
            {
                await stderr.WriteLineAsync("zc: --cert-file and --key-file go together").ConfigureAwait(false);
                return 2;
            }

            var apiPort = IPEndPoint.TryParse(options.Listen, out var at) ? at.Port : 0;
            options.SiloPort = parse.GetValue(noSilo) || apiPort == 0 ? 0 : parse.GetValue(siloPort) is > 0 and var sp ? sp : apiPort + 2;
            // No Orleans gateway unless asked for: nothing of ZeroCloud is an Orleans client, and an open gateway let
            // any client on the LAN call grains (a rogue node heartbeat with no token).
            options.GatewayPort = parse.GetValue(noSilo) || apiPort == 0 ? 0 : parse.GetValue(gatewayPort) is > 0 and var gp ? gp : 0;
            if (new ControlMemberOptionsValidator().Validate(null, options) is { Failed: true } invalid)
            {
                foreach (var failure in invalid.Failures ?? [])
                {
                    await stderr.WriteLineAsync($"zc: {failure}").ConfigureAwait(false);
                }

                return 2;
            }

            return await RunAsync(options, stderr, cancellationToken).ConfigureAwait(false);
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
    public static async Task<int> RunAsync(ControlMemberOptions settings, TextWriter stderr, CancellationToken cancellationToken)
    {
        var code = await RunOnceAsync(settings, stderr, cancellationToken).ConfigureAwait(false);
        // Its damaged state discarded and its removal from the configuration done: it starts again, empty, and joins.
        return code == Rejoin ? await RunOnceAsync(settings, stderr, cancellationToken).ConfigureAwait(false) : code;
    }

    /// <summary>RunOnceAsync's answer when the member discarded damaged state and should start again, empty, to join as a new member.</summary>
    private const int Rejoin = -75;

    private static async Task<int> RunOnceAsync(ControlMemberOptions settings, TextWriter stderr, CancellationToken cancellationToken)
    {
        var options = new ControlNodeOptions
        {
            DataDirectory = settings.DataDirectory,
            RaftEndPoint = settings.RaftEndPoint,
            ApiUrl = settings.AdvertisedApi,
            Name = settings.Name,
            Bootstrap = settings.Bootstrap,
            ElectionTimeoutLow = settings.ElectionTimeoutMs,
            ElectionTimeoutHigh = settings.ElectionTimeoutMs * 2,
            SnapshotEvery = settings.SnapshotEvery,
        };
        // The credential of this member's own calls to its peers (see ControlNode.Credential).
        string? credential = null;
        if (settings.TokenFile is { } file)
        {
            credential = ZeroCloud.Model.SecretFile.Read(file, out var problem);
            if (credential is null)
            {
                await stderr.WriteLineAsync($"zc: --token-file {problem}").ConfigureAwait(false);
                return 2;
            }
        }
        else if (Environment.GetEnvironmentVariable("ZC_TOKEN") is { Length: > 0 } fromEnv)
        {
            credential = fromEnv.Trim();
        }
        else if (File.Exists(AdminCredentialPath(settings)))
        {
            credential = ZeroCloud.Model.SecretFile.Read(AdminCredentialPath(settings), out _);
        }

        // TLS: the first member makes the cluster's CA; one that joins verifies its peers with --ca-file and gets its
        // certificate (and the CA) from one of them before it serves anything.
        MemberTls tls;
        try
        {
            var given = settings.CaFile is { } ca ? ZeroCloud.Model.Pki.ClusterTrust.FromFile(ca) : null;
            IPAddress[] addresses = IPAddress.Any.Equals(settings.ListenEndPoint.Address) ? [settings.RaftEndPoint.Address] : [settings.ListenEndPoint.Address];
            var loaded = MemberTls.Load(Path.GetFullPath(settings.DataDirectory), settings.Name, addresses, settings.Bootstrap, given, ControlNode.Format(settings.RaftEndPoint));
            if (loaded is null)
            {
                await stderr.WriteLineAsync($"zc: this member has no cluster CA in {Path.Combine(settings.DataDirectory, "pki")}: start the first member with --bootstrap, or give a joining one --ca-file <the cluster's root.crt> and --peers").ConfigureAwait(false);
                return 2;
            }

            tls = loaded;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException or InvalidOperationException)
        {
            await stderr.WriteLineAsync($"zc: the member's TLS: {ex.Message}").ConfigureAwait(false);
            return 2;
        }

        if (tls.Certificate is null)
        {
            if (settings.Peers.Count == 0)
            {
                await stderr.WriteLineAsync("zc: this member has no certificate yet: give --peers, the members that can sign one").ConfigureAwait(false);
                return 2;
            }

            try
            {
                await tls.EnrollAsync(settings.Peers, credential, line => stderr.WriteLine($"zc: {line}"), cancellationToken, settings.NodeIdentity()).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return 0;
            }
        }

        options = options with
        {
            Trust = tls.Trust,
            Certificate = () => tls.Certificate,
            IsMember = tls.IsMember,
        };

        // A member the configuration lists that starts without a log (its folder wiped, a new disk) forgot its term and
        // its vote: it is removed before its Raft node starts, so that it never answers a vote, and joins as a new member.
        if (!settings.Bootstrap && settings.Peers.Count > 0 && !ControlNode.HasLog(settings.DataDirectory)
            && !await ForgetIfListedAsync(settings, tls, credential, stderr, cancellationToken).ConfigureAwait(false))
        {
            return cancellationToken.IsCancellationRequested ? 0 : 3;
        }
        ControlNode? node = null;
        var stranded = new StrandedSignal();
        var builder = new HostBuilder()
            .UseContentRoot(AppContext.BaseDirectory)
            .ConfigureLogging(b => ConfigureLogging(b, settings.LogLevel))
            .ConfigureServices(services =>
            {
                services.Configure<HostOptions>(o => o.ShutdownTimeout = ShutdownTimeout);
                services.AddOptions<ControlMemberOptions>().Configure(o => Copy(settings, o)).ValidateOnStart();
                services.AddSingleton<IValidateOptions<ControlMemberOptions>, ControlMemberOptionsValidator>();
                services.AddSingleton(tls);
                services.AddHostedService<CertificateRenewal>();
                services.AddSingleton(sp => node = new ControlNode(options, sp.GetRequiredService<ILoggerFactory>()) { Credential = credential });
                services.AddHostedService<RaftMemberService>();
                services.AddSingleton<LocalStore>();
                services.AddSingleton<IControlStore>(sp => sp.GetRequiredService<LocalStore>());
                services.AddHttpForwarder();
                services.AddSingleton(sp => new ZeroCloud.Cluster.Power.PowerService(
                    sp.GetRequiredService<ControlNode>(),
                    sp.GetRequiredService<IControlStore>(),
                    () => tls.Pki is { } pki ? ZeroCloud.Model.Pki.SecretBox.For(pki) : null));
                services.AddSingleton<ZeroCloud.Orleans.Grains.INodeFencer>(sp => new BmcFencer(
                    sp.GetRequiredService<ZeroCloud.Cluster.Power.PowerService>(),
                    sp.GetRequiredService<ControlNode>(),
                    TimeProvider.System,
                    sp.GetRequiredService<ILogger<BmcFencer>>()));
                services.AddSingleton<ControlApi>();
                services.AddSingleton<NodeEndpoints>();
                services.AddSingleton<ISiloDirectory, SiloDirectory>();
                services.AddSingleton(new ApiMetrics(ControlNode.Format(settings.RaftEndPoint)));
                // Before the silo, which waits for this member to have joined (the chores announce it to its peers).
                services.AddHostedService<MemberChores>();
                services.AddSingleton(stranded);
                services.AddHostedService<StrandedWatchdog>();
                services.AddHostedService<AuditTrimmer>();
                services.AddHostedService<ImagePruner>();
            })
            .ConfigureWebHost(web => web
                .UseKestrelCore()
                .ConfigureKestrel(k =>
                {
                    // TLS 1.3 with this member's certificate, looked up per handshake (it is renewed while running).
                    k.Listen(settings.ListenEndPoint, listen => listen.UseHttps(new Microsoft.AspNetCore.Server.Kestrel.Https.TlsHandshakeCallbackOptions
                    {
                        OnConnection = _ => ValueTask.FromResult(tls.ServerOptions()),
                        HandshakeTimeout = TimeSpan.FromSeconds(10),
                    }));
                    k.Limits.MaxRequestBodySize = ControlApi.MaxBodyBytes;
                    // A connection cap (idle ones close after Kestrel's 130 s keep-alive timeout).
                    k.Limits.MaxConcurrentConnections = 4096;
                    k.AddServerHeader = false;
                })
                .ConfigureServices(services => services.AddRoutingCore().AddNodeRateLimits())
                .Configure(app =>
                {
                    var metrics = app.ApplicationServices.GetRequiredService<ApiMetrics>();
                    app.Use((ctx, next) =>
                    {
                        metrics.Count(ctx);
                        return next(ctx);
                    });
                    app.UseRouting();
                    // Who is calling first, so the rate limits count verified identities (a made-up credential
                    // counts against its address, never against the identity it names).
                    var api = app.ApplicationServices.GetRequiredService<ControlApi>();
                    app.Use((ctx, next) =>
                    {
                        api.Identify(ctx);
                        return next(ctx);
                    });
                    app.UseRateLimiter();
                    app.Use(api.AuthorizeAsync);
                    app.UseEndpoints(endpoints =>
                    {
                        app.ApplicationServices.GetRequiredService<NodeEndpoints>().Map(endpoints);
                        app.ApplicationServices.GetRequiredService<ControlApi>().Map(endpoints);
                    });
                }));
        if (settings.SiloPort > 0)
        {
            var name = settings.Name.Length > 0 ? settings.Name : ControlNode.Format(settings.RaftEndPoint);
            builder.AddControlSilo(
                new ControlSiloOptions(settings.RaftEndPoint.Address, settings.SiloPort, settings.GatewayPort, name)
                {
                    Certificate = () => tls.Certificate,
                    IsMember = tls.IsMember,
                },
                ct => WaitForClusterAsync(node!, ct));
        }

        using var host = builder.Build();
        host.Services.GetRequiredService<LocalStore>().Status = host.Services.GetRequiredService<ControlApi>().BuildStatusAsync;
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("ZeroCloud.Control");
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        // Its log found damaged when opened again after a write failure: the member stops and exits 3; started again
        // (by its agent), it recovers as at any start with damage (with --peers: removed, moved aside, rejoined).
        string? damaged = null;
        host.Services.GetRequiredService<ControlNode>().Damaged += problem =>
        {
            damaged = problem;
            lifetime.StopApplication();
        };
        var stopping = System.Diagnostics.Stopwatch.StartNew();
        using var stoppingRegistration = lifetime.ApplicationStopping.Register(() =>
        {
            LogStopping(logger);
            stopping.Restart();
            _ = Task.Run(() => WatchdogAsync(logger, stderr));
        });
        try
        {
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or IOException { InnerException: SocketException })
        {
            await stderr.WriteLineAsync($"zc: cannot listen on {settings.Listen} (API) or {ControlNode.Format(settings.RaftEndPoint)} (Raft): {ex.Message}").ConfigureAwait(false);
            return 2;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            await stderr.WriteLineAsync($"zc: cannot use the data folder {settings.DataDirectory}: {ex.Message}").ConfigureAwait(false);
            return 2;
        }
        catch (DamagedStateException ex)
        {
            // Never served from: no vote, no read, no write came from the damaged state.
            await stderr.WriteLineAsync($"zc: this member refuses to serve from damaged state: {ex.Message}").ConfigureAwait(false);
            return await DiscardAndRejoinAsync(settings, options, tls, credential, stderr, cancellationToken).ConfigureAwait(false) ? Rejoin : 3;
        }
        catch (Exception ex) when (ex is OperationCanceledException or global::Orleans.Runtime.OrleansLifecycleCanceledException && (cancellationToken.IsCancellationRequested || lifetime.ApplicationStopping.IsCancellationRequested))
        {
            // asked to stop while starting (SIGTERM while the silo was still becoming active, say): stop what started
        }

        await host.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
        if (damaged is not null)
        {
            await stderr.WriteLineAsync($"zc: this member refuses to serve from damaged state: {damaged}").ConfigureAwait(false);
            return 3;
        }

        if (stranded.Reason is { } why)
        {
            // It rejoins through the peers it was given, else those its configuration named; never as a new cluster.
            await stderr.WriteLineAsync($"zc: {why}").ConfigureAwait(false);
            settings.Bootstrap = false;
            if (settings.Peers.Count == 0)
            {
                settings.Peers.AddRange(stranded.Peers);
            }

            return await DiscardAndRejoinAsync(settings, options, tls, credential, stderr, cancellationToken, "stranded").ConfigureAwait(false) ? Rejoin : 3;
        }

        if (stopping.Elapsed > ShutdownTimeout + TimeSpan.FromMilliseconds(500))
        {
            LogSlowStop(logger, stopping.Elapsed.TotalSeconds, ShutdownTimeout.TotalSeconds);
            return 1;
        }

        LogStopped(logger, stopping.Elapsed.TotalSeconds);
        return 0;
    }

    /// <summary>
    /// A stop that hangs (a silo that cannot write its leaving because the quorum is gone, a hosted service that
    /// ignores its token) still ends: past the shutdown timeout (and a second of grace) the member says so and exits
    /// with 1; if even that hangs, it kills itself.
    /// </summary>
    private static async Task WatchdogAsync(ILogger logger, TextWriter stderr)
    {
        await Task.Delay(ShutdownTimeout + TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        LogSlowStop(logger, (ShutdownTimeout + TimeSpan.FromSeconds(1)).TotalSeconds, ShutdownTimeout.TotalSeconds);
        await stderr.WriteLineAsync($"zc: stopping took more than the {ShutdownTimeout.TotalSeconds:0} s allowed; exiting with 1").ConfigureAwait(false);
        await stderr.FlushAsync().ConfigureAwait(false);
        new Thread(() => Environment.Exit(1)) { IsBackground = true, Name = "exit" }.Start();
        await Task.Delay(TimeSpan.FromSeconds(3)).ConfigureAwait(false);
        Environment.FailFast("zc serve control: stopping hung past its shutdown timeout and Environment.Exit");
    }

    private static void Copy(ControlMemberOptions from, ControlMemberOptions to)
    {
        to.DataDirectory = from.DataDirectory;
        to.Listen = from.Listen;
        to.Raft = from.Raft;
        to.Advertise = from.Advertise;
        to.Name = from.Name;
        to.Bootstrap = from.Bootstrap;
        to.Peers = [.. from.Peers];
        to.ElectionTimeoutMs = from.ElectionTimeoutMs;
        to.SnapshotEvery = from.SnapshotEvery;
        to.StrandedAfterSeconds = from.StrandedAfterSeconds;
        to.LogLevel = from.LogLevel;
        to.SiloPort = from.SiloPort;
        to.GatewayPort = from.GatewayPort;
        to.TokenFile = from.TokenFile;
        to.CaFile = from.CaFile;
        to.CertFile = from.CertFile;
        to.KeyFile = from.KeyFile;
    }

    /// <summary>Where a bootstrapped member keeps the admin credential it made (0600).</summary>
    public static string AdminCredentialPath(ControlMemberOptions settings) => Path.Combine(Path.GetFullPath(settings.DataDirectory), "admin-credential");

    /// <summary>Where a bootstrapped member writes the operator's credentials file (0600), for <c>zc --credentials</c>.</summary>
    public static string CredentialsFilePath(ControlMemberOptions settings) => Path.Combine(Path.GetFullPath(settings.DataDirectory), "credentials.json");

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
    private sealed class RaftMemberService(ControlNode node, IOptions<ControlMemberOptions> options, ILogger<RaftMemberService> logger) : IHostedLifecycleService
    {
        public async Task StartingAsync(CancellationToken cancellationToken)
        {
            await node.StartAsync(cancellationToken).ConfigureAwait(false);
            LogServing(logger, options.Value.AdvertisedApi, ControlNode.Format(options.Value.RaftEndPoint), node.Role);
        }

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public async Task StoppedAsync(CancellationToken cancellationToken) => await node.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Renews this member's certificate at two thirds of its life (checked hourly).</summary>
    private sealed class CertificateRenewal(MemberTls tls, ILogger<CertificateRenewal> logger) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            using var tick = new PeriodicTimer(TimeSpan.FromHours(1));
            try
            {
                while (await tick.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
                {
                    if (tls.RenewIfDue(DateTimeOffset.UtcNow))
                    {
                        logger.LogInformation("renewed this member's certificate (until {Until:u})", tls.Certificate?.NotAfter.ToUniversalTime());
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                // stopping
            }
        }
    }

    /// <summary>
    /// Old image versions go: once a minute the leader drops from the catalogue the versions <see cref="ImageRetention"/>
    /// no longer keeps (not current, not the one before it, not pinned by a placed instance, retired longer than
    /// <see cref="ControlApi.ImageGrace"/>), with their objects in one compare-and-swap transaction per image; the store
    /// then collects their blobs after its own grace period. A push does the same at once.
    /// </summary>
    private sealed class ImagePruner(ControlNode node, LocalStore store, ILogger<ImagePruner> logger) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            using var tick = new PeriodicTimer(TimeSpan.FromMinutes(1));
            try
            {
                while (await tick.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
                {
                    if (node.IsLeader)
                    {
                        await PruneAsync(stoppingToken).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                // stopping
            }
        }

        private async Task PruneAsync(CancellationToken ct)
        {
            var skipped = new List<string>();
            var used = node.Read(s => s.Range(StoreKeys.Instances).ToList())
                .Select(kv => TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.InstanceDto, skipped))
                .Select(i => i is null ? null : ImageReference.Parse(i.Image)?.Digest)
                .OfType<string>()
                .ToHashSet(StringComparer.Ordinal);
            foreach (var kv in node.Read(s => s.Range(StoreKeys.Images).ToList()))
            {
                if (TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.ImageDto, skipped) is not { } image)
                {
                    continue;
                }

                var (kept, dropped) = ImageRetention.Prune(image, used, DateTime.UtcNow, ControlApi.ImageGrace);
                if (dropped.Count == 0)
                {
                    continue;
                }

                var objects = dropped.SelectMany(d => node.Read(s => s.Range(StoreKeys.StorageObject(ImageObjects.Prefix(image.Name, d.Digest))).Select(o => o.Key).ToList()));
                var txn = new TxnRequest(
                    [new CompareDto(kv.Key, "mod", "=", Number: kv.ModRevision)],
                    [new OpDto("put", kv.Key, System.Text.Json.JsonSerializer.Serialize(kept, ControlJsonContext.Default.ImageDto)), .. objects.Select(o => new OpDto("delete", o))],
                    []);
                try
                {
                    if ((await store.TxnAsync(txn, ct).ConfigureAwait(false)).Succeeded)
                    {
                        logger.LogInformation("images: dropped {Versions} of {Image} (unused, retired more than {Grace} ago); the store collects their blobs", string.Join(", ", dropped.Select(d => $"{d.Version} {d.Digest}")), image.Name, ControlApi.ImageGrace);
                    }
                }
                catch (ControlApiException ex)
                {
                    logger.LogWarning("images: pruning {Image} failed: {Problem}", image.Name, ex.Message);
                }
            }
        }
    }

    /// <summary>A bootstrapped member makes the first join token; a fresh one asks its peers to add it.</summary>
    /// <summary>Keeps the audit log to its last <see cref="Audit.Keep"/> entries: the leader deletes the oldest once a minute.</summary>
    private sealed class AuditTrimmer(ControlNode node, LocalStore store, ILogger<AuditTrimmer> logger) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            using var tick = new PeriodicTimer(TimeSpan.FromMinutes(1));
            try
            {
                while (await tick.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
                {
                    if (!node.IsLeader)
                    {
                        continue;
                    }

                    var keys = node.Read(s => s.Range(StoreKeys.Audit).Select(kv => kv.Key).ToList());
                    var excess = keys.Take(Math.Max(0, keys.Count - Audit.Keep)).ToList();
                    foreach (var chunk in excess.Chunk(500))
                    {
                        try
                        {
                            await store.TxnAsync(new TxnRequest([], [.. chunk.Select(k => new OpDto("delete", k))], []), stoppingToken).ConfigureAwait(false);
                        }
                        catch (ControlApiException ex)
                        {
                            logger.LogWarning("audit: trimming the log failed: {Problem}", ex.Message);
                            break;
                        }
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                // stopping
            }
        }
    }

    private sealed class MemberChores(ControlNode node, LocalStore store, IOptions<ControlMemberOptions> options, ILogger<MemberChores> logger) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            try
            {
                var settings = options.Value;
                if (settings.Bootstrap)
                {
                    await EnsureAdminAsync(node, store, settings, logger, stoppingToken).ConfigureAwait(false);
                    await EnsureJoinTokenAsync(store, Path.Combine(Path.GetFullPath(settings.DataDirectory), "join-token"), logger, stoppingToken).ConfigureAwait(false);
                }
                else if (node.IsUnjoined)
                {
                    if (settings.Peers.Count == 0)
                    {
                        LogWaiting(logger, ControlNode.Format(settings.RaftEndPoint));
                    }
                    else
                    {
                        await AnnounceAsync(node, settings.Peers, settings.NodeIdentity(), logger, stoppingToken).ConfigureAwait(false);
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
    private static async Task EnsureJoinTokenAsync(LocalStore store, string file, ILogger logger, CancellationToken cancellationToken)
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
                        // The secret goes to a file only the owner reads, never to the log.
                        ZeroCloud.Model.SecretFile.Write(file, $"{token.Id}.{token.Secret}");
                        LogToken(logger, token.Id, file);
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

    /// <summary>
    /// A bootstrapped cluster has an admin from the start (kubeadm's admin.conf, talosconfig): an operator credential
    /// made once, its hash in the store, the credential in &lt;data&gt;/admin-credential and a credentials file beside it
    /// (both 0600), never in the log. The member's own calls to its peers carry it.
    /// </summary>
    private static async Task EnsureAdminAsync(ControlNode node, LocalStore store, ControlMemberOptions settings, ILogger logger, CancellationToken cancellationToken)
    {
        var file = AdminCredentialPath(settings);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var operators = await store.RangeAsync(StoreKeys.Operators, ct: cancellationToken).ConfigureAwait(false);
                if (operators.Kvs.Count > 0)
                {
                    return;
                }

                var (record, credential) = ControlApi.NewOperator(Roles.Admin, Roles.BootstrapAdminLifetime, "made at bootstrap");
                var key = StoreKeys.Operator(record.Id);
                var value = System.Text.Json.JsonSerializer.Serialize(record, ControlJsonContext.Default.OperatorDto);
                var txn = new TxnRequest([new CompareDto(key, "version", "=", Number: 0)], [new OpDto("put", key, value), Audit.Op("bootstrap", Audit.OperatorCreated, record.Id, $"admin, expires {record.Expires:u}")], []);
                if ((await store.TxnAsync(txn, cancellationToken).ConfigureAwait(false)).Succeeded)
                {
                    ZeroCloud.Model.SecretFile.Write(file, credential);
                    new CredentialsFile(settings.Name.Length > 0 ? settings.Name : "zerocloud", settings.AdvertisedApi, credential, Roles.Admin, node.Options.Trust?.Root?.ExportCertificatePem()).Write(CredentialsFilePath(settings));
                    node.Credential ??= credential;
                    LogAdmin(logger, record.Id, CredentialsFilePath(settings));
                }

                return;
            }
            catch (ControlApiException)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "admin credential {Id}.… made; the operator's credentials file is {File} (0600; zc --credentials or $ZC_CREDENTIALS)")]
    private static partial void LogAdmin(ILogger logger, string id, string file);

    [LoggerMessage(Level = LogLevel.Information, Message = "join token {Id}.… made; its secret is in {File} (0600; nodes join with zc-node --token-file; zc get tokens lists the tokens)")]
    private static partial void LogToken(ILogger logger, string id, string file);

    [LoggerMessage(Level = LogLevel.Information, Message = "stopped in {Seconds:0.00} s")]
    private static partial void LogStopped(ILogger logger, double seconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "stopping took {Seconds:0.00} s, more than the {Limit} s allowed")]
    private static partial void LogSlowStop(ILogger logger, double seconds, double limit);

    /// <summary>
    /// A member whose state is damaged, started with <c>--peers</c> (not <c>--bootstrap</c>), recovers by itself: it asks
    /// its peers to remove it from the configuration (which commits only while a leader and a quorum exist without it;
    /// a one-member cluster has no peers to ask), then moves its folder aside (<c>&lt;data&gt;.damaged-&lt;time&gt;</c>,
    /// never deleted; its pki is kept), and starts again empty, to join as a new member that is sent the state. DotNext
    /// names a member after its endpoint, so it must be out of the configuration before it answers any vote: it never
    /// votes with a term it forgot. False (the member exits 3) when it cannot be removed.
    /// </summary>
    private static async Task<bool> DiscardAndRejoinAsync(ControlMemberOptions settings, ControlNodeOptions options, MemberTls tls, string? credential, TextWriter stderr, CancellationToken cancellationToken, string why = "damaged")
    {
        if (settings.Peers.Count == 0 || settings.Bootstrap)
        {
            await stderr.WriteLineAsync("zc: no --peers to rejoin through (or --bootstrap): remove it with zc member remove, empty its folder, and start it again with --peers").ConfigureAwait(false);
            return false;
        }

        if (!await RemoveFromConfigurationAsync(settings, tls, credential, stderr, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        var id = ControlNode.Format(settings.RaftEndPoint);
        var folder = Path.GetFullPath(options.DataDirectory);
        var aside = $"{folder}.{why}-{DateTime.UtcNow:yyyyMMddTHHmmssZ}";
        Directory.Move(folder, aside);
        Directory.CreateDirectory(folder);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        // Its CA and member certificate are not part of the damage (nor why it was stranded): kept, so it joins as itself.
        var pki = Path.Combine(aside, "pki");
        if (Directory.Exists(pki))
        {
            Directory.CreateDirectory(Path.Combine(folder, "pki"));
            foreach (var f in Directory.EnumerateFiles(pki))
            {
                File.Copy(f, Path.Combine(folder, "pki", Path.GetFileName(f)));
            }
        }

        await stderr.WriteLineAsync($"zc: {id} removed from the configuration; its {why} folder is kept at {aside}; starting again empty to join as a new member").ConfigureAwait(false);
        return true;
    }

    /// <summary>An HTTP client to the peers as this member: its node's certificate (a placed voter), else its own, with its bearer credential when it has no node identity.</summary>
    internal static HttpClient PeerClient(ControlMemberOptions settings, MemberTls tls, string? credential)
    {
        var identity = settings.NodeIdentity();
        var http = new HttpClient(tls.Trust.Handler(identity ?? (() => tls.Certificate))) { Timeout = TimeSpan.FromSeconds(20) };
        if (credential is not null && identity is null)
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", credential);
        }

        return http;
    }

    /// <summary>
    /// Asks the peers to remove this member from the configuration. It commits only while a leader and a quorum exist
    /// without it (never on a one-member cluster: there is no peer to ask). False when no peer did, saying why.
    /// </summary>
    private static async Task<bool> RemoveFromConfigurationAsync(ControlMemberOptions settings, MemberTls tls, string? credential, TextWriter stderr, CancellationToken cancellationToken)
    {
        var id = ControlNode.Format(settings.RaftEndPoint);
        using var http = PeerClient(settings, tls, credential);
        var removed = false;
        for (var attempt = 0; attempt < 3 * settings.Peers.Count && !removed && !cancellationToken.IsCancellationRequested; attempt++)
        {
            var peer = settings.Peers[attempt % settings.Peers.Count];
            try
            {
                using var response = await http.DeleteAsync($"{peer.TrimEnd('/')}/v1/members/{Uri.EscapeDataString(id)}", cancellationToken).ConfigureAwait(false);
                var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                removed = response.IsSuccessStatusCode || (response.StatusCode == HttpStatusCode.NotFound && text.Contains(ErrorCodes.MemberNotFound, StringComparison.Ordinal));
                if (!removed)
                {
                    await stderr.WriteLineAsync($"zc: {peer} did not remove {id}: {(int)response.StatusCode} {text.Trim()}").ConfigureAwait(false);
                    await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                await stderr.WriteLineAsync($"zc: {peer}: {ex.Message}").ConfigureAwait(false);
            }
        }

        if (!removed)
        {
            await stderr.WriteLineAsync($"zc: {id} could not be removed from the configuration (no leader with a quorum without it?); it stays out: remove it with zc member remove, empty its folder, and start it again").ConfigureAwait(false);
        }

        return removed;
    }

    /// <summary>
    /// A member started with <c>--peers</c> and no log: when the configuration lists it (it was a member and lost its
    /// folder), it is removed before it starts (see <see cref="RemoveFromConfigurationAsync"/>), so that it joins as a
    /// new member instead of answering votes with a term and a vote it forgot. A member the configuration does not list
    /// goes on as before. Until a peer answers who the members are, it waits (it could not join without one either).
    /// </summary>
    private static async Task<bool> ForgetIfListedAsync(ControlMemberOptions settings, MemberTls tls, string? credential, TextWriter stderr, CancellationToken cancellationToken)
    {
        var id = ControlNode.Format(settings.RaftEndPoint);
        using var http = PeerClient(settings, tls, credential);
        for (var attempt = 0; !cancellationToken.IsCancellationRequested; attempt++)
        {
            var peer = settings.Peers[attempt % settings.Peers.Count];
            try
            {
                using var response = await http.GetAsync($"{peer.TrimEnd('/')}/v1/members", cancellationToken).ConfigureAwait(false);
                if (response.IsSuccessStatusCode
                    && await response.Content.ReadFromJsonAsync(ControlJsonContext.Default.MembersResponse, cancellationToken).ConfigureAwait(false) is { } members)
                {
                    if (members.Members.All(m => m.Id != id))
                    {
                        return true;
                    }

                    await stderr.WriteLineAsync($"zc: {id} is a member of the cluster ({peer} lists it) but its folder {settings.DataDirectory} holds no log (wiped, or a new disk): it forgot its term and its vote, so it is removed from the configuration before it starts, then joins as a new member").ConfigureAwait(false);
                    return await RemoveFromConfigurationAsync(settings, tls, credential, stderr, cancellationToken).ConfigureAwait(false);
                }

                await stderr.WriteLineAsync($"zc: {peer} did not list the members ({(int)response.StatusCode}); asking another").ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException && !cancellationToken.IsCancellationRequested)
            {
                await stderr.WriteLineAsync($"zc: {peer}: {ex.Message}").ConfigureAwait(false);
            }

            await Task.Delay(TimeSpan.FromSeconds(Math.Min(5, 0.5 * (attempt + 1))), cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        return false;
    }

    /// <summary>Asks the peers to add this fresh member, one after another, until one of them has.</summary>
    private static async Task AnnounceAsync(ControlNode node, IReadOnlyList<string> peers, Func<System.Security.Cryptography.X509Certificates.X509Certificate2?>? nodeIdentity, ILogger logger, CancellationToken cancellationToken)
    {
        // Not in the configuration yet, so not a member to the others: it asks as its node (its certificate, else its key).
        using var http = new HttpClient(nodeIdentity is not null && node.Options.Trust is { } trust ? trust.Handler(nodeIdentity) : node.Options.PeerHandler()) { Timeout = TimeSpan.FromSeconds(40) };
        if (node.Credential is { } credential && nodeIdentity is null)
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", credential);
        }

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
