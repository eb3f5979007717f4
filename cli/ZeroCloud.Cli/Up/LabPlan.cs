using ZeroCloud.Model.Config;
using ZeroCloud.Model.Net;

namespace ZeroCloud.Cli.Up;

/// <summary>
/// What <c>zc up</c> will make for a cluster.yaml, decided before anything is touched (pure: no namespace, no file):
/// the seed's address, and each virtual server's id, namespace, MAC and folder (known machines' MACs first).
/// </summary>
internal sealed record LabPlan(string Cluster, string Directory, string SeedNamespace, string SeedAddress, string Api, IReadOnlyList<LabServer> Servers)
{
    /// <summary>The plan, or null with the problem (and whether it is a usage error, exit 2, or a spec that cannot run here, exit 1).</summary>
    public static LabPlan? Make(ClusterConfig config, int? count, string directory, string prefix, out string? problem, out bool usage) =>
        Make(config, count, 0, directory, prefix, out problem, out usage);

    /// <summary>
    /// The plan with the last <paramref name="vms"/> servers as QEMU machines, UEFI and BIOS in turn (UEFI first). A
    /// machine whose MAC cluster.yaml lists with a Redfish BMC at an address of the lab's subnet gets its lab BMC there.
    /// </summary>
    public static LabPlan? Make(ClusterConfig config, int? count, int vms, string directory, string prefix, out string? problem, out bool usage)
    {
        problem = null;
        usage = false;
        var network = config.Spec.Network;
        if (network.Dhcp.Mode != DhcpMode.Full || network.Dhcp.Range is not { } range)
        {
            problem = "the lab has no other DHCP server: spec.network.dhcp.mode must be full, with a range";
            return null;
        }

        var servers = count ?? Math.Max(3, config.Spec.Nodes.Known.Length);
        var capacity = range.EndValue - range.StartValue + 1;
        if (servers < 1 || servers > 999 || servers > capacity)
        {
            problem = $"--nodes {servers}: between 1 and {Math.Min(999, capacity)} (the DHCP range {range} holds {capacity} addresses)";
            usage = true;
            return null;
        }

        if (FirstFreeAddress(config) is not { } seed)
        {
            problem = $"no address in {network.Subnet} is free for the seed node (outside the gateway, the DHCP range and the known nodes' addresses)";
            return null;
        }

        if (vms < 0 || vms > servers)
        {
            problem = $"--vm {vms}: between 0 and the number of servers ({servers})";
            usage = true;
            return null;
        }

        // Known machines' MACs first. A QEMU machine takes a known machine with a BMC before any other (the lab can
        // switch it); the emulated servers take the others, in order.
        var withBmc = new Queue<KnownMachine>(vms > 0 ? config.Spec.Nodes.Known.Where(k => k.Bmc is not null).Take(vms) : []);
        var rest = new Queue<KnownMachine>(config.Spec.Nodes.Known.Where(k => !withBmc.Contains(k)));
        var known = config.Spec.Nodes.Known;
        var list = new List<LabServer>();
        for (var i = 1; i <= servers; i++)
        {
            var id = $"s{i:000}";
            var vm = i - (servers - vms) - 1;
            var machine = vm >= 0 && withBmc.Count > 0 ? withBmc.Dequeue() : rest.Count > 0 ? rest.Dequeue() : null;
            var mac = machine?.Mac.ToString() ?? $"52:54:00:7a:{i >> 8:x2}:{i & 0xFF:x2}";
            string? firmware = vm >= 0 ? (vm % 2 == 0 ? "uefi" : "bios") : null;
            string? bmc = null;
            if (firmware is not null && known.FirstOrDefault(k => k.Mac.ToString() == mac)?.Bmc is { } spec)
            {
                if ((bmc = LabBmcAddress(config, spec, seed, out var why)) is null)
                {
                    problem = $"{id} ({mac}): {why}";
                    return null;
                }
            }

            list.Add(new LabServer(id, $"{prefix}-{id}", mac, Path.Combine(directory, id), firmware, bmc, network.Subnet.PrefixLength));
        }

        if (list.Where(s => s.Bmc is not null).GroupBy(s => s.Bmc).FirstOrDefault(g => g.Count() > 1) is { } shared)
        {
            problem = $"{string.Join(" and ", shared.Select(s => s.Id))} name the same BMC ({shared.Key})";
            return null;
        }

        return new LabPlan(config.Metadata.Name, directory, $"{prefix}-seed", seed, $"https://{seed}:7070", list);
    }

