using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using ZeroCloud.Cluster.Store;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Config;

namespace ZeroCloud.Cluster.Api;

/// <summary>The typed objects of the cluster, read from the store: nodes, placed instances, services.</summary>
public sealed partial class ControlApi
{
    private static readonly string[] KnownRuntimes = ["process", "vm"];

    private async Task NodesAsync(HttpContext ctx)
    {
        if (!IsTrue(ctx.Request.Query["stale"]) && !await BarrierAsync(ctx).ConfigureAwait(false))
        {
            return;
        }

        var (revision, kvs) = _node.Read(s => (s.Revision, s.Range(StoreKeys.Nodes, 0)));
        var nodes = kvs.Select(kv => JsonSerializer.Deserialize(kv.Value, ControlJsonContext.Default.NodeDto)!).ToList();
        await JsonAsync(ctx, 200, new NodesResponse(revision, nodes), ControlJsonContext.Default.NodesResponse).ConfigureAwait(false);
    }

    private async Task InstancesAsync(HttpContext ctx)
    {
        if (!IsTrue(ctx.Request.Query["stale"]) && !await BarrierAsync(ctx).ConfigureAwait(false))
        {
            return;
        }

        var node = ctx.Request.Query["node"] is { Count: > 0 } n ? n.ToString() : null;
        if (node is not null && !IsNodeName(node))
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidName, $"node: \"{node}\" is not a node name (letters, digits, '-', '.', '_'; at most 253)").ConfigureAwait(false);
            return;
        }

        var (revision, placements, states) = ReadInstances(node);
        var stateOf = states.ToDictionary(s => (s.Node, s.Id));
        var views = placements.Select(p => new InstanceView(p, stateOf.GetValueOrDefault((p.Node, p.Id)))).ToList();
        await JsonAsync(ctx, 200, new InstancesResponse(revision, views), ControlJsonContext.Default.InstancesResponse).ConfigureAwait(false);
    }

    private async Task ServicesAsync(HttpContext ctx)
    {
        if (!IsTrue(ctx.Request.Query["stale"]) && !await BarrierAsync(ctx).ConfigureAwait(false))
        {
            return;
        }

        var (revision, spec, scheduler) = _node.Read(s => (s.Revision, s.Get(StoreKeys.Spec), s.Get(StoreKeys.Scheduler)));
        var (_, placements, states) = ReadInstances(null);
        if (spec is null)
        {
            await JsonAsync(ctx, 200, new ServicesResponse(revision, 0, []), ControlJsonContext.Default.ServicesResponse).ConfigureAwait(false);
            return;
        }

        var config = ClusterConfigLoader.Load(spec.Value, StoreKeys.Spec).Config;
        var services = ServiceCounts.Compute(config?.Spec.Services ?? [], placements, states);
        var decision = scheduler is null ? null : JsonSerializer.Deserialize(scheduler.Value, ControlJsonContext.Default.SchedulerDto);
        await JsonAsync(ctx, 200, new ServicesResponse(revision, spec.ModRevision, services, decision), ControlJsonContext.Default.ServicesResponse).ConfigureAwait(false);
    }

    private (long Revision, List<InstanceDto> Placements, List<InstanceStateDto> States) ReadInstances(string? node)
    {
        var suffix = node is null ? "" : node + "/";
        var (revision, placed, reported) = _node.Read(s => (s.Revision, s.Range(StoreKeys.Instances + suffix, 0), s.Range(StoreKeys.InstanceStates + suffix, 0)));
        return (
            revision,
            placed.Select(kv => JsonSerializer.Deserialize(kv.Value, ControlJsonContext.Default.InstanceDto)!).ToList(),
            reported.Select(kv => JsonSerializer.Deserialize(kv.Value, ControlJsonContext.Default.InstanceStateDto)!).ToList());
    }

    private async Task TokensAsync(HttpContext ctx)
    {
        if (!IsTrue(ctx.Request.Query["stale"]) && !await BarrierAsync(ctx).ConfigureAwait(false))
        {
            return;
        }

        var kvs = _node.Read(s => s.Range(StoreKeys.Tokens, 0));
        var tokens = kvs.Select(kv => JsonSerializer.Deserialize(kv.Value, ControlJsonContext.Default.TokenDto)!).ToList();
        await JsonAsync(ctx, 200, new TokensResponse(tokens), ControlJsonContext.Default.TokensResponse).ConfigureAwait(false);
    }

    private async Task CreateTokenAsync(HttpContext ctx)
    {
        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        var error = "";
        var request = body.Length == 0 ? new CreateTokenRequest() : Parse(ctx, body, ControlJsonContext.Default.CreateTokenRequest, out error);
        if (request is null)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidJson, error).ConfigureAwait(false);
            return;
        }

        if (request.TtlSeconds is <= 0)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, $"ttlSeconds: {request.TtlSeconds} is not a positive number of seconds").ConfigureAwait(false);
            return;
        }

        var token = NewToken(request.Description, request.TtlSeconds is { } ttl ? TimeSpan.FromSeconds(ttl) : null);
        var key = StoreKeys.Token(token.Id);
        var txn = new KvTxn([new Compare(key, CompareTarget.Version, CompareOp.Equal, 0)], [new PutOp(key, JsonSerializer.SerializeToUtf8Bytes(token, ControlJsonContext.Default.TokenDto))], []);
        var result = await CommitAsync(ctx, txn, body).ConfigureAwait(false);
        if (result is null)
        {
            return;
        }

        if (!result.Succeeded)
        {
            await ErrorAsync(ctx, 409, ErrorCodes.TokenExists, $"token id {token.Id} exists already; try again").ConfigureAwait(false);
            return;
        }

        await JsonAsync(ctx, 200, token, ControlJsonContext.Default.TokenDto).ConfigureAwait(false);
    }

    /// <summary>A new join token, kubeadm's shape: a 6-character id and a 16-character secret, [a-z0-9].</summary>
    internal static TokenDto NewToken(string? description, TimeSpan? ttl)
    {
        var now = DateTime.UtcNow;
        return new TokenDto(
            RandomNumberGenerator.GetString("abcdefghijklmnopqrstuvwxyz0123456789", 6),
            RandomNumberGenerator.GetString("abcdefghijklmnopqrstuvwxyz0123456789", 16),
            now,
            ttl is { } t ? now + t : null,
            description);
    }

    /// <summary>Null when the request carries a join token of this cluster that has not expired; else why not.</summary>
    private string? TokenProblem(HttpContext ctx)
    {
        var header = ctx.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal))
        {
            return "no join token: send \"Authorization: Bearer <token>\" (zc-node --token; zc get tokens lists them)";
        }

        var token = header["Bearer ".Length..].Trim();
        var dot = token.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0 || dot == token.Length - 1 || token.Length > 200)
        {
            return "the join token is not of the form <id>.<secret>";
        }

        var id = token[..dot];
        var kv = _node.Read(s => s.Get(StoreKeys.Token(id)));
        if (kv is null || JsonSerializer.Deserialize(kv.Value, ControlJsonContext.Default.TokenDto) is not { } stored)
        {
            return $"join token {id}.… is not a token of this cluster";
        }

        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(stored.Secret), Encoding.UTF8.GetBytes(token[(dot + 1)..])))
        {
            return $"join token {id}.… has the wrong secret";
        }

        return stored.Expires is { } expires && expires < DateTime.UtcNow ? $"join token {id}.… expired at {expires:u}" : null;
    }

    /// <summary>Letters, digits, '-', '.', '_'; 1 to 253 characters: safe as a key segment.</summary>
    private static bool IsNodeName(string name) =>
        name.Length is > 0 and <= 253 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_');

    private static string? HeartbeatProblem(HeartbeatRequest beat)
    {
        if (beat.Cpus < 0 || beat.MemoryBytes < 0)
        {
            return "cpus and memoryBytes cannot be negative";
        }

        if (beat.Address is { } address && !IPAddress.TryParse(address, out _))
        {
            return $"address: \"{address}\" is not an IP address";
        }

        foreach (var (k, v) in beat.Labels ?? new Dictionary<string, string>())
        {
            if (k.Length is 0 or > 63 || v.Length > 63 || k.Any(char.IsControl) || v.Any(char.IsControl))
            {
                return $"labels: \"{k}\": \"{v}\" is not a label (a key of 1 to 63 characters, a value of at most 63, no control characters)";
            }
        }

        if (beat.Mac is { } mac && !ZeroCloud.Model.Net.MacAddress.TryParse(mac, out _))
        {
            return $"mac: \"{mac}\" is not a MAC address";
        }

        if (beat.Runtimes?.FirstOrDefault(r => !KnownRuntimes.Contains(r)) is { } runtime)
        {
            return $"runtimes: \"{runtime}\" is not a runtime (process, vm)";
        }

        return null;
    }
}
