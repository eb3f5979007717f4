using System.Collections.Immutable;
using System.Net;
using ZeroCloud.Model.Net;

namespace ZeroCloud.Model.Config;

public static partial class ClusterConfigLoader
{
    private static NetworkSpec BindNetwork(YamlReader r, YNode? node, string path)
    {
        var n = r.Section(node, path, "interface", "subnet", "gateway", "dns", "domain", "dhcp");
        if (n is null)
        {
            return DefaultSpec.Network;
        }

        var iface = r.String(n["interface"], n.Join("interface")) ?? "zc0";
        if (n["interface"] is { } ifNode && !InterfaceName().IsMatch(iface))
        {
            r.Error(ifNode, n.Join("interface"), $"\"{iface}\" is not a network interface name: 1 to 15 characters without spaces, '/' or ':'");
        }

        var subnetNode = n.Required("subnet", "the provisioning subnet in CIDR form, such as 10.77.0.0/24");
        var subnet = default(Ipv4Subnet);
        var subnetText = r.String(subnetNode, n.Join("subnet"));
        if (subnetText is not null && !Ipv4Subnet.TryParse(subnetText, out subnet, out var subnetError))
        {
            r.Error(subnetNode!, n.Join("subnet"), subnetError);
        }

        var haveSubnet = subnet != default;
        IPAddress? gateway = null;
        if (n["gateway"] is { } gwNode && Address(r, gwNode, n.Join("gateway")) is { } gw)
        {
            gateway = gw;
            if (haveSubnet && !subnet.IsHostAddress(Ipv4.ToUInt32(gw)))
            {
                r.Error(gwNode, n.Join("gateway"), subnet.Contains(gw)
                    ? $"{gw} is the {(Ipv4.ToUInt32(gw) == subnet.NetworkValue ? "network" : "broadcast")} address of {subnet}, not a host; use a host address such as {Ipv4.FromUInt32(subnet.NetworkValue + 1)}"
                    : $"{gw} is outside the subnet {subnet}: the gateway must be reachable on the provisioning network");
            }
        }

        var dns = ImmutableArray.CreateBuilder<IPAddress>();
        if (n["dns"] is YScalar single)
        {
            // A single server written without brackets is common enough to accept.
            if (Address(r, single, n.Join("dns")) is { } one)
            {
                dns.Add(one);
            }
        }
        else
        {
            foreach (var (item, itemPath) in r.List(n["dns"], n.Join("dns"), "IPv4 addresses"))
            {
                if (Address(r, item, itemPath) is { } server)
                {
                    dns.Add(server);
                }
            }
        }

        if (n["dns"] is null && gateway is not null)
        {
            dns.Add(gateway);
        }

        var domain = r.String(n["domain"], n.Join("domain"));
        if (domain is not null && (domain.Length > 253 || !DnsName().IsMatch(domain)))
        {
            r.Error(n["domain"]!, n.Join("domain"), $"\"{domain}\" is not a DNS domain: lower-case labels of letters, digits and '-' separated by dots, such as lab.example");
        }

        var dhcp = BindDhcp(r, n["dhcp"], n.Join("dhcp"), n, haveSubnet ? subnet : null, gateway);
        return new NetworkSpec(iface, subnet, gateway, dns.ToImmutable(), domain, dhcp);
    }

    private static DhcpSpec BindDhcp(YamlReader r, YNode? node, string path, Section network, Ipv4Subnet? subnet, IPAddress? gateway)
    {
        var d = r.Section(node, path, "mode", "range", "leaseTime");
        var mode = r.Enum<DhcpMode>(d?["mode"], $"{path}.mode") ?? DhcpMode.Full;
        var leaseTime = r.Duration(d?["leaseTime"], $"{path}.leaseTime") ?? DefaultLeaseTime;
        if (d?["leaseTime"] is { } leaseNode && (leaseTime < MinLeaseTime || leaseTime > MaxLeaseTime))
        {
            r.Error(leaseNode, $"{path}.leaseTime", $"{Durations.Format(leaseTime)} is out of range: a lease lasts from {Durations.Format(MinLeaseTime)} to about 136 years");
        }

        var rangeNode = d?["range"];
        if (rangeNode is not null && mode != DhcpMode.Full)
        {
            r.Error(rangeNode, $"{path}.range", $"a range is used only in mode full; in mode {mode.ToString().ToLowerInvariant()} it would be ignored: remove it or set mode: full");
            return new DhcpSpec(mode, null, leaseTime);
        }

        if (mode != DhcpMode.Full)
        {
            return new DhcpSpec(mode, null, leaseTime);
        }

        Ipv4Range? range = null;
        if (rangeNode is not null)
        {
            range = ParseRange(r, rangeNode, $"{path}.range", subnet, gateway);
        }
        else if (subnet is { } s)
        {
            range = DefaultRange(s, gateway);
            if (range is null)
            {
                r.Error(d?.Map ?? network.Map, $"{path}.range", $"the subnet {s} is too small to hand out addresses: use a /30 or larger, or set dhcp.mode to proxy or off");
            }
        }

        return new DhcpSpec(mode, range, leaseTime);
    }

