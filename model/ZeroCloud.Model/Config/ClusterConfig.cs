using System.Collections.Immutable;
using System.Net;
using ZeroCloud.Model.Net;

namespace ZeroCloud.Model.Config;

// The typed form of cluster.yaml, with every default filled in. Produced only by
// ClusterConfigLoader, which validates everything first; the README documents each field.

public sealed record ClusterConfig(string ApiVersion, string Kind, ClusterMetadata Metadata, ClusterSpec Spec)
{
    public const string CurrentApiVersion = "zerocloud.io/v1";
    public const string ClusterKind = "Cluster";
}

public sealed record ClusterMetadata(string Name, ImmutableSortedDictionary<string, string> Labels);

public sealed record ClusterSpec(
    NetworkSpec Network,
    ControlPlaneSpec ControlPlane,
    NodesSpec Nodes,
    BootSpec Boot,
    ImmutableArray<ServiceSpec> Services)
{
    /// <summary>spec.storage: how the cluster's store keeps its bytes (defaults when the section is absent).</summary>
    public StorageSpec Storage { get; init; } = StorageSpec.Default;
}

/// <summary>
/// spec.storage: <see cref="Replicas"/> copies of every chunk on distinct nodes (null: 3, or every storage node when
/// fewer); repair of a Down node's chunks starts <see cref="RepairAfter"/> after it went Down; every chunk is re-read
/// and re-hashed every <see cref="ScrubEvery"/>.
/// </summary>
public sealed record StorageSpec(int? Replicas, TimeSpan RepairAfter, TimeSpan ScrubEvery)
{
    public static readonly StorageSpec Default = new(null, TimeSpan.FromSeconds(30), TimeSpan.FromDays(7));

    /// <summary>The copies a chunk gets when <paramref name="storageNodes"/> nodes run storage.</summary>
    public int ReplicasFor(int storageNodes) => Math.Max(1, Math.Min(Replicas ?? 3, Math.Max(storageNodes, 1)));
}

public sealed record NetworkSpec(
    string Interface,
    Ipv4Subnet Subnet,
    IPAddress? Gateway,
    ImmutableArray<IPAddress> Dns,
    string? Domain,
    DhcpSpec Dhcp);

public enum DhcpMode
{
    /// <summary>ZeroCloud hands out addresses from its range and answers PXE.</summary>
    Full,

    /// <summary>An existing DHCP server hands out addresses; ZeroCloud answers only PXE clients.</summary>
    Proxy,

    /// <summary>No DHCP service: machines are booted another way.</summary>
    Off,
}

public sealed record DhcpSpec(DhcpMode Mode, Ipv4Range? Range, TimeSpan LeaseTime);

public sealed record ControlPlaneSpec(int Replicas);

public enum EnrollMode
{
    /// <summary>Any machine that PXE-boots on the provisioning network joins.</summary>
    Auto,

    /// <summary>Only the machines listed under nodes.known join.</summary>
    Known,

    /// <summary>Listed machines join; any other waits as Pending until an operator approves it (zc node approve).</summary>
    Approve,
}

public sealed record NodesSpec(EnrollMode Enroll, TimeSpan Heartbeat, TimeSpan DownAfter, ImmutableArray<KnownMachine> Known)
{
    /// <summary>spec.nodes.disks: which disk each node claims as its data disk; the first entry that matches a device wins.</summary>
    public ImmutableArray<DiskSelector> Disks { get; init; } = [];

    /// <summary>
    /// spec.nodes.bootTimeout: how long a machine a power job switched (zc power, or fencing) has to boot and heartbeat.
    /// Within it a silent node is not fenced (it is booting); past it a node still Down is fenced again, a few times.
    /// </summary>
    public TimeSpan BootTimeout { get; init; } = DefaultBootTimeout;

    public static readonly TimeSpan DefaultBootTimeout = TimeSpan.FromMinutes(5);
}

