using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

using ZeroCloud.Lab;

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

/// <summary>
/// One virtual bare server: its namespace, MAC and folder. <paramref name="Firmware"/> is null for an emulated server
/// (zc-node doing the firmware's work), else <c>bios</c> or <c>uefi</c> for a QEMU machine; <paramref name="Bmc"/> is
/// where a QEMU machine's lab BMC listens (<c>address:port</c>, the address with the lab subnet's
/// <paramref name="BmcPrefix"/>), when cluster.yaml names one for its MAC.
/// </summary>
internal sealed record LabServer(string Id, string Namespace, string Mac, string Directory, string? Firmware = null, string? Bmc = null, int BmcPrefix = 24)
{
    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsVm => Firmware is not null;
}

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

    /// <summary>The operator's credentials file for the lab's cluster (0600), written by zc up.</summary>
    public static string CredentialsPath(string cluster) => Path.Combine(DirectoryOf(cluster), "credentials.json");

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

    public static Task<bool> NamespaceExistsAsync(string name) => Netns.ExistsAsync(name);

    /// <summary>Creates the switch and one namespace per host; the seed's NIC gets the spec's interface name.</summary>
    public static async Task CreateAsync(string cluster, string seedNamespace, string seedInterface, IReadOnlyList<LabServer> servers, Action<int> progress)
    {
        var prefix = Prefix(cluster);
        var tag = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(cluster)))[..3];
        var sw = $"{prefix}-sw";
        await Netns.AddSwitchAsync(sw).ConfigureAwait(false);
        var hosts = new List<LabHost> { new(seedNamespace, seedInterface, $"z{tag}0") };
        // A QEMU machine's namespace holds its NIC's cable: the guest has the MAC, the veth another (a bridge keeps
        // frames for its own ports' MACs).
        hosts.AddRange(servers.Select((s, i) => new LabHost(s.Namespace, "eth0", $"z{tag}{i + 1}", s.IsVm ? null : s.Mac)));
        await Netns.AddHostsAsync(sw, hosts, progress: progress).ConfigureAwait(false);
    }

    /// <summary>
    /// Removes a lab: every process in its namespaces (SIGKILL), the namespaces, its folder. Also namespaces named
    /// after the cluster that a state file no longer lists (an interrupted <c>zc up</c>). Returns what it removed.
    /// </summary>
    public static async Task<(int Processes, int Namespaces)> RemoveAsync(string cluster)
    {
        var prefix = Prefix(cluster) + "-";
        var list = (await Netns.ListAsync().ConfigureAwait(false)).Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        var killed = await Netns.KillAllAsync(list).ConfigureAwait(false);
        foreach (var ns in list)
        {
            await Netns.DeleteAsync(ns).ConfigureAwait(false);
        }

        if (Directory.Exists(DirectoryOf(cluster)))
        {
            Directory.Delete(DirectoryOf(cluster), recursive: true);
        }

        return (killed, list.Count);
    }

    /// <summary>Starts a process in a namespace, detached from this one (setsid), its output to a log file.</summary>
    public static Task StartDetachedAsync(string ns, string log, string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null) =>
        Processes.StartDetachedAsync(ns, log, file, args, env);

    public static Task<(int Code, string Output)> RunAsync(string file, IEnumerable<string> args) => Processes.RunAsync(file, args);
}
