using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using ZeroCloud.Cluster.Store;
using ZeroCloud.Model.Api;
using static ZeroCloud.Cluster.Api.ApiResults;

namespace ZeroCloud.Cluster.Api;

/// <summary>Join tokens: list, create, and the check node requests go through.</summary>
public sealed partial class ControlApi
{
    private async Task TokensAsync(HttpContext ctx)
    {
        if (!IsTrue(ctx.Request.Query["stale"]) && !await BarrierAsync(ctx).ConfigureAwait(false))
        {
            return;
        }

        var kvs = _node.Read(s => s.Range(StoreKeys.Tokens, 0));
        var skipped = new List<string>();
        var tokens = kvs.Select(kv => TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.TokenDto, skipped)).OfType<TokenDto>().ToList();
        ReportSkipped(skipped);
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
        var result = await CommitAsync(ctx, txn).ConfigureAwait(false);
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
    public string? TokenProblem(HttpContext ctx)
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
        if (kv is null || TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.TokenDto, new List<string>()) is not { } stored)
        {
            return $"join token {id}.… is not a token of this cluster";
        }

        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(stored.Secret), Encoding.UTF8.GetBytes(token[(dot + 1)..])))
        {
            return $"join token {id}.… has the wrong secret";
        }

        return stored.Expires is { } expires && expires < DateTime.UtcNow ? $"join token {id}.… expired at {expires:u}" : null;
    }
}