    private static Ipv4Range? ParseRange(YamlReader r, YNode node, string path, Ipv4Subnet? subnet, IPAddress? gateway)
    {
        var text = r.String(node, path);
        if (text is null)
        {
            return null;
        }

        var dash = text.IndexOf('-', StringComparison.Ordinal);
        if (dash < 0)
        {
            r.Error(node, path, $"\"{text}\" is not a range: write first-last, such as 10.77.0.100-10.77.0.250");
            return null;
        }

        var startText = text[..dash].Trim();
        var endText = text[(dash + 1)..].Trim();
        var ok = true;
        if (!Ipv4.TryParse(startText, out var start))
        {
            r.Error(node, path, $"the start \"{startText}\" is not an IPv4 address");
            ok = false;
        }

        if (!Ipv4.TryParse(endText, out var end))
        {
            r.Error(node, path, $"the end \"{endText}\" is not an IPv4 address");
            ok = false;
        }

        if (!ok)
        {
            return null;
        }

        var first = Ipv4.ToUInt32(start);
        var last = Ipv4.ToUInt32(end);
        if (last < first)
        {
            r.Error(node, path, $"end {end} is before start {start}");
            return null;
        }

        if (subnet is { } s)
        {
            foreach (var (which, address, value) in new[] { ("start", start, first), ("end", end, last) })
            {
                if (!s.Contains(value))
                {
                    r.Error(node, path, $"the {which} {address} is outside the subnet {s}");
                    ok = false;
                }
            }

            if (ok && s.PrefixLength < 31 && (s.Contains(s.NetworkValue) && first <= s.NetworkValue || last >= s.BroadcastValue))
            {
                var what = first <= s.NetworkValue ? $"the network address {s.Network}" : $"the broadcast address {s.Broadcast}";
                r.Error(node, path, $"the range includes {what}, which no host may use; start at {Ipv4.FromUInt32(Math.Max(first, s.NetworkValue + 1))} and end at {Ipv4.FromUInt32(Math.Min(last, s.BroadcastValue - 1))} or inside that");
                ok = false;
            }
        }

        if (ok && gateway is not null)
        {
            var gw = Ipv4.ToUInt32(gateway);
            if (gw >= first && gw <= last)
            {
                r.Error(node, path, $"the gateway {gateway} is inside the range: it would be handed out to a machine; keep the range clear of it");
                ok = false;
            }
        }

        return ok ? new Ipv4Range(start, end) : null;
    }

    /// <summary>The upper half of the subnet's host addresses, kept clear of the gateway.</summary>
    internal static Ipv4Range? DefaultRange(Ipv4Subnet subnet, IPAddress? gateway)
    {
        if (subnet.PrefixLength > 30)
        {
            return null;
        }

        var firstHost = subnet.NetworkValue + 1;
        var lastHost = subnet.BroadcastValue - 1;
        var start = firstHost + ((lastHost - firstHost + 1) / 2);
        var end = lastHost;
        if (gateway is not null)
        {
            var gw = Ipv4.ToUInt32(gateway);
            if (gw >= start && gw <= end)
            {
                // Take the larger side of the gateway.
                if (gw - start >= end - gw)
                {
                    end = gw - 1;
                }
                else
                {
                    start = gw + 1;
                }
            }
        }

        return start <= end ? new Ipv4Range(Ipv4.FromUInt32(start), Ipv4.FromUInt32(end)) : null;
    }
}
