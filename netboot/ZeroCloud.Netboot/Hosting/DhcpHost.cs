using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Net;
using ZeroCloud.Netboot.Dhcp;

namespace ZeroCloud.Netboot.Hosting;

/// <summary>How the dhcp service is started: from `zc serve dhcp` or the standalone zc-dhcp binary.</summary>
public sealed record DhcpHostSettings(string ConfigPath, string Interface, string DataDirectory, IPAddress? NextServer, string? HttpBase, LogLevel LogLevel = LogLevel.Information, Uri? Store = null, string? StoreCredential = null, ZeroCloud.Model.Pki.ClusterTrust? StoreTrust = null);

/// <summary>Runs the DHCP server in a Generic Host: config validated first, Ctrl-C or SIGTERM stops it cleanly.</summary>
public static class DhcpHost
{
    public static async Task<int> RunAsync(DhcpHostSettings settings, TextWriter stderr, CancellationToken cancellationToken)
    {
        var (context, exitCode) = await ServiceStartup.PrepareAsync(settings.ConfigPath, settings.Interface, stderr).ConfigureAwait(false);
        if (context is null)
        {
            return exitCode;
        }

        var (config, ifname, address) = context;
        var boot = new BootSettings
        {
            NextServer = Ipv4.ToUInt32(settings.NextServer ?? address),
            HttpBase = (settings.HttpBase ?? $"http://{address}:8080").TrimEnd('/'),
        };
        var options = DhcpServerOptions.FromCluster(config, Ipv4.ToUInt32(address), boot);

        var builder = ServiceStartup.CreateBuilder(settings.LogLevel);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<ILeaseStore>(sp => settings.Store is { } store
            ? new ClusterLeaseStore(new ZeroCloud.Model.Api.ControlClient(store, settings.StoreTrust?.MultiplexedClient(TimeSpan.FromSeconds(30))) { Token = settings.StoreCredential, RetryRefusalsFor = TimeSpan.FromSeconds(5) }, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<ClusterLeaseStore>>())
            : new FileLeaseStore(Path.Combine(settings.DataDirectory, "leases.log"), sp.GetRequiredService<ILogger<FileLeaseStore>>()));
        builder.Services.AddSingleton(sp => new DhcpServer(options, sp.GetRequiredService<ILeaseStore>(), ifname, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<DhcpServer>>()));
        builder.Services.AddHostedService<DhcpHostedService>();
        var host = builder.Build();
        try
        {
            await host.RunAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            await stderr.WriteLineAsync($"zc: cannot listen for DHCP on {ifname}: {ex.Message} (the DHCP ports need root, and nothing else may hold them)").ConfigureAwait(false);
            return 2;
        }
        catch (ZeroCloud.Model.Api.ControlApiException ex)
        {
            await stderr.WriteLineAsync($"zc: cannot load the leases from the control plane at {settings.Store}: {ex.Message}").ConfigureAwait(false);
            return 2;
        }
        catch (InvalidDataException ex)
        {
            await stderr.WriteLineAsync($"zc: the lease file cannot be trusted: {ex.Message}").ConfigureAwait(false);
            return 2;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            await stderr.WriteLineAsync($"zc: cannot use the lease folder {settings.DataDirectory}: {ex.Message}").ConfigureAwait(false);
            return 2;
        }
        finally
        {
            // The lease store is IAsyncDisposable only: its writer drains before the process exits.
            await ((IAsyncDisposable)host).DisposeAsync().ConfigureAwait(false);
        }

        return 0;
    }

    /// <summary>The interface's IPv4 address inside the subnet; the server identifies itself with it.</summary>
    public static IPAddress? FindAddress(string ifname, Ipv4Subnet subnet, out string problem)
    {
        var nic = NetworkInterface.GetAllNetworkInterfaces().FirstOrDefault(n => n.Name == ifname);
        if (nic is null)
        {
            problem = $"there is no network interface '{ifname}' (give the provisioning interface with --interface, or set spec.network.interface)";
            return null;
        }

        var address = nic.GetIPProperties().UnicastAddresses
            .Select(u => u.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && subnet.Contains(a));
        problem = address is null ? $"interface '{ifname}' has no address in {subnet}; give it one, such as: ip addr add {Ipv4.FromUInt32(subnet.NetworkValue + 2)}/{subnet.PrefixLength} dev {ifname}" : "";
        return address;
    }

    private sealed class DhcpHostedService(DhcpServer server, IHostApplicationLifetime lifetime) : IHostedService
    {
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            try
            {
                await server.StartAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                lifetime.StopApplication();
                throw;
            }
        }

        public async Task StopAsync(CancellationToken cancellationToken) => await server.DisposeAsync().ConfigureAwait(false);
    }
}
