using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Runtime.Hosting;
using Orleans.Storage;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Orleans;

/// <summary>Where a control member's silo listens and how it reaches its own member's API.</summary>
public sealed record ControlSiloOptions(IPAddress Address, int SiloPort, int GatewayPort, Uri LocalApi, string Name, string ClusterId = "zc")
{
    /// <summary>
    /// Until a cluster.yaml is applied, a node silent this long is Suspect, and Down after <see cref="DownAfter"/>
    /// (cluster.yaml's defaults: heartbeat 1 s, downAfter 5 s); afterwards the spec's nodes.heartbeat and nodes.downAfter rule.
    /// </summary>
    public TimeSpan SuspectAfter { get; init; } = TimeSpan.FromSeconds(2.5);

    public TimeSpan DownAfter { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// The Orleans silo beside a control-plane member: membership through <see cref="RaftMembershipTable"/>, grain
/// state through <see cref="RaftGrainStorage"/> ("raft", also the default), both over the member's own API (which
/// forwards writes to the leader). Failure detection is tuned for a control plane that must heal in seconds.
/// </summary>
public sealed class ControlSilo : IAsyncDisposable
{
    public const string StorageName = "raft";

    private readonly IHost _host;

    public ControlSilo(ControlSiloOptions options, Action<ILoggingBuilder> logging)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        logging(builder.Logging);
        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = options.ClusterId;
                o.ServiceId = options.ClusterId;
            });
            silo.Configure<SiloOptions>(o => o.SiloName = options.Name);
            silo.ConfigureEndpoints(options.Address, options.SiloPort, options.GatewayPort, listenOnAnyHostAddress: false);
            silo.Configure<ClusterMembershipOptions>(o =>
            {
                // Defaults declare a SIGKILLed silo dead after ~12 s and a hung one after ~67 s.
                o.ProbeTimeout = TimeSpan.FromSeconds(1);
                o.NumMissedProbesLimit = 2;
                o.TableRefreshTimeout = TimeSpan.FromSeconds(5);
                o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(30);
                o.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(30);
            });
            silo.Services.AddSingleton(_ => new ControlClient(options.LocalApi));
            silo.Services.AddSingleton(TimeProvider.System);
            silo.Services.AddSingleton(new Grains.NodeLiveness(options.SuspectAfter, options.DownAfter));
            silo.Services.AddSingleton<ClusterSpecCache>();
            silo.Services.AddHostedService<ClusterReconciler>();
            silo.Services.AddSingleton<IMembershipTable>(sp => new RaftMembershipTable(sp.GetRequiredService<ControlClient>(), options.ClusterId, sp.GetRequiredService<ILogger<RaftMembershipTable>>()));
            silo.Services.AddGrainStorage(StorageName, (sp, _) => new RaftGrainStorage(sp.GetRequiredService<ControlClient>(), sp.GetRequiredService<IGrainStorageSerializer>()));
        });
        _host = builder.Build();
    }

    public IServiceProvider Services => _host.Services;

    public IGrainFactory Grains => _host.Services.GetRequiredService<IGrainFactory>();

    public Task StartAsync(CancellationToken cancellationToken) => _host.StartAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await _host.StopAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // stopping took too long: the process goes anyway
        }

        _host.Dispose();
    }
}
