using ZeroCloud.Model.Net;

namespace ZeroCloud.Model.Api;

/// <summary>A DHCP lease as the control plane stores it, under <c>/zc/leases/&lt;address&gt;</c>.</summary>
public sealed record LeaseRecord(string Address, string Mac, string ClientKey, DateTimeOffset Expires, string State, string? HostName)
{
    /// <summary>The lease states a record may carry (the DHCP server's <c>LeaseState</c>, lower-case).</summary>
    public static readonly IReadOnlyList<string> States = ["bound", "released", "declined"];

    /// <summary>What is wrong with this record, or null when a DHCP replica can use it.</summary>
    public string? Problem() =>
        !Ipv4.TryParse(Address, out _) ? $"address \"{Address}\" is not an IPv4 address"
        : !MacAddress.TryParse(Mac, out _) ? $"mac \"{Mac}\" is not a MAC address"
        : string.IsNullOrEmpty(ClientKey) ? "the client key is missing"
        : !States.Contains(State?.ToLowerInvariant()) ? $"state \"{State}\" is not one of {string.Join(", ", States)}"
        : HostName is { Length: > 253 } ? "the host name is longer than 253 characters"
        : null;
}
