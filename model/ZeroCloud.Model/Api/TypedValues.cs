using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace ZeroCloud.Model.Api;

/// <summary>
/// The typed prefixes of the store: a value written under one of them must parse as its type and agree with its key,
/// whoever writes it (the API's kv and txn routes, a forwarded write, a grain through the in-process store). Checked on
/// the leader before a write enters the log, so a reader never meets a record it cannot use; readers still skip and
/// report a bad record rather than fail a whole list.
/// </summary>
public static class TypedValues
{
    /// <summary>What is wrong with <paramref name="value"/> under <paramref name="key"/>; null when it is fine or the key is not typed.</summary>
    public static string? Check(string key, ReadOnlySpan<byte> value)
    {
        if (key == StoreKeys.Spec)
        {
            var spec = Config.ClusterConfigLoader.Load(value, "the applied spec");
            return spec.IsValid ? null : $"{StoreKeys.Spec}: the value is not a valid cluster.yaml ({spec.Diagnostics.FirstOrDefault()?.ToString() ?? "invalid"})";
        }

        if (key.StartsWith(StoreKeys.Nodes, StringComparison.Ordinal))
        {
            var name = key[StoreKeys.Nodes.Length..];
            return Parse(key, value, ControlJsonContext.Default.NodeDto, out var node) ?? In(key, Inputs.Name(name, "the node name in the key")
                ?? (node!.Name != name ? $"the record names node \"{node.Name}\", the key \"{name}\"" : null)
                ?? (!Enum.IsDefined(node.Status) ? "the status is not Unknown, Ready, Suspect or Down" : null));
        }

        if (key.StartsWith(StoreKeys.Instances, StringComparison.Ordinal))
        {
            var (node, id) = NodeAndId(key[StoreKeys.Instances.Length..]);
            return Parse(key, value, ControlJsonContext.Default.InstanceDto, out var instance) ?? In(key, Inputs.Instance(instance) is { Count: > 0 } problems
                ? string.Join("; ", problems)
                : instance!.Node != node || instance.Id != id ? $"the record is instance \"{instance.Id}\" on node \"{instance.Node}\", the key says \"{id}\" on \"{node}\"" : null);
        }

        if (key.StartsWith(StoreKeys.InstanceStates, StringComparison.Ordinal))
        {
            var (node, id) = NodeAndId(key[StoreKeys.InstanceStates.Length..]);
            return Parse(key, value, ControlJsonContext.Default.InstanceStateDto, out var state) ?? In(key, Inputs.Name(node, "the node name in the key") ?? Inputs.Name(id, "the instance id in the key")
                ?? (state!.Node != node || state.Id != id ? $"the record is instance \"{state.Id}\" on node \"{state.Node}\", the key says \"{id}\" on \"{node}\"" : null)
                ?? (!Enum.IsDefined(state.State) ? "the state is not a known instance state" : null));
        }

        if (key.StartsWith(StoreKeys.Tokens, StringComparison.Ordinal))
        {
            var id = key[StoreKeys.Tokens.Length..];
            return Parse(key, value, ControlJsonContext.Default.TokenDto, out var token) ?? In(key, token!.Id != id ? $"the record is token \"{token.Id}\", the key \"{id}\"" : string.IsNullOrEmpty(token.Secret) ? "the token has no secret" : null);
        }

        if (key.StartsWith(StoreKeys.Leases, StringComparison.Ordinal))
        {
            var address = key[StoreKeys.Leases.Length..];
            return Parse(key, value, ControlJsonContext.Default.LeaseRecord, out var lease) ?? In(key, lease!.Problem() ?? (lease.Address != address ? $"the record is for {lease.Address}, the key for {address}" : null));
        }

        if (key.StartsWith(StoreKeys.Tickets, StringComparison.Ordinal))
        {
            return Parse(key, value, ControlJsonContext.Default.TicketDto, out var ticket) ?? In(key,
                !Net.MacAddress.TryParse(ticket!.Mac, out var mac) ? $"mac \"{ticket.Mac}\" is not a MAC address"
                : StoreKeys.Ticket(mac) != key ? $"the ticket is for {ticket.Mac}, the key for another MAC"
                : !IsSha256(ticket.Hash) ? "the hash is not 64 hex digits" : null);
        }

        if (key.StartsWith(StoreKeys.NodeKeys, StringComparison.Ordinal))
        {
            var name = key[StoreKeys.NodeKeys.Length..];
            return Parse(key, value, ControlJsonContext.Default.NodeKeyDto, out var nodeKey) ?? In(key, Inputs.Name(name, "the node name in the key")
                ?? (nodeKey!.Name != name ? $"the record is node \"{nodeKey.Name}\", the key \"{name}\"" : !IsSha256(nodeKey.Hash) ? "the hash is not 64 hex digits" : null));
        }

        if (key.StartsWith(StoreKeys.Operators, StringComparison.Ordinal))
        {
            var id = key[StoreKeys.Operators.Length..];
            return Parse(key, value, ControlJsonContext.Default.OperatorDto, out var op) ?? In(key, Inputs.Name(id, "the credential id in the key")
                ?? (op!.Id != id ? $"the record is credential \"{op.Id}\", the key \"{id}\""
                : !IsSha256(op.Hash) ? "the hash is not 64 hex digits"
                : !Roles.IsOperatorRole(op.Role) ? $"role \"{op.Role}\" is not admin or read-only" : null));
        }

        if (key.StartsWith(StoreKeys.Approvals, StringComparison.Ordinal))
        {
            var name = key[StoreKeys.Approvals.Length..];
            return Parse(key, value, ControlJsonContext.Default.ApprovalDto, out var approval) ?? In(key, Inputs.Name(name, "the node name in the key")
                ?? (approval!.Name != name ? $"the record approves node \"{approval.Name}\", the key \"{name}\"" : !Net.MacAddress.TryParse(approval.Mac, out _) ? $"mac \"{approval.Mac}\" is not a MAC address" : null));
        }

        if (key.StartsWith(StoreKeys.Reservations, StringComparison.Ordinal))
        {
            var mac = key[StoreKeys.Reservations.Length..];
            return Parse(key, value, ControlJsonContext.Default.ReservationDto, out var reservation) ?? In(key,
                !Net.MacAddress.TryParse(reservation!.Mac, out var parsed) ? $"mac \"{reservation.Mac}\" is not a MAC address"
                : parsed.ToCompactString() != mac ? $"the record reserves for {reservation.Mac}, the key names {mac}"
                : !System.Net.IPAddress.TryParse(reservation.Address, out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork ? $"address \"{reservation.Address}\" is not an IPv4 address"
                : Inputs.Name(reservation.Node, "the node name"));
        }

        if (key.StartsWith(StoreKeys.Secrets, StringComparison.Ordinal))
        {
            var name = key[StoreKeys.Secrets.Length..];
            return Parse(key, value, ControlJsonContext.Default.SecretDto, out var secret) ?? In(key, Inputs.Name(name, "the secret's name in the key")
                ?? (secret!.Name != name ? $"the record is secret \"{secret.Name}\", the key \"{name}\""
                : secret.Readers.FirstOrDefault(r => Inputs.Name(r, "a reader") is not null) is { } reader ? $"reader \"{reader}\" is not a service name"
                : Pki.SecretBox.Problem(secret)));
        }

        if (key.StartsWith(StoreKeys.Audit, StringComparison.Ordinal))
        {
            return Parse(key, value, ControlJsonContext.Default.AuditDto, out var entry) ?? In(key, string.IsNullOrEmpty(entry!.Who) || string.IsNullOrEmpty(entry.Action) ? "an audit entry needs who and action" : null);
        }

        if (key.StartsWith(StoreKeys.Images, StringComparison.Ordinal))
        {
            var name = key[StoreKeys.Images.Length..];
            return Parse(key, value, ControlJsonContext.Default.ImageDto, out var image) ?? In(key, Inputs.Name(name, "the image name in the key")
                ?? (image!.Name != name ? $"the record is image \"{image.Name}\", the key \"{name}\""
                : image.Versions is null or { Count: 0 } ? "the image has no versions"
                : image.Versions.Select(v => v.Digest).FirstOrDefault(d => Inputs.Digest(d) is not null) is { } bad ? $"version \"{bad}\" is not a digest"
                : image.Version(image.Current) is null ? $"the current version {image.Current} is not among its versions"
                : image.Versions.FirstOrDefault(v => Images.ImageManifest.DigestOf(v.ManifestBytes()) != v.Digest) is { } wrong ? $"version {wrong.Digest}: the manifest does not hash to it"
                : null));
        }

        if (key.StartsWith(StoreKeys.StorageObjects, StringComparison.Ordinal))
        {
            var name = key[StoreKeys.StorageObjects.Length..];
            return Parse(key, value, ControlJsonContext.Default.StorageObjectDto, out var o) ?? In(key, Inputs.ObjectName(name, "the object name in the key")
                ?? (o!.Name != name ? $"the record is object \"{o.Name}\", the key \"{name}\"" : Inputs.Digest(o.Digest) ?? (o.Size < 0 ? "the size is negative" : null)));
        }

        if (key.StartsWith(StoreKeys.StorageBlobs, StringComparison.Ordinal))
        {
            var digest = key[StoreKeys.StorageBlobs.Length..];
            return Parse(key, value, ControlJsonContext.Default.BlobDto, out var b) ?? In(key, Inputs.Digest(digest)
                ?? (b!.Digest != digest ? $"the record is blob {b.Digest}, the key {digest}"
                : b.Size < 0 || b.ChunkSize <= 0 ? "the size or chunk size is not positive"
                : b.Chunks.Count != (b.Size == 0 ? 0 : (int)((b.Size + b.ChunkSize - 1) / b.ChunkSize)) ? $"{b.Chunks.Count} chunks for {b.Size} bytes in chunks of {b.ChunkSize}"
                : b.Chunks.FirstOrDefault(c => !IsSha256(c)) is { } bad ? $"chunk \"{bad}\" is not 64 hex digits" : null));
        }

        if (key.StartsWith(StoreKeys.StorageChunks, StringComparison.Ordinal))
        {
            var hex = key[StoreKeys.StorageChunks.Length..];
            return Parse(key, value, ControlJsonContext.Default.ChunkDto, out var c) ?? In(key, !IsSha256(hex) ? "the chunk digest in the key is not 64 hex digits"
                : c!.Digest != hex ? $"the record is chunk {c.Digest}, the key {hex}"
                : c.Size < 0 ? "the size is negative"
                : c.Nodes.FirstOrDefault(n => Inputs.Name(n, "a node") is not null) is { } node ? $"node \"{node}\" is not a node name"
                : c.Nodes.Distinct(StringComparer.Ordinal).Count() != c.Nodes.Count ? "a node is listed twice" : null);
        }

        if (key == StoreKeys.Scheduler)
        {
            return Parse(key, value, ControlJsonContext.Default.SchedulerDto, out _);
        }

        return null;
    }

    /// <summary>
    /// Reads one typed record for a list: the record when it passes <see cref="Check"/>, otherwise null with the
    /// problem added to <paramref name="skipped"/>, so one bad record is reported and left out instead of failing
    /// the whole list.
    /// </summary>
    public static T? Read<T>(string key, ReadOnlySpan<byte> value, JsonTypeInfo<T> type, ICollection<string> skipped)
        where T : class
    {
        if (Check(key, value) is { } problem)
        {
            skipped.Add(problem);
            return null;
        }

        var error = Parse(key, value, type, out var result);
        if (error is not null)
        {
            skipped.Add(error);
        }

        return result;
    }

    /// <inheritdoc cref="Read{T}(string, ReadOnlySpan{byte}, JsonTypeInfo{T}, ICollection{string})"/>
    public static T? Read<T>(string key, string value, JsonTypeInfo<T> type, ICollection<string> skipped)
        where T : class => Read(key, Encoding.UTF8.GetBytes(value), type, skipped);

    /// <summary>Reads every record of a range that passes <see cref="Check"/>; the others are described in <paramref name="skipped"/>.</summary>
    public static List<T> ReadAll<T>(IEnumerable<KvDto> kvs, JsonTypeInfo<T> type, ICollection<string> skipped)
        where T : class => [.. kvs.Select(kv => Read(kv.Key, kv.Value, type, skipped)).OfType<T>()];

    private static bool IsSha256(string? hash) => hash is { Length: 64 } && hash.All(char.IsAsciiHexDigitLower);

    private static (string Node, string Id) NodeAndId(string rest)
    {
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? (rest, "") : (rest[..slash], rest[(slash + 1)..]);
    }

    private static string? In(string key, string? problem) => problem is null ? null : $"{key}: {problem}";

    private static string? Parse<T>(string key, ReadOnlySpan<byte> value, JsonTypeInfo<T> type, out T? result)
        where T : class
    {
        try
        {
            result = JsonSerializer.Deserialize(value, type);
            return result is null ? $"{key}: the value is null, a {typeof(T).Name} is expected" : null;
        }
        catch (JsonException ex)
        {
            result = null;
            var text = Encoding.UTF8.GetString(value[..Math.Min(value.Length, 40)]);
            return $"{key}: the value is not a {typeof(T).Name} ({ex.Message}); it starts \"{text}\"";
        }
    }
}
