using Microsoft.Extensions.Logging;
using ZeroCloud.Init;
using ZeroCloud.Model.Net;

namespace ZeroCloud.Node;

/// <summary>
/// The agent of a machine booted from the node image: PID 1 has brought the machine up (mounts, modules, its own
/// DHCP client, host name); the kernel command line netboot's boot script put there (zc.control, zc.token,
/// zc.name, zc.join) says which control plane to join. Then the same <see cref="Agent"/> runs as on any other node:
/// heartbeats and the instance runtime. <c>zc-node --cmdline FILE</c> runs this path as a process.
/// </summary>
internal static class NodeAgent
{
    /// <summary>Where a booted node keeps its instances' data (in RAM until nodes claim disks).</summary>
    public const string DataDirectory = "/var/lib/zerocloud";

    public static async Task<int> RunAsync(InitResult init)
    {
        var log = new LineLogger(SystemInit.Log);
        var timings = new Dictionary<string, double>(init.Timings) { ["initToAgent"] = SystemInit.Uptime() - init.Timings["kernelToInit"] };
        // The boot's phases go to the console, where a machine's serial console (or the lab's QEMU) shows them.
        var events = BootEvents.ToConsole(Console.WriteLine);
        var address = Ipv4.FromUInt32(init.Address).ToString();
        events(new ZeroCloud.Model.Api.BootEvent(ZeroCloud.Model.Api.BootPhase.Booted, DateTime.UtcNow, Address: address, Name: init.CommandLine["name"] ?? init.HostName));
        var code = await RunAsync(init.CommandLine, address, init.Mac.ToString(), init.HostName, timings, s => s with { Data = s.Data ?? DataDirectory, Events = s.Events ?? events }, log, CancellationToken.None).ConfigureAwait(false);
        if (code != 0)
        {
            // PID 1 stays up, so the console keeps saying why this machine does not join.
            await Task.Delay(Timeout.Infinite).ConfigureAwait(false);
        }

        return code;
    }

    /// <summary>
    /// The node image's way in: settings from the kernel command line, adjusted by <paramref name="overrides"/>
    /// (a process run of this path gives its data and image folders), then <see cref="Agent.RunAsync"/>.
    /// </summary>
    public static async Task<int> RunAsync(
        KernelCommandLine cmdline,
        string? address,
        string? mac,
        string? hostName,
        IReadOnlyDictionary<string, double> timings,
        Func<AgentSettings, AgentSettings> overrides,
        ILogger log,
        CancellationToken stop)
    {
        if (AgentSettings.FromKernelCommandLine(cmdline, address, mac, hostName, out var problem) is not { } settings)
        {
            log.LogError("{Problem}", problem);
            return 1;
        }

        settings = overrides(settings with { Timings = timings });
        log.LogInformation("joining the control plane at {Control} as {Name}", string.Join(",", settings.Control.Count > 0 ? settings.Control : settings.Join), settings.Name ?? hostName);
        return await Agent.RunAsync(settings, log, stop).ConfigureAwait(false);
    }
}
