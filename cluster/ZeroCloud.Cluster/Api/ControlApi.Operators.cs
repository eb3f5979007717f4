using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using ZeroCloud.Cluster.Store;
using ZeroCloud.Model.Api;
using static ZeroCloud.Cluster.Api.ApiResults;

namespace ZeroCloud.Cluster.Api;

/// <summary>Operator credentials: create (admin or read-only, one hour unless asked), list (never a secret), revoke.</summary>
public sealed partial class ControlApi
{
    /// <summary>A new operator credential: the record to store (the secret's hash only) and the credential to hand out once.</summary>
    public static (OperatorDto Record, string Credential) NewOperator(string role, TimeSpan? ttl, string? description)
    {
        var id = RandomNumberGenerator.GetString("abcdefghijklmnopqrstuvwxyz0123456789", 8);
        var secret = NewSecret();
        var now = DateTime.UtcNow;
        return (new OperatorDto(id, Hash(secret), role, now, ttl is { } t ? now + t : null, description), $"{Roles.OperatorPrefix}{id}.{secret}");
    }

    private async Task CreateOperatorAsync(HttpContext ctx)
    {
        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        var request = Parse(ctx, body, ControlJsonContext.Default.CreateOperatorRequest, out var error);
        if (request is null)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidJson, error).ConfigureAwait(false);
            return;
        }

        if (!Roles.IsOperatorRole(request.Role))
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, $"role: \"{request.Role}\" is not admin or read-only").ConfigureAwait(false);
            return;
        }

        if (request.TtlSeconds is <= 0)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, $"ttlSeconds: {request.TtlSeconds} is not a positive number of seconds").ConfigureAwait(false);
            return;
        }

        var (record, credential) = NewOperator(request.Role, request.TtlSeconds is { } ttl ? TimeSpan.FromSeconds(ttl) : Roles.OperatorLifetime, request.Description);
        var key = StoreKeys.Operator(record.Id);
        var (auditKey, auditValue) = Audit.Entry(Who(ctx), Audit.OperatorCreated, record.Id, $"{record.Role}, expires {record.Expires:u}");
        var txn = new KvTxn(
            [new Compare(key, CompareTarget.Version, CompareOp.Equal, 0)],
            [new PutOp(key, JsonSerializer.SerializeToUtf8Bytes(record, ControlJsonContext.Default.OperatorDto)), new PutOp(auditKey, Encoding.UTF8.GetBytes(auditValue))],
            []);
        var result = await CommitAsync(ctx, txn).ConfigureAwait(false);
        if (result is null)
        {
            return;
        }

        if (!result.Succeeded)
        {
            await ErrorAsync(ctx, 409, ErrorCodes.TokenExists, $"credential id {record.Id} exists already; try again").ConfigureAwait(false);
            return;
        }

        await JsonAsync(ctx, 200, new OperatorResponse(record.Id, record.Role, credential, record.Expires), ControlJsonContext.Default.OperatorResponse).ConfigureAwait(false);
    }

    private async Task OperatorsAsync(HttpContext ctx)
    {
        if (!IsTrue(ctx.Request.Query["stale"]) && !await BarrierAsync(ctx).ConfigureAwait(false))
        {
            return;
        }

        var skipped = new List<string>();
        var operators = _node.Read(s => s.Range(StoreKeys.Operators, 0))
            .Select(kv => TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.OperatorDto, skipped))
            .OfType<OperatorDto>()
            .Select(o => new OperatorInfo(o.Id, o.Role, o.Created, o.Expires, o.Description))
            .ToList();
        ReportSkipped(skipped);
        await JsonAsync(ctx, 200, new OperatorsResponse(operators), ControlJsonContext.Default.OperatorsResponse).ConfigureAwait(false);
    }

    private async Task RevokeOperatorAsync(HttpContext ctx, string id)
    {
        var key = StoreKeys.Operator(id);
        if (Inputs.Name(id, "id") is { } problem)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, problem).ConfigureAwait(false);
            return;
        }

        await DeleteAuditedAsync(ctx, key, Audit.OperatorRevoked, id, $"no operator credential {id}").ConfigureAwait(false);
    }

    /// <summary>Deletes <paramref name="key"/> and writes its audit entry in one transaction; 404 with <paramref name="missing"/> when there is no such key.</summary>
    private async Task DeleteAuditedAsync(HttpContext ctx, string key, string action, string subject, string missing)
    {
        var (auditKey, auditValue) = Audit.Entry(Who(ctx), action, subject);
        var txn = new KvTxn(
            [new Compare(key, CompareTarget.Version, CompareOp.Greater, 0)],
            [new DeleteOp(key), new PutOp(auditKey, Encoding.UTF8.GetBytes(auditValue))],
            []);
        var result = await CommitAsync(ctx, txn).ConfigureAwait(false);
        if (result is null)
        {
            return;
        }

        if (!result.Succeeded)
        {
            await ErrorAsync(ctx, 404, ErrorCodes.NotFound, missing).ConfigureAwait(false);
            return;
        }

        await JsonAsync(ctx, 200, new WriteResponse(result.Revision, true, 1), ControlJsonContext.Default.WriteResponse).ConfigureAwait(false);
    }
}
