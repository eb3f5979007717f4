using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Net;
using ZeroCloud.Netboot.Hosting;
using ZeroCloud.Netboot.Tftp;

namespace ZeroCloud.Netboot.Http;

public sealed record NetbootHostSettings(
    string ConfigPath,
    string Interface,
    string Root,
    string? IpxeDirectory,
    int TftpPort,
    int HttpPort,
    IReadOnlyList<string> Join,
    string? Token,
    string? PublicBase,
    LogLevel LogLevel = LogLevel.Information,
    IReadOnlyList<string>? Control = null,
    ZeroCloud.Model.Pki.ClusterTrust? Trust = null);

/// <summary>The netboot service: TFTP and HTTP boot from one read-only root, in one Generic Host.</summary>
public static class NetbootHost
{
    public const string DebianIpxeDirectory = "/usr/lib/ipxe";

    /// <summary>Asks the control plane for a machine's ticket: each member in turn until one answers.</summary>
    private static Func<MacAddress, CancellationToken, Task<string>> TicketIssuer(IReadOnlyList<string> control, string? credential, ZeroCloud.Model.Pki.ClusterTrust? trust)
    {
        var http = trust?.Client(TimeSpan.FromSeconds(5)) ?? new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var clients = control.Select(url => new ControlClient(new Uri(url), http) { Token = credential, RetryRefusalsFor = TimeSpan.FromSeconds(5) }).ToList();
        return async (mac, ct) =>
        {
            Exception? last = null;
            foreach (var client in clients)
            {
                try
                {
                    return (await client.CreateTicketAsync(mac.ToString(), ct).ConfigureAwait(false)).Ticket;
                }
                catch (Exception ex) when (ex is ControlApiException or HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
                {
                    last = ex;
                }
            }

            throw new InvalidOperationException(last?.Message ?? "no control-plane member", last);
        };
    }

    public static async Task<int> RunAsync(NetbootHostSettings settings, TextWriter stderr, CancellationToken cancellationToken)
    {
        var (context, exitCode) = await ServiceStartup.PrepareAsync(settings.ConfigPath, settings.Interface, stderr).ConfigureAwait(false);
        if (context is null)
        {
            return exitCode;
        }

        var (config, _, address) = context;
        if (!Directory.Exists(settings.Root))
        {
            await stderr.WriteLineAsync($"zc: --root {settings.Root}: no such folder").ConfigureAwait(false);
            return 2;
        }

        var root = new TftpRoot(settings.Root, settings.IpxeDirectory is { } dir && Directory.Exists(dir) ? dir : null);
        var builder = ServiceStartup.CreateBuilder(settings.LogLevel);
        builder.Services.AddSingleton(new TftpServerOptions { Address = address, Port = settings.TftpPort });
        builder.Services.AddSingleton(root);
        builder.Services.AddSingleton<TftpServer>();
        builder.Services.AddSingleton(sp => new BootHttpServer(
            new BootHttpOptions
            {
                Cluster = config,
                Address = address,
                Port = settings.HttpPort,
                PublicBase = (settings.PublicBase ?? $"http://{address}:{settings.HttpPort}").TrimEnd('/'),
                JoinEndpoints = settings.Join,
                JoinToken = settings.Token,
                ControlEndpoints = settings.Control ?? [],
                // The credential for tickets: a bearer (--token-file), or the node's client certificate (--cert-file).
                Tickets = (settings.Token is not null || settings.Trust?.ClientCertificate is not null) && settings.Control is { Count: > 0 } control ? TicketIssuer(control, settings.Token, settings.Trust) : null,
                CaFingerprint = settings.Trust?.Fingerprint,
            },
            root,
            sp.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddHostedService<NetbootHostedService>();
        var host = builder.Build();
        try
        {
            await host.RunAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            await stderr.WriteLineAsync($"zc: netboot could not start on {address}: {ex.Message} (port {settings.TftpPort} needs root; nothing else may hold the ports)").ConfigureAwait(false);
            return 2;
        }
        finally
        {
            await ((IAsyncDisposable)host).DisposeAsync().ConfigureAwait(false);
        }

        return 0;
    }

    private sealed class NetbootHostedService(TftpServer tftp, BootHttpServer http) : IHostedService
    {
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            tftp.Start();
            await http.StartAsync(cancellationToken).ConfigureAwait(false);
        }

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            await http.DisposeAsync().ConfigureAwait(false);
            tftp.Dispose();
        }
    }
}