/// <summary>
/// One entry of spec.nodes.disks. Every field given must match: <paramref name="Path"/> the device (/dev/vdb),
/// <paramref name="Model"/> the model (<c>*</c> matches any run of characters), <paramref name="Serial"/> the serial,
/// the size within [<paramref name="MinSize"/>, <paramref name="MaxSize"/>], <paramref name="Rotational"/> false for
/// <c>type: ssd</c>, true for <c>type: hdd</c>. <paramref name="Wipe"/>: a device that carries a partition table, a
/// filesystem or any data is formatted only when this is true, and only an entry that names one device (path or
/// serial) may say it.
/// </summary>
public sealed record DiskSelector(string? Path, string? Model, string? Serial, long? MinSize, long? MaxSize, bool? Rotational, bool Wipe = false);

/// <summary>
/// A machine the cluster knows by MAC. <paramref name="BootFile"/> replaces the boot file its architecture would get;
/// <paramref name="Bmc"/> is its baseboard management controller, when the cluster may switch it on and off.
/// </summary>
public sealed record KnownMachine(MacAddress Mac, string Name, IPAddress? Ip, ImmutableSortedDictionary<string, string> Labels, string? BootFile = null, BmcSpec? Bmc = null);

public enum BmcProtocol
{
    /// <summary>IPMI 2.0 over the LAN (RMCP+), through ipmitool.</summary>
    Ipmi,

    /// <summary>DMTF Redfish over HTTP(S).</summary>
    Redfish,
}

/// <summary>
/// <c>spec.nodes.known[].bmc</c>: how to reach a machine's BMC. <paramref name="Address"/> is <c>host</c> or
/// <c>host:port</c> for IPMI, the service root or the ComputerSystem's URL for Redfish. <paramref name="Credentials"/>
/// names a secret of the cluster's store (<c>zc secret set</c>) whose value is <c>username:password</c>: credentials
/// are never written in the spec. <paramref name="InsecureTls"/>: accept a Redfish BMC's certificate without checking
/// it (the self-signed certificate most BMCs ship with). <paramref name="CipherSuite"/>: the IPMI cipher suite
/// (<c>ipmitool -C</c>, as MAAS's <c>cipher_suite_id</c>); by default ipmitool asks the BMC, which costs seconds on
/// BMCs that do not answer that question.
/// </summary>
public sealed record BmcSpec(BmcProtocol Protocol, string Address, string Credentials, bool InsecureTls = false, int? CipherSuite = null)
{
    public override string ToString() => $"{(Protocol == BmcProtocol.Ipmi ? "ipmi" : "redfish")} {Address}";
}

public enum RuntimeKind
{
    /// <summary>Each node picks: vm where a test guest boots, process otherwise.</summary>
    Auto,

    /// <summary>Service images run as micro-VMs (QEMU).</summary>
    Vm,

    /// <summary>Service images run as isolated processes.</summary>
    Process,
}

/// <summary><paramref name="Kernel"/> is <c>distro</c> (the kernel of the linux-image package) or a path to a bzImage.</summary>
public sealed record BootSpec(string Kernel, RuntimeKind Runtime)
{
    public const string DistroKernel = "distro";
}

public enum SpreadPolicy
{
    /// <summary>Replicas go wherever they fit.</summary>
    None,

    /// <summary>Never two replicas on one node while another node has room.</summary>
    Node,
}

public sealed record ServiceSpec(
    string Name,
    string Image,
    int Replicas,
    ResourceSpec Resources,
    SpreadPolicy Spread,
    ImmutableArray<int> Ports,
    HealthCheckSpec? Health,
    ImmutableSortedDictionary<string, string> Labels,
    ImmutableSortedDictionary<string, string> NodeSelector,
    ImmutableArray<string> Args,
    ImmutableSortedDictionary<string, string> Env);

/// <summary>CPU in millicores, memory in bytes.</summary>
public sealed record ResourceSpec(long CpuMillis, long MemoryBytes)
{
    public static readonly ResourceSpec Default = new(100, 64L << 20);
}

/// <summary>An HTTP GET of <paramref name="HttpPath"/> on <paramref name="Port"/> (2xx/3xx is healthy), or a TCP connect when the path is null.</summary>
public sealed record HealthCheckSpec(string? HttpPath, int Port, TimeSpan Interval, TimeSpan Timeout, int FailureThreshold);
