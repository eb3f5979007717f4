using System.Net;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Config;

namespace ZeroCloud.Netboot.Hosting;

/// <summary>The cluster and the provisioning address a service starts with.</summary>
public sealed record ServiceContext(ClusterConfig Config, string Interface, IPAddress Address);

/// <summary>What every service host does first: validate cluster.yaml, find its address, set up logging.</summary>
public static class ServiceStartup
{
    /// <summary>
    /// Loads and validates <paramref name="configPath"/> and finds the interface's address in the subnet. On failure
    /// writes why to <paramref name="stderr"/> and returns the exit code: 1 for an invalid file, 2 for the rest.
    /// </summary>
    public static async Task<(ServiceContext? Context, int ExitCode)> PrepareAsync(string configPath, string interfaceName, TextWriter stderr)
    {
        ClusterConfigResult result;
        try
        {
            result = ClusterConfigLoader.LoadFile(configPath, configPath);
        }
        catch (IOException ex)
        {
            await stderr.WriteLineAsync($"zc: cannot read {configPath}: {ex.Message}").ConfigureAwait(false);
            return (null, 2);
        }

        if (!result.IsValid)
        {
            foreach (var d in result.Diagnostics)
            {
                await stderr.WriteLineAsync(d.ToString()).ConfigureAwait(false);
            }

            return (null, 1);
        }

        var config = result.Config!;
        var ifname = interfaceName.Length > 0 ? interfaceName : config.Spec.Network.Interface;
        if (DhcpHost.FindAddress(ifname, config.Spec.Network.Subnet, out var problem) is not { } address)
        {
            await stderr.WriteLineAsync($"zc: {problem}").ConfigureAwait(false);
            return (null, 2);
        }

        return (new ServiceContext(config, ifname, address), 0);
    }

    /// <summary>A Generic Host builder with one-line, uncoloured console logs (image consoles and test logs read them).</summary>
    public static HostApplicationBuilder CreateBuilder(LogLevel level)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
            o.ColorBehavior = Microsoft.Extensions.Logging.Console.LoggerColorBehavior.Disabled;
        });
        builder.Logging.SetMinimumLevel(level);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        return builder;
    }
}
