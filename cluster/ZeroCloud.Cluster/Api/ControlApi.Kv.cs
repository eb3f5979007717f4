using System.Buffers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using ZeroCloud.Cluster.Raft;
using ZeroCloud.Cluster.Store;
using ZeroCloud.Model.Api;
using static ZeroCloud.Cluster.Api.ApiResults;

namespace ZeroCloud.Cluster.Api;

/// <summary>The key/value store: get and range (linearizable unless <c>?stale=true</c>), put, delete, transactions, and watches streamed as NDJSON.</summary>
public sealed partial class ControlApi
{
    private async Task GetKvAsync(HttpContext ctx, string? key)
    {
        var query = ctx.Request.Query;
        var prefix = IsTrue(query["prefix"]);
        var k = "/" + (key ?? "");
        if (!prefix && KvStore.KeyProblem(k) is { } problem)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidKey, problem).ConfigureAwait(false);
            return;
        }

        var limit = 0;
        if (query["limit"] is { Count: > 0 } limitText && (!int.TryParse(limitText, out limit) || limit < 0))
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, $"limit: \"{limitText}\" is not a whole number ≥ 0").ConfigureAwait(false);
            return;
        }

        if (!IsTrue(query["stale"]) && !await BarrierAsync(ctx).ConfigureAwait(false))
        {
            return;
        }

        if (!prefix && !MayRead(ctx, k))
        {
            await ErrorAsync(ctx, 403, ErrorCodes.Forbidden, $"{k} holds a credential: only an admin reads it").ConfigureAwait(false);
            return;
        }

        var (revision, kvs) = _node.Read(s => (s.Revision, prefix ? s.Range(k, limit) : s.Get(k) is { } kv ? [kv] : []));
        if (prefix && !Identify(ctx).IsAdmin && StoreKeys.MayReachSecret(k))
        {
            // Credentials are left out of a non-admin's range (a limit counts them: the page may come back shorter).
            kvs = [.. kvs.Where(kv => !StoreKeys.IsSecret(kv.Key))];
        }

        if (!prefix && kvs.Count == 0)
        {
            await ErrorAsync(ctx, 404, ErrorCodes.KeyNotFound, $"no key \"{k}\" (at revision {revision})").ConfigureAwait(false);
            return;
        }

        await JsonAsync(ctx, 200, new RangeResponse(revision, [.. kvs.Select(ToDto)]), ControlJsonContext.Default.RangeResponse).ConfigureAwait(false);
    }

    private async Task PutKvAsync(HttpContext ctx, string? key)
    {
        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        var k = "/" + (key ?? "");
        var request = Parse(ctx, body, ControlJsonContext.Default.PutRequest, out var error);
        if (request is null)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidJson, error).ConfigureAwait(false);
            return;
        }

        if (request.Value is null)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, "the body needs a \"value\" (a string)").ConfigureAwait(false);
            return;
        }

        List<Compare> compares = request.IfModRevision is { } rev ? [new Compare(k, CompareTarget.ModRevision, CompareOp.Equal, rev)] : [];
        var txn = new KvTxn(compares, [new PutOp(k, Encoding.UTF8.GetBytes(request.Value))], []);

        if (WriteProblem(ctx, txn) is { } refused)
        {
            await ErrorAsync(ctx, 403, ErrorCodes.Forbidden, refused).ConfigureAwait(false);
            return;
        }
        var result = await CommitAsync(ctx, txn).ConfigureAwait(false);
        if (result is null)
        {
            return;
        }

        if (!result.Succeeded)
        {
            await ErrorAsync(ctx, 409, ErrorCodes.RevisionMismatch, $"\"{k}\" is not at revision {request.IfModRevision}; nothing was written (store at revision {result.Revision})").ConfigureAwait(false);
            return;
        }

        await JsonAsync(ctx, 200, new WriteResponse(result.Revision, true, result.Events.Count), ControlJsonContext.Default.WriteResponse).ConfigureAwait(false);
    }

    private async Task DeleteKvAsync(HttpContext ctx, string? key)
    {
        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        var k = "/" + (key ?? "");
        var txn = KvTxn.Delete(k, IsTrue(ctx.Request.Query["prefix"]));
        if (KvStore.Validate(txn) is { } problem)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidKey, problem).ConfigureAwait(false);
            return;
        }

        if (WriteProblem(ctx, txn) is { } refused)
        {
            await ErrorAsync(ctx, 403, ErrorCodes.Forbidden, refused).ConfigureAwait(false);
            return;
        }

        var result = await CommitAsync(ctx, txn).ConfigureAwait(false);
        if (result is not null)
        {
            await JsonAsync(ctx, 200, new WriteResponse(result.Revision, true, result.Events.Count), ControlJsonContext.Default.WriteResponse).ConfigureAwait(false);
        }
    }

    private async Task TxnAsync(HttpContext ctx)
    {
        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        var request = Parse(ctx, body, ControlJsonContext.Default.TxnRequest, out var error);
        if (request is null)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidJson, error).ConfigureAwait(false);
            return;
        }

        if (TxnMapper.ToTxn(request, out var problem) is not { } txn)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidTxn, problem).ConfigureAwait(false);
            return;
        }

        if (WriteProblem(ctx, txn) is { } refused)
        {
            await ErrorAsync(ctx, 403, ErrorCodes.Forbidden, refused).ConfigureAwait(false);
            return;
        }

        var result = await CommitAsync(ctx, txn).ConfigureAwait(false);
        if (result is not null)
        {
            await JsonAsync(ctx, 200, new TxnResponse(result.Succeeded, result.Revision, [.. result.Events.Select(ToDto)]), ControlJsonContext.Default.TxnResponse).ConfigureAwait(false);
        }
    }

    private async Task WatchAsync(HttpContext ctx)
    {
        var query = ctx.Request.Query;
        var prefix = query["prefix"].ToString();
        if (prefix.Length > 0 && KvStore.KeyProblem(prefix) is { } problem)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidKey, problem).ConfigureAwait(false);
            return;
        }

        long from = 0;
        if (query["from"] is { Count: > 0 } fromText && (!long.TryParse(fromText, out from) || from < 0))
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, $"from: \"{fromText}\" is not a revision (a whole number ≥ 0)").ConfigureAwait(false);
            return;
        }

        // Caps: per client address and in all, so one client cannot hold the member's memory in watches.
        var client = ctx.Connection.RemoteIpAddress?.ToString() ?? "";
        if (Interlocked.Increment(ref _watches) > MaxWatches | _watchesByClient.AddOrUpdate(client, 1, (_, n) => n + 1) > MaxWatchesPerClient)
        {
            ReleaseWatch(client);
            await ErrorAsync(ctx, 429, ErrorCodes.TooManyWatches, $"at most {MaxWatchesPerClient} watches per client address and {MaxWatches} in all on a member; close some first").ConfigureAwait(false);
            return;
        }

        KvStateMachine.Watcher watcher;
        try
        {
            watcher = _node.Machine.Watch(prefix, from);
        }
        catch (CompactedException ex)
        {
            ReleaseWatch(client);
            await ErrorAsync(ctx, 410, ErrorCodes.Compacted, ex.Message).ConfigureAwait(false);
            return;
        }

        try
        {
            // Credentials are left out of a non-admin's watch.
            await StreamAsync(ctx, watcher, Identify(ctx).IsAdmin || !StoreKeys.MayReachSecret(prefix.Length == 0 ? "/" : prefix)).ConfigureAwait(false);
        }
        finally
        {
            ReleaseWatch(client);
        }
    }

    /// <summary>Most watches one client address may hold open on a member.</summary>
    public const int MaxWatchesPerClient = 256;

    /// <summary>Most watches a member serves at once.</summary>
    public const int MaxWatches = 2048;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _watchesByClient = new(StringComparer.Ordinal);
    private int _watches;

    private void ReleaseWatch(string client)
    {
        Interlocked.Decrement(ref _watches);
        if (_watchesByClient.AddOrUpdate(client, 0, (_, n) => n - 1) <= 0)
        {
            _watchesByClient.TryRemove(new KeyValuePair<string, int>(client, 0));
        }
    }

    private static async Task StreamAsync(HttpContext ctx, KvStateMachine.Watcher watcher, bool secretsToo)
    {
        using (watcher)
        {
            ctx.Response.StatusCode = 200;
            ctx.Response.ContentType = "application/x-ndjson";
            await ctx.Response.StartAsync(ctx.RequestAborted).ConfigureAwait(false);
            var reader = watcher.Events;
            var output = ctx.Response.BodyWriter;
            try
            {
                while (await reader.WaitToReadAsync(ctx.RequestAborted).ConfigureAwait(false))
                {
                    // Streamed as it goes: flushed every 64 KiB, so a watch from an old revision never holds its
                    // whole backlog as serialised text, and a slow reader slows only its own watch (backpressure).
                    var pending = 0;
                    while (reader.TryRead(out var e))
                    {
                        if (!secretsToo && StoreKeys.IsSecret(e.Key))
                        {
                            continue;
                        }

                        var bytes = JsonSerializer.SerializeToUtf8Bytes(ToDto(e), ControlJsonContext.Default.EventDto);
                        output.Write(bytes);
                        output.Write("\n"u8);
                        pending += bytes.Length + 1;
                        if (pending >= 64 * 1024)
                        {
                            await output.FlushAsync(ctx.RequestAborted).ConfigureAwait(false);
                            pending = 0;
                        }
                    }

                    await output.FlushAsync(ctx.RequestAborted).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
            {
                // the client went away
            }
            catch (Exception ex) when (ex is InvalidOperationException or CompactedException)
            {
                var code = ex is CompactedException ? ErrorCodes.Compacted : ErrorCodes.WatchLagging;
                output.Write(JsonSerializer.SerializeToUtf8Bytes(new ErrorResponse(code, ex.Message), ControlJsonContext.Default.ErrorResponse));
                output.Write("\n"u8);
                await output.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
    }
}
