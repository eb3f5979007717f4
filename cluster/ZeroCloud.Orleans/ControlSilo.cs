using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Runtime.Hosting;
using Orleans.Storage;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Orleans;

/// <summary>Where a control member's silo listens.</summary>
public sealed record ControlSiloOptions(IPAddress Address, int SiloPort, int GatewayPort, string Name, string ClusterId = "zc")
{
    /// <summary>
    /// Until a cluster.yaml is applied, a node silent this long is Suspect, and Down after <see cref="DownAfter"/>
    /// (cluster.yaml's defaults: heartbeat 1 s, downAfter 5 s); afterwards the spec's nodes.heartbeat and nodes.downAfter rule.
    /// </summary>
    public TimeSpan SuspectAfter { get; init; } = TimeSpan.FromSeconds(2.5);

    public TimeSpan DownAfter { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>This member's certificate (looked up per handshake: renewed while running); null: silos talk plain TCP (tests of the grains alone).</summary>
    public Func<System.Security.Cryptography.X509Certificates.X509Certificate2?>? Certificate { get; init; }

    /// <summary>Whether a peer silo's certificate is a member certificate of this cluster.</summary>
    public Func<System.Security.Cryptography.X509Certificates.X509Certificate2, System.Security.Cryptography.X509Certificates.X509Chain?, bool>? IsMember { get; init; }
}

/// <summary>
/// Whether this process's silo is active: set when the silo's lifecycle reaches Active, cleared when it starts to
/// stop. The API answers node calls with 503 while it is not.
/// </summary>
public sealed class SiloReadiness
{
    private volatile bool _active;

    public bool IsActive => _active;

    internal void Set(bool active) => _active = active;
}

/// <summary>
/// The Orleans silo of a control-plane member, hosted in the member's own host: membership through
/// <see cref="RaftMembershipTable"/>, grain state through <see cref="RaftGrainStorage"/> ("raft", also the default),
/// both over the <see cref="IControlStore"/> the host registers (in a member: the in-process store). The silo starts
/// only once <c>storeReady</c> completes (the member belongs to a cluster with a leader: its membership table lives
/// in the store). Failure detection is tuned for a control plane that must heal in seconds.
/// </summary>
public static partial class ControlSilo
{
    public const string StorageName = "raft";

    public static IHostBuilder AddControlSilo(this IHostBuilder builder, ControlSiloOptions options, Func<CancellationToken, Task> storeReady)
    {
        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = options.ClusterId;
                o.ServiceId = options.ClusterId;
            });
            silo.Configure<SiloOptions>(o => o.SiloName = options.Name);
            silo.ConfigureEndpoints(options.Address, options.SiloPort, options.GatewayPort, listenOnAnyHostAddress: false);
            if (options.Certificate is { } certificate && options.IsMember is { } isMember)
            {
                // Mutual TLS 1.3 between silos with the members' certificates: a silo of another cluster, or anything
                // that is not a member, fails the handshake.
                silo.UseTls(tls =>
                {
                    // The selectors pick the renewed certificate; Orleans' client side also wants one up front.
                    tls.LocalCertificate = certificate();
                    tls.LocalServerCertificateSelector = (_, _) => certificate()!;
                    tls.LocalClientCertificateSelector = (_, _, _, _, _) => certificate()!;
                    tls.SslProtocols = System.Security.Authentication.SslProtocols.Tls13;
                    tls.RemoteCertificateMode = global::Orleans.Connections.Security.RemoteCertificateMode.RequireCertificate;
                    tls.ClientCertificateMode = global::Orleans.Connections.Security.RemoteCertificateMode.RequireCertificate;
                    tls.RemoteCertificateValidation = (peer, chain, _) => isMember(peer, chain);
                    tls.OnAuthenticateAsClient = (_, ssl) => ssl.TargetHost = "";
                });
            }
            silo.Configure<ClusterMembershipOptions>(o =>
            {
                // Defaults declare a SIGKILLed silo dead after ~12 s and a hung one after ~67 s.
                o.ProbeTimeout = TimeSpan.FromSeconds(1);
                o.NumMissedProbesLimit = 2;
                o.TableRefreshTimeout = TimeSpan.FromSeconds(5);
                o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(30);
                o.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(30);
            });
            silo.Services.AddSingleton<SiloReadiness>();
            silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => new SiloGate(storeReady, sp.GetRequiredService<SiloReadiness>(), options, sp.GetRequiredService<ILogger<SiloReadiness>>()));
            silo.Services.AddSingleton(new Grains.NodeLiveness(options.SuspectAfter, options.DownAfter));
            silo.Services.AddSingleton<Grains.SilenceMonitor>();
            // The member's host registers the BMC fencer first where it has power control.
            silo.Services.TryAddSingleton<Grains.INodeFencer, Grains.NoFencing>();
            silo.Services.AddSingleton<ClusterSpecCache>();
            silo.Services.AddHostedService<ClusterReconciler>();
            silo.Services.AddSingleton<IMembershipTable>(sp => new RaftMembershipTable(sp.GetRequiredService<IControlStore>(), options.ClusterId, sp.GetRequiredService<ILogger<RaftMembershipTable>>()));
            silo.Services.AddGrainStorage(StorageName, (sp, _) => new RaftGrainStorage(sp.GetRequiredService<IControlStore>(), sp.GetRequiredService<IGrainStorageSerializer>()));
        });

        // The silo's clock, registered after Orleans' own defaults (which register the system clock once the silo is
        // configured): the system's, or the test hook's (OffsetTimeProvider).
        builder.ConfigureServices(services => services.Replace(ServiceDescriptor.Singleton(OffsetTimeProvider.FromEnvironment())));
        return builder;
    }

    /// <summary>Holds the silo's start until the store is ready, and tells <see cref="SiloReadiness"/> when it is active.</summary>
    private sealed class SiloGate(Func<CancellationToken, Task> storeReady, SiloReadiness readiness, ControlSiloOptions options, ILogger logger) : ILifecycleParticipant<ISiloLifecycle>
    {
        public void Participate(ISiloLifecycle lifecycle)
        {
            lifecycle.Subscribe("zc-store-ready", ServiceLifecycleStage.First, storeReady, _ => Task.CompletedTask);
            lifecycle.Subscribe(
                "zc-silo-active",
                ServiceLifecycleStage.Active,
                _ =>
                {
                    readiness.Set(true);
                    LogActive(logger, options.SiloPort, options.GatewayPort);
                    return Task.CompletedTask;
                },
                _ =>
                {
                    readiness.Set(false);
                    return Task.CompletedTask;
                });
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Orleans silo started on port {Silo} (gateway port {Gateway}; 0: none)")]
    private static partial void LogActive(ILogger logger, int silo, int gateway);
}