    /// <summary>
    /// Where the lab serves a QEMU machine's BMC: the host and port of the Redfish URL cluster.yaml names, which must be
    /// an IPv4 address of the lab's subnet that nothing else takes (the seed, the gateway, the DHCP range).
    /// </summary>
    private static string? LabBmcAddress(ClusterConfig config, BmcSpec bmc, string seed, out string? problem)
    {
        problem = null;
        var n = config.Spec.Network;
        if (bmc.Protocol != BmcProtocol.Redfish || !Uri.TryCreate(bmc.Address, UriKind.Absolute, out var url))
        {
            problem = $"the lab's BMCs speak Redfish; cluster.yaml names {bmc} for it";
            return null;
        }

        if (RedfishIpv4(bmc) is not { } ip || !n.Subnet.Contains(ip))
        {
            problem = $"its BMC {url} is not an IPv4 address of the lab's subnet {n.Subnet}: the lab serves BMCs on that network only";
            return null;
        }

        var value = Ipv4.ToUInt32(ip);
        if (ip.ToString() == seed || (n.Gateway is not null && ip.Equals(n.Gateway)) || (n.Dhcp.Range is { } r && value >= r.StartValue && value <= r.EndValue) || value == n.Subnet.NetworkValue || value == n.Subnet.BroadcastValue)
        {
            problem = $"its BMC's address {ip} is taken (the seed's, the gateway's, the subnet's own or in the DHCP range)";
            return null;
        }

        return $"{ip}:{url.Port}";
    }

    /// <summary>The IPv4 address a Redfish BMC's URL names, or null (a host name, IPv6, IPMI, no URL).</summary>
    private static System.Net.IPAddress? RedfishIpv4(BmcSpec bmc) =>
        bmc.Protocol == BmcProtocol.Redfish && Uri.TryCreate(bmc.Address, UriKind.Absolute, out var url) && System.Net.IPAddress.TryParse(url.Host, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? ip : null;

    /// <summary>The first address of the subnet that is not the gateway, in the DHCP range, or a known node's.</summary>
    public static string? FirstFreeAddress(ClusterConfig config)
    {
        var n = config.Spec.Network;
        var taken = new HashSet<uint>(config.Spec.Nodes.Known.Where(k => k.Ip is not null).Select(k => Ipv4.ToUInt32(k.Ip!)));
        // Nor a BMC's (the lab serves a QEMU machine's BMC there).
        foreach (var ip in config.Spec.Nodes.Known.Select(k => k.Bmc).OfType<BmcSpec>().Select(RedfishIpv4).OfType<System.Net.IPAddress>())
        {
            taken.Add(Ipv4.ToUInt32(ip));
        }

        if (n.Gateway is not null)
        {
            taken.Add(Ipv4.ToUInt32(n.Gateway));
        }

        for (var a = n.Subnet.NetworkValue + 1; a < n.Subnet.BroadcastValue; a++)
        {
            if (!taken.Contains(a) && (n.Dhcp.Range is not { } r || a < r.StartValue || a > r.EndValue))
            {
                return Ipv4.FromUInt32(a).ToString();
            }
        }

        return null;
    }

    /// <summary>What is saved for zc down, zc get and a second zc up.</summary>
    public LabState ToState(string switchNamespace, DateTime started) =>
        new(Cluster, Directory, SeedNamespace, SeedAddress, Api, [switchNamespace, SeedNamespace, .. Servers.Select(s => s.Namespace)], Servers, started);
}
