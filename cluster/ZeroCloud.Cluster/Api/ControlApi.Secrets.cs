using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using ZeroCloud.Cluster.Store;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Pki;
using static ZeroCloud.Cluster.Api.ApiResults;

namespace ZeroCloud.Cluster.Api;

/// <summary>
/// Secrets (<c>zc secret</c>): set and removed by the admin, sealed by the member that takes the write (the leader)
/// before they reach the log, so neither the WAL nor a snapshot holds a value; listed without values; read by the
/// admin and by the nodes that run one of the services a secret names as its readers.
/// </summary>
public sealed partial class ControlApi
{
    /// <summary>The largest value a secret may hold (BMC passwords, keys and certificates fit many times over).</summary>
    public const int MaxSecretBytes = 64 << 10;

    private SecretBox? Box() => _services.GetService<MemberTls>() is { Pki: { } pki } ? SecretBox.For(pki) : null;

    private async Task SetSecretAsync(HttpContext ctx, string name)
    {
        if (Inputs.Name(name, "the secret's name") is { } invalid)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidName, invalid).ConfigureAwait(false);
            return;
        }

        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        var request = Parse(ctx, body, ControlJsonContext.Default.SetSecretRequest, out var error);
        if (request is null)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidJson, error).ConfigureAwait(false);
            return;
        }

        var value = new byte[request.Value.Length];
        if (!Convert.TryFromBase64String(request.Value, value, out var size))
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, "value: not base64").ConfigureAwait(false);
            return;
        }

        if (size > MaxSecretBytes)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, $"value: {size} bytes; a secret holds at most {MaxSecretBytes}").ConfigureAwait(false);
            return;
        }

        var readers = (request.Readers ?? []).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (readers.Select(r => Inputs.Name(r, $"readers: \"{r}\"")).OfType<string>().FirstOrDefault() is { } badReader)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, badReader + " (a reader is a service name)").ConfigureAwait(false);
            return;
        }

        if (Box() is not { } box)
        {
            await ErrorAsync(ctx, 503, ErrorCodes.NotFound, "this member has no cluster CA, so it cannot seal a secret; ask another member").ConfigureAwait(false);
            return;
        }

        var key = StoreKeys.SecretOf(name);
        var old = _node.Read(s => s.Get(key));
        var existing = old is null ? null : TypedValues.Read(key, old.Value, ControlJsonContext.Default.SecretDto, new List<string>());
        var now = DateTime.UtcNow;
        var sealedValue = box.Seal(name, value.AsSpan(0, size), readers, existing?.Created ?? now, now);
        CryptographicOperations.ZeroMemory(value);
        var (auditKey, auditValue) = Audit.Entry(Who(ctx), Audit.SecretSet, name, $"{size} bytes, readers {(readers.Count == 0 ? "admin only" : string.Join(", ", readers))}");
        var txn = new KvTxn(
            [new Compare(key, CompareTarget.ModRevision, CompareOp.Equal, old?.ModRevision ?? 0)],
            [new PutOp(key, JsonSerializer.SerializeToUtf8Bytes(sealedValue, ControlJsonContext.Default.SecretDto)), new PutOp(auditKey, Encoding.UTF8.GetBytes(auditValue))],
            []);
        var result = await CommitAsync(ctx, txn).ConfigureAwait(false);
        if (result is null)
        {
            return;
        }

        if (!result.Succeeded)
        {
            await ErrorAsync(ctx, 409, ErrorCodes.RevisionMismatch, $"secret {name} changed while it was being set; set it again").ConfigureAwait(false);
            return;
        }

        await JsonAsync(ctx, 200, Info(sealedValue), ControlJsonContext.Default.SecretInfo).ConfigureAwait(false);
    }

    private static SecretInfo Info(SecretDto s) => new(s.Name, s.Readers, s.Created, s.Updated, s.Size);

    private async Task SecretsAsync(HttpContext ctx)
    {
        if (!IsTrue(ctx.Request.Query["stale"]) && !await BarrierAsync(ctx).ConfigureAwait(false))
        {
            return;
        }

        var skipped = new List<string>();
        var secrets = _node.Read(s => s.Range(StoreKeys.Secrets, 0))
            .Select(kv => TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.SecretDto, skipped))
            .OfType<SecretDto>()
            .Select(Info)
            .ToList();
        ReportSkipped(skipped);
        await JsonAsync(ctx, 200, new SecretsResponse(secrets), ControlJsonContext.Default.SecretsResponse).ConfigureAwait(false);
    }

    private async Task SecretAsync(HttpContext ctx, string name)
    {
        if (Inputs.Name(name, "the secret's name") is { } invalid)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidName, invalid).ConfigureAwait(false);
            return;
        }

        if (!await BarrierAsync(ctx).ConfigureAwait(false))
        {
            return;
        }

        var key = StoreKeys.SecretOf(name);
        var kv = _node.Read(s => s.Get(key));
        var secret = kv is null ? null : TypedValues.Read(key, kv.Value, ControlJsonContext.Default.SecretDto, new List<string>());
        var caller = Identify(ctx);
        // Who may read is decided before whether it exists: a caller that may not read learns nothing of the names.
        var services = caller.IsNode ? HostedServices(caller.Name) : [];
        if (!caller.IsAdmin && !(secret is not null && secret.Readers.Any(services.Contains)))
        {
            await ErrorAsync(ctx, 403, ErrorCodes.Forbidden, $"{Describe(caller)} may not read secret {name} (it needs an admin credential, or the key of a node that runs a service the secret names as a reader)").ConfigureAwait(false);
            return;
        }

        if (secret is null)
        {
            await ErrorAsync(ctx, 404, ErrorCodes.NotFound, $"no secret {name}").ConfigureAwait(false);
            return;
        }

        if (Box() is not { } box)
        {
            await ErrorAsync(ctx, 503, ErrorCodes.NotFound, "this member has no cluster CA, so it cannot open a secret; ask another member").ConfigureAwait(false);
            return;
        }

        byte[] value;
        try
        {
            value = box.Open(secret);
        }
        catch (CryptographicException ex)
        {
            await ErrorAsync(ctx, 500, ErrorCodes.SecretUnreadable, ex.Message).ConfigureAwait(false);
            return;
        }

        await JsonAsync(ctx, 200, new SecretValueResponse(name, Convert.ToBase64String(value)), ControlJsonContext.Default.SecretValueResponse).ConfigureAwait(false);
        CryptographicOperations.ZeroMemory(value);
    }

    private async Task RemoveSecretAsync(HttpContext ctx, string name)
    {
        if (Inputs.Name(name, "the secret's name") is { } invalid)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidName, invalid).ConfigureAwait(false);
            return;
        }

        await DeleteAuditedAsync(ctx, StoreKeys.SecretOf(name), Audit.SecretRemoved, name, $"no secret {name}").ConfigureAwait(false);
    }
}
