using System.Text.Json.Serialization;

namespace ZeroCloud.Model.Api;

/// <summary>What a machine reports about itself when it joins: POST /v1/nodes/hello.</summary>
public sealed record NodeHello(
    string Mac,
    string Name,
    string? Token,
    string? Address,
    NodeInventory Inventory,
    IReadOnlyDictionary<string, double> BootSeconds);

/// <summary>Hardware as the kernel sees it (/proc, /sys).</summary>
public sealed record NodeInventory(
    string Hostname,
    string Kernel,
    int Cpus,
    string? CpuModel,
    long MemoryBytes,
    IReadOnlyList<DiskInfo> Disks,
    IReadOnlyList<NicInfo> Nics,
    string? Product,
    string? Serial,
    string? Vendor);

/// <summary>
/// A block device. <paramref name="Content"/>: what its first and last MiB hold (<c>blank</c>, <c>ext4 "label"</c>,
/// <c>gpt</c>, <c>dos partitions</c>, <c>xfs</c>, <c>swap</c>, <c>LVM</c>, <c>LUKS</c>, <c>data</c>, …);
/// <paramref name="Partitions"/>: its partitions' names, comma-separated; <paramref name="Use"/>: why it is busy
/// (mounted at …, holds the root filesystem, swap, held by dm-0, read-only), null when it is free.
/// </summary>
public sealed record DiskInfo(string Name, long SizeBytes, bool Rotational, string? Model, string? Serial = null, string? Path = null, string? Partitions = null, string? Content = null, string? Use = null);

public sealed record NicInfo(string Name, string Mac, string State, int? SpeedMbps, int Mtu);

/// <summary>A machine that said hello, as GET /v1/nodes lists it.</summary>
public sealed record NodeRecord(NodeHello Hello, string From, DateTimeOffset SeenAt);

/// <summary>Errors the API returns: a code for programs, a message for people.</summary>
public sealed record ApiError(string Code, string Message);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(NodeHello))]
[JsonSerializable(typeof(NodeRecord))]
[JsonSerializable(typeof(List<NodeRecord>))]
[JsonSerializable(typeof(ApiError))]
public sealed partial class ApiJsonContext : JsonSerializerContext;
