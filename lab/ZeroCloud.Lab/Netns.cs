using System.Diagnostics;
using System.Globalization;

namespace ZeroCloud.Lab;

/// <summary>
/// Network namespaces through iproute2: a switch namespace holding a bridge, hosts attached to it by a veth pair,
/// and their removal with whatever still runs inside. Addresses given to hosts exist only in their namespaces.
/// </summary>
public static class Netns
{
    /// <summary>Runs <c>ip</c>; a failure throws with its output.</summary>
    public static async Task IpAsync(params string[] args)
    {
        var (code, output) = await Processes.RunAsync("ip", args, TimeSpan.FromSeconds(20)).ConfigureAwait(false);
        if (code != 0)
        {
            throw new InvalidOperationException($"ip {string.Join(' ', args)} failed ({code}): {output.Trim()}");
        }
    }

    /// <summary>A new namespace holding bridge <paramref name="bridge"/>, up.</summary>
    public static async Task AddSwitchAsync(string ns, string bridge = "br0")
    {
        await IpAsync("netns", "add", ns).ConfigureAwait(false);
        await IpAsync("-n", ns, "link", "add", bridge, "type", "bridge").ConfigureAwait(false);
        await IpAsync("-n", ns, "link", "set", bridge, "up").ConfigureAwait(false);
    }

    /// <summary>
    /// A new namespace <paramref name="host"/> with NIC <paramref name="nic"/> (and loopback) up, the other end of its
    /// veth on the switch's bridge. <paramref name="veth"/> names the pair while it is created (unique on this machine).
    /// </summary>
    public static async Task AddHostAsync(string switchNs, string host, string nic, string veth, string? mac = null, string bridge = "br0")
    {
        string inner = veth + "a", outer = veth + "b";
        await IpAsync("netns", "add", host).ConfigureAwait(false);
        await IpAsync("link", "add", inner, "type", "veth", "peer", "name", outer).ConfigureAwait(false);
        await IpAsync("link", "set", inner, "netns", host).ConfigureAwait(false);
        await IpAsync("link", "set", outer, "netns", switchNs).ConfigureAwait(false);
        await IpAsync("-n", switchNs, "link", "set", outer, "master", bridge, "up").ConfigureAwait(false);
        await IpAsync("-n", host, "link", "set", inner, "name", nic).ConfigureAwait(false);
        if (mac is not null)
        {
            await IpAsync("-n", host, "link", "set", nic, "address", mac).ConfigureAwait(false);
        }

        await IpAsync("-n", host, "link", "set", nic, "up").ConfigureAwait(false);
        await IpAsync("-n", host, "link", "set", "lo", "up").ConfigureAwait(false);
    }

    /// <summary>The namespaces on this machine.</summary>
    public static async Task<IReadOnlyList<string>> ListAsync() =>
        [.. (await Processes.RunAsync("ip", ["netns", "list"]).ConfigureAwait(false)).Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0])];

    public static async Task<bool> ExistsAsync(string ns) => (await ListAsync().ConfigureAwait(false)).Contains(ns);

    /// <summary>The processes running in <paramref name="ns"/>.</summary>
    public static async Task<IReadOnlyList<int>> PidsAsync(string ns) =>
        [.. (await Processes.RunAsync("ip", ["netns", "pids", ns]).ConfigureAwait(false)).Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : -1).Where(p => p > 0)];

    /// <summary>SIGKILLs every process in <paramref name="namespaces"/> (again, until none is left or 5 rounds passed); returns how many.</summary>
    public static async Task<int> KillAllAsync(IReadOnlyList<string> namespaces)
    {
        var killed = 0;
        for (var round = 0; round < 5; round++)
        {
            var pids = new List<int>();
            foreach (var ns in namespaces)
            {
                pids.AddRange(await PidsAsync(ns).ConfigureAwait(false));
            }

            if (pids.Count == 0)
            {
                break;
            }

            foreach (var pid in pids.Distinct())
            {
                try
                {
                    using var process = Process.GetProcessById(pid);
                    process.Kill(entireProcessTree: true);
                    killed++;
                }
                catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
                {
                    // gone already
                }
            }

            await Task.Delay(300).ConfigureAwait(false);
        }

        return killed;
    }

    /// <summary>Deletes <paramref name="ns"/> (its links go with it); a namespace that is gone already is no error.</summary>
    public static Task DeleteAsync(string ns) => Processes.RunAsync("ip", ["netns", "delete", ns], TimeSpan.FromSeconds(10));
}
