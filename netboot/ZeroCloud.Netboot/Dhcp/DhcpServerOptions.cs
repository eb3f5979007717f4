using System.Collections.Frozen;
using ZeroCloud.Model.Config;
using ZeroCloud.Model.Net;

namespace ZeroCloud.Netboot.Dhcp;

/// <summary>Everything the DHCP server decides with, taken from cluster.yaml plus where it runs.</summary>
public sealed record DhcpServerOptions
{
    public required DhcpMode Mode { get; init; }

    public required Ipv4Subnet Subnet { get; init; }

    /// <summary>This server's address on the provisioning network: option 54 and the source of replies.</summary>
    public required uint ServerAddress { get; init; }

    public Ipv4Range? Range { get; init; }

    public uint? Router { get; init; }

    public IReadOnlyList<uint> Dns { get; init; } = [];

    public string? Domain { get; init; }

    public TimeSpan LeaseTime { get; init; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Lease caching: a REQUEST for the lease the client holds, made before this share of the lease time has passed, is
    /// ACKed with the lease as it stands (its remaining time) and no store write. 0.25, as ISC dhcpd's default
    /// dhcp-cache-threshold and Kea's recommended cache-threshold; 0 turns it off. Renewals (at half the lease time) are
    /// always written.
    /// </summary>
    public double CacheThreshold { get; init; } = 0.25;

    public EnrollMode Enroll { get; init; } = EnrollMode.Auto;

    public IReadOnlyDictionary<MacAddress, KnownMachine> Known { get; init; } = FrozenDictionary<MacAddress, KnownMachine>.Empty;

    public required BootSettings Boot { get; init; }

    /// <summary>How long an offered address is held for the client that was offered it.</summary>
    public TimeSpan OfferHold { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a declined address (reported in use by a client) is kept out of the pool.</summary>
    public TimeSpan DeclineQuarantine { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Serve SNTP on UDP 123 and announce this server as the time server (option 42), in full mode.</summary>
    public bool ServesTime { get; init; } = true;

    public static DhcpServerOptions FromCluster(ClusterConfig config, uint serverAddress, BootSettings boot)
    {
        var network = config.Spec.Network;
        return new DhcpServerOptions
        {
            Mode = network.Dhcp.Mode,
            Subnet = network.Subnet,
            ServerAddress = serverAddress,
            Range = network.Dhcp.Range,
            Router = network.Gateway is { } gw ? Ipv4.ToUInt32(gw) : null,
            Dns = [.. network.Dns.Select(Ipv4.ToUInt32)],
            Domain = network.Domain,
            LeaseTime = network.Dhcp.LeaseTime,
            Enroll = config.Spec.Nodes.Enroll,
            Known = config.Spec.Nodes.Known.ToFrozenDictionary(k => k.Mac),
            Boot = boot with
            {
                PerMachine = config.Spec.Nodes.Known.Where(k => k.BootFile is not null).ToFrozenDictionary(k => k.Mac, k => k.BootFile!),
            },
        };
    }
}
