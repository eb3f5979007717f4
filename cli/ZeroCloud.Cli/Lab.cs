using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ZeroCloud.Cli;

/// <summary>What <c>zc up</c> made, so that <c>zc down</c>, <c>zc get</c> and a second <c>zc up</c> find it.</summary>
internal sealed record LabState(
    string Cluster,
    string Directory,
    string SeedNamespace,
    string SeedAddress,
    string Api,
    IReadOnlyList<string> Namespaces,
    IReadOnlyList<LabServer> Servers,
    DateTime Started);

/// <summary>One virtual bare server: its namespace, MAC and folder.</summary>
internal sealed record LabServer(string Id, string Namespace, string Mac, string Directory);

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(LabState))]
internal sealed partial class LabJsonContext : JsonSerializerContext;

/// <summary>
/// The lab of <c>zc up</c> on this machine: a switch namespace with a bridge, and one namespace per host (the seed
/// and each virtual server) with a veth on that bridge. Addresses exist only inside; nothing is routed out. State in
/// <c>/var/tmp/zerocloud/&lt;cluster&gt;/</c> (override the root with <c>ZC_LAB_ROOT</c>).
/// </summary>
internal static class Lab
{
    public static string Root => Environment.GetEnvironmentVariable("ZC_LAB_ROOT") is { Length: > 0 } r ? r : "/var/tmp/zerocloud";

    public static string DirectoryOf(string cluster) => Path.Combine(Root, cluster);

    public static string StatePath(string cluster) => Path.Combine(DirectoryOf(cluster), "state.json");

    public static string Prefix(string cluster) => $"zc-{cluster}";

    public static LabState? Load(string cluster) =>
        File.Exists(StatePath(cluster)) ? JsonSerializer.Deserialize(File.ReadAllText(StatePath(cluster)), LabJsonContext.Default.LabState) : null;

    /// <summary>Every lab whose state is on this machine.</summary>
    public static List<LabState> All() =>
        Directory.Exists(Root)
            ? [.. Directory.GetDirectories(Root).Select(d => Path.Combine(d, "state.json")).Where(File.Exists).Select(f => JsonSerializer.Deserialize(File.ReadAllText(f), LabJsonContext.Default.LabState)!)]
            : [];

    public static void Save(LabState state) =>
        File.WriteAllText(StatePath(state.Cluster), JsonSerializer.Serialize(state, LabJsonContext.Default.LabState));

    public static async Task<bool> NamespaceExistsAsync(string name) =>
        (await RunAsync("ip", ["netns", "list"]).ConfigureAwait(false)).Output.Split('\n').Any(l => l.Split(' ')[0] == name);

    /// <summary>Creates the switch and one namespace per host; the seed's NIC gets the spec's interface name.</summary>
    public static async Task CreateAsync(string cluster, string seedNamespace, string seedInterface, IReadOnlyList<LabServer> servers, Action<int> progress)
    {
        var prefix = Prefix(cluster);
        var tag = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(cluster)))[..3];
        var sw = $"{prefix}-sw";
        await Ip("netns", "add", sw).ConfigureAwait(false);
        await Ip("-n", sw, "link", "add", "br0", "type", "bridge").ConfigureAwait(false);
        await Ip("-n", sw, "link", "set", "br0", "up").ConfigureAwait(false);
        var hosts = new List<(string Ns, string Nic, string? Mac, int Index)> { (seedNamespace, seedInterface, null, 0) };
        hosts.AddRange(servers.Select((s, i) => (s.Namespace, "eth0", (string?)s.Mac, i + 1)));
        var done = 0;
        await Parallel.ForEachAsync(hosts, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (h, _) =>
        {
            string inner = $"z{tag}{h.Index}a", outer = $"z{tag}{h.Index}b";
            await Ip("netns", "add", h.Ns).ConfigureAwait(false);
            await Ip("link", "add", inner, "type", "veth", "peer", "name", outer).ConfigureAwait(false);
            await Ip("link", "set", inner, "netns", h.Ns).ConfigureAwait(false);
            await Ip("link", "set", outer, "netns", sw).ConfigureAwait(false);
            await Ip("-n", sw, "link", "set", outer, "master", "br0", "up").ConfigureAwait(false);
            await Ip("-n", h.Ns, "link", "set", inner, "name", h.Nic).ConfigureAwait(false);
            if (h.Mac is not null)
            {
                await Ip("-n", h.Ns, "link", "set", h.Nic, "address", h.Mac).ConfigureAwait(false);
            }

            await Ip("-n", h.Ns, "link", "set", h.Nic, "up").ConfigureAwait(false);
            await Ip("-n", h.Ns, "link", "set", "lo", "up").ConfigureAwait(false);
            progress(Interlocked.Increment(ref done));
        }).ConfigureAwait(false);
    }

    /// <summary>
    /// Removes a lab: every process in its namespaces (SIGKILL), the namespaces, its folder. Also namespaces named
    /// after the cluster that a state file no longer lists (an interrupted <c>zc up</c>). Returns what it removed.
    /// </summary>
    public static async Task<(int Processes, int Namespaces)> RemoveAsync(string cluster)
    {
        var prefix = Prefix(cluster) + "-";
        var list = (await RunAsync("ip", ["netns", "list"]).ConfigureAwait(false)).Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ')[0]).Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        var killed = 0;
        for (var round = 0; round < 5; round++)
        {
            var pids = new List<int>();
            foreach (var ns in list)
            {
                pids.AddRange((await RunAsync("ip", ["netns", "pids", ns]).ConfigureAwait(false)).Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, System.Globalization.CultureInfo.InvariantCulture)));
            }

            if (pids.Count == 0)
            {
                break;
            }

            foreach (var pid in pids.Distinct())
            {
                try
                {
                    Process.GetProcessById(pid).Kill();
                    killed++;
                }
                catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
                {
                    // gone already
                }
            }

            await Task.Delay(300).ConfigureAwait(false);
        }

        foreach (var ns in list)
        {
            await RunAsync("ip", ["netns", "delete", ns]).ConfigureAwait(false);
        }

        if (Directory.Exists(DirectoryOf(cluster)))
        {
            Directory.Delete(DirectoryOf(cluster), recursive: true);
        }

        return (killed, list.Count);
    }

    /// <summary>Starts a process in a namespace, detached from this one (setsid), its output to a log file.</summary>
    public static async Task StartDetachedAsync(string ns, string log, string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null)
    {
        var line = new StringBuilder("exec ip netns exec ").Append(Quote(ns)).Append(" setsid -f ");
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            line.Append("env ").Append(Quote($"{k}={v}")).Append(' ');
        }

        line.Append(Quote(file));
        foreach (var a in args)
        {
            line.Append(' ').Append(Quote(a));
        }

        line.Append(" >").Append(Quote(log)).Append(" 2>&1 </dev/null");
        var (code, output) = await RunAsync("sh", ["-c", line.ToString()]).ConfigureAwait(false);
        if (code != 0)
        {
            throw new InvalidOperationException($"could not start {file} in {ns}: {output}");
        }
    }

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static async Task Ip(params string[] args)
    {
        var (code, output) = await RunAsync("ip", args).ConfigureAwait(false);
        if (code != 0)
        {
            throw new InvalidOperationException($"ip {string.Join(' ', args)}: {output.Trim()}");
        }
    }

    public static async Task<(int Code, string Output)> RunAsync(string file, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().ConfigureAwait(false);
        return (p.ExitCode, await stdout.ConfigureAwait(false) + await stderr.ConfigureAwait(false));
    }
}
