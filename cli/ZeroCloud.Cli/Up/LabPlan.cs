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
    public static LabPlan? Make(ClusterConfig config, int? count, string directory, string prefix, out string? problem, out bool usage)
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

        var known = config.Spec.Nodes.Known;
        var list = Enumerable.Range(1, servers).Select(i =>
        {
            var id = $"s{i:000}";
            var mac = i <= known.Length ? known[i - 1].Mac.ToString() : $"52:54:00:7a:{i >> 8:x2}:{i & 0xFF:x2}";
            return new LabServer(id, $"{prefix}-{id}", mac, Path.Combine(directory, id));
        }).ToList();
        return new LabPlan(config.Metadata.Name, directory, $"{prefix}-seed", seed, $"https://{seed}:7070", list);
    }

    /// <summary>The first address of the subnet that is not the gateway, in the DHCP range, or a known node's.</summary>
    public static string? FirstFreeAddress(ClusterConfig config)
    {
        var n = config.Spec.Network;
        var taken = new HashSet<uint>(config.Spec.Nodes.Known.Where(k => k.Ip is not null).Select(k => Ipv4.ToUInt32(k.Ip!)));
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
