using ZeroCloud.Init;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Net;

namespace ZeroCloud.Node;

/// <summary>The node agent once PID 1 has brought the machine up: inventory, then hello to the zc.join endpoints.</summary>
internal static class NodeAgent
{
    public static async Task<int> RunAsync(InitResult init)
    {
        var join = (init.CommandLine["join"] ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries);
        if (join.Length == 0)
        {
            SystemInit.Log("no zc.join= on the kernel command line: nothing to join; waiting");
            await Task.Delay(Timeout.Infinite).ConfigureAwait(false);
        }

        var inventory = Inventory.Collect();
        var timings = new Dictionary<string, double>(init.Timings) { ["initToHello"] = SystemInit.Uptime() - init.Timings["kernelToInit"] };
        var hello = new NodeHello(init.Mac.ToString(), init.HostName, init.CommandLine["token"], Ipv4.FromUInt32(init.Address).ToString(), inventory, timings);
        var url = await Hello.SendAsync(join, hello, TimeSpan.FromMinutes(10), SystemInit.Log).ConfigureAwait(false);
        SystemInit.Log($"hello accepted by {url} ({inventory.Cpus} CPUs, {inventory.MemoryBytes >> 20} MiB, {inventory.Nics.Count} NICs, {inventory.Disks.Count} disks; {SystemInit.Uptime():0.00} s since the kernel started)");

        // Heartbeats to the control plane when the command line names its members (zc.control=); PID 1 stays up.
        var control = (init.CommandLine["control"] ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries);
        if (control.Length > 0)
        {
            using var endpoints = new ControlEndpoints(control, hello.Token, TimeSpan.FromSeconds(5));
            var heartbeat = new Heartbeat(endpoints, hello.Name, () => new HeartbeatRequest(inventory.Cpus, inventory.MemoryBytes, hello.Address, null, ["process"], hello.Mac), SystemInit.Log);
            await heartbeat.RunAsync(CancellationToken.None).ConfigureAwait(false);
        }

        await Task.Delay(Timeout.Infinite).ConfigureAwait(false);
        return 0;
    }
}
