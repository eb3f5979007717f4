using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Http;
using ZeroCloud.Model.Pki;

namespace ZeroCloud.Storage;

public sealed record StorageServerOptions
{
    public IPAddress Address { get; init; } = IPAddress.Any;

    public int Port { get; init; } = Catalog.DefaultPort;

    /// <summary>The cluster's root: client certificates must chain to it.</summary>
    public required ClusterTrust Trust { get; init; }

    /// <summary>The node's certificate (re-read when its agent renews it): served, and presented to peers and the control plane.</summary>
    public required Func<X509Certificate2?> Certificate { get; init; }

    /// <summary>The issuing CA's certificate, sent after the leaf.</summary>
    public Func<X509Certificate2Collection>? Intermediates { get; init; }
}

/// <summary>
/// The store's HTTP API on one storage instance, HTTPS only (TLS 1.3, the node's certificate): blobs by digest and
/// named objects (streamed up and down, Range and multi-range, ETag = digest, immutable caching), chunks between
/// storage instances, and status. Who may: operators by bearer credential (checked with the control plane:
/// admin writes, read-only reads), nodes by their client certificate (read; the storage nodes also move chunks).
/// </summary>
public sealed partial class StorageServer(StorageServerOptions options, StorageEngine engine, ILoggerFactory loggerFactory) : IAsyncDisposable
{
    private readonly ILogger _logger = loggerFactory.CreateLogger<StorageServer>();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (WhoAmIResponse? Who, DateTime Until)> _bearers = new(StringComparer.Ordinal);
    private WebApplication? _app;

    public Uri? ListeningOn { get; private set; }

    public async Task StartAsync(CancellationToken ct)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore();
        builder.Services.AddRoutingCore();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = null; // uploads stream; a chunk at a time is in memory
            k.Listen(options.Address, options.Port, l => l.UseHttps(new TlsHandshakeCallbackOptions
            {
                OnConnection = _ => ValueTask.FromResult(ServerTls()),
            }));
        });
        var app = builder.Build();
        app.MapPut("/v1/blobs", PutBlobAsync);
        app.MapMethods("/v1/blobs/{digest}", ["GET", "HEAD"], GetBlobAsync);
        app.MapGet("/v1/objects", ListObjectsAsync);
        app.MapPut("/v1/objects/{**name}", PutObjectAsync);
        app.MapMethods("/v1/objects/{**name}", ["GET", "HEAD"], GetObjectAsync);
        app.MapDelete("/v1/objects/{**name}", DeleteObjectAsync);
        app.MapPut("/v1/chunks/{hex}", PutChunkAsync);
        app.MapGet("/v1/chunks/{hex}", GetChunkAsync);
        app.MapGet("/v1/storage/local", LocalAsync);
        app.MapGet("/v1/storage/status", StatusAsync);
        app.MapPost("/v1/storage/scrub", ScrubAsync);
        app.MapGet("/v1/health", ctx => ctx.Response.WriteAsync("ok\n", ctx.RequestAborted));
        await app.StartAsync(ct).ConfigureAwait(false);
        _app = app;
        ListeningOn = new Uri(app.Urls.First());
        LogStarted(_logger, options.Address, options.Port, engine.Chunks.Root);
    }

    private (X509Certificate2? Leaf, System.Net.Security.SslStreamCertificateContext? Context) _tls;

    private System.Net.Security.SslServerAuthenticationOptions ServerTls()
    {
        var certificate = options.Certificate() ?? throw new System.Security.Authentication.AuthenticationException("this node has no certificate yet");
        var tls = _tls;
        if (!ReferenceEquals(tls.Leaf, certificate))
        {
            // Built once per certificate (the agent renews it): the chain sent with it is the issuing CA.
            tls = _tls = (certificate, System.Net.Security.SslStreamCertificateContext.Create(certificate, options.Intermediates?.Invoke(), offline: true));
        }

        return new System.Net.Security.SslServerAuthenticationOptions
        {
            ServerCertificateContext = tls.Context,
            EnabledSslProtocols = ClusterTrust.Protocols,
            ClientCertificateRequired = true,
            RemoteCertificateValidationCallback = (_, presented, chain, _) =>
            {
                if (presented is null)
                {
                    return true; // a bearer credential, checked per request
                }

                // A .NET client sends its leaf alone: the issuing CA is this node's own, so the chain is built with it.
                using var leaf = X509CertificateLoader.LoadCertificate(presented.GetRawCertData());
                return options.Trust.Problem(leaf, [.. chain?.ChainElements.Select(e => e.Certificate) ?? [], .. tls.Context!.IntermediateCertificates]) is null;
            },
        };
    }

    private enum Need
    {
        Read,
        Write,
        Peer,
    }

    /// <summary>Null when the caller may; else the refusal already sent.</summary>
    private async Task<bool> AllowedAsync(HttpContext ctx, Need need)
    {
        var (role, name, problem) = await IdentifyAsync(ctx).ConfigureAwait(false);
        if (role is null)
        {
            await ErrorAsync(ctx, 401, ErrorCodes.Unauthenticated, problem ?? "no credential: present the node's client certificate, or send \"Authorization: Bearer <operator credential>\"").ConfigureAwait(false);
            return false;
        }

        var allowed = need switch
        {
            Need.Read => role is Roles.Admin or Roles.ReadOnly or Roles.Node,
            Need.Write => role is Roles.Admin,
            _ => role == Roles.Node && (await engine.Catalog.NodesAsync(TimeSpan.FromSeconds(2), n => n.GetValueOrDefault(name) is { RunsStorage: true }).ConfigureAwait(false)).GetValueOrDefault(name) is { RunsStorage: true },
        };
        if (!allowed)
        {
            var what = need switch { Need.Read => "an operator credential or a node certificate", Need.Write => "an admin credential", _ => "the certificate of a node that runs storage" };
            await ErrorAsync(ctx, 403, ErrorCodes.Forbidden, $"{role} {name} may not do this (it needs {what})").ConfigureAwait(false);
        }

        return allowed;
    }

    /// <summary>The caller: a node by its client certificate (while it has a record and is not pending), or an operator by the role the control plane gives its bearer credential (cached 30 s).</summary>
    private async Task<(string? Role, string Name, string? Problem)> IdentifyAsync(HttpContext ctx)
    {
        if (ctx.Connection.ClientCertificate is { } presented)
        {
            if (ClusterPki.IdentityOf(presented) is not ("node", var node))
            {
                return (null, "", "only node certificates are accepted here");
            }

            // A node that joined a moment ago is not in a list read before it: that is read again (at most every 250 ms).
            static bool Member(StorageNode? n) => n is not (null or { Status: NodeStatus.Pending });
            var known = (await engine.Catalog.NodesAsync(TimeSpan.FromSeconds(2), n => Member(n.GetValueOrDefault(node))).ConfigureAwait(false)).GetValueOrDefault(node);
            return known is null or { Status: NodeStatus.Pending } ? (null, node, $"node {node} is not a node of this cluster (removed, or waiting for approval)") : (Roles.Node, node, null);
        }

        var header = ctx.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal) || header.Length > 520)
        {
            return (null, "", null);
        }

        var credential = header[7..].Trim();
        var id = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(credential)));
        if (!_bearers.TryGetValue(id, out var cached) || cached.Until < DateTime.UtcNow)
        {
            WhoAmIResponse? who;
            try
            {
                who = await engine.Catalog.WithClientAsync(c => c.WhoAmIAsync(credential)).ConfigureAwait(false);
            }
            catch (ControlApiException ex) when (ex.Status is 401 or 403)
            {
                who = null;
            }

            cached = (who, DateTime.UtcNow.AddSeconds(30));
            if (_bearers.Count > 10_000)
            {
                _bearers.Clear();
            }

            _bearers[id] = cached;
        }

        return cached.Who is { } w && w.Role is Roles.Admin or Roles.ReadOnly
            ? (w.Role, w.Name, null)
            : (null, "", "the bearer credential is not an operator credential of this cluster (or it expired or was revoked)");
    }

    private async Task PutBlobAsync(HttpContext ctx)
    {
        if (!await AllowedAsync(ctx, Need.Write).ConfigureAwait(false))
        {
            return;
        }

        var expected = ctx.Request.Query["digest"].ToString();
        if (expected.Length > 0 && Inputs.Digest(expected) is { } problem)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, $"?digest: {problem}").ConfigureAwait(false);
            return;
        }

        await IngestAsync(ctx, null, expected.Length > 0 ? expected : null).ConfigureAwait(false);
    }

    private async Task PutObjectAsync(HttpContext ctx)
    {
        var name = (string?)ctx.Request.RouteValues["name"] ?? "";
        if (!await AllowedAsync(ctx, Need.Write).ConfigureAwait(false))
        {
            return;
        }

        if (Inputs.ObjectName(name, "object") is { } problem)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidName, problem).ConfigureAwait(false);
            return;
        }

        // ?digest=sha256:… : the upload is stored only when its bytes hash to it (zc image push names each file's).
        var expected = ctx.Request.Query["digest"].ToString();
        if (expected.Length > 0 && Inputs.Digest(expected) is { } bad)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, $"?digest: {bad}").ConfigureAwait(false);
            return;
        }

        await IngestAsync(ctx, name, expected.Length > 0 ? expected : null).ConfigureAwait(false);
    }

    private async Task IngestAsync(HttpContext ctx, string? name, string? expected)
    {
        var counted = new CountingStream(ctx.Request.Body);
        try
        {
            // Kestrel holds the body to its Content-Length (or the chunked framing): a body that ends early throws.
            var stored = await engine.IngestAsync(counted, name, expected, ctx.RequestAborted).ConfigureAwait(false);
            LogStored(_logger, name ?? "", stored.Digest, stored.Size, stored.NewChunks, stored.Chunks);
            await JsonAsync(ctx, 201, stored, ControlJsonContext.Default.PutBlobResponse).ConfigureAwait(false);
        }
        catch (InsufficientStorageException ex)
        {
            await ErrorAsync(ctx, 507, ErrorCodes.InsufficientStorage, $"{ex.Message}; nothing of this upload was committed").ConfigureAwait(false);
        }
        catch (ArgumentException ex)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.UploadIncomplete, ex.Message).ConfigureAwait(false);
        }
        catch (ControlApiException ex) when (ex.Status == 429 && !ctx.RequestAborted.IsCancellationRequested)
        {
            // The control plane's limit for this node's identity: the client should come back, as it would be told there.
            ctx.Response.Headers.RetryAfter = "1";
            await ErrorAsync(ctx, 503, ErrorCodes.TooManyRequests, $"the store's records are being written faster than the control plane takes from node {engine.Self} ({ex.Message}); nothing of this upload was committed, retry").ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or ControlApiException or InvalidOperationException && !ctx.RequestAborted.IsCancellationRequested)
        {
            await ErrorAsync(ctx, 503, ErrorCodes.Unreachable, $"the upload could not be committed: {ex.Message}; nothing of it was").ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or BadHttpRequestException || ex is OperationCanceledException && ctx.RequestAborted.IsCancellationRequested)
        {
            // The client went away mid-upload: nothing was committed; the chunks it left are collected later.
            LogCut(_logger, name ?? "(blob)", counted.Count, ex.Message);
            ctx.Abort();
        }
    }

    private async Task GetBlobAsync(HttpContext ctx)
    {
        var digest = (string)ctx.Request.RouteValues["digest"]!;
        if (!await AllowedAsync(ctx, Need.Read).ConfigureAwait(false))
        {
            return;
        }

        if (Inputs.Digest(digest) is { } problem)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, problem).ConfigureAwait(false);
            return;
        }

        await SendBlobAsync(ctx, digest, null).ConfigureAwait(false);
    }

    private async Task GetObjectAsync(HttpContext ctx)
    {
        var name = (string?)ctx.Request.RouteValues["name"] ?? "";
        if (!await AllowedAsync(ctx, Need.Read).ConfigureAwait(false))
        {
            return;
        }

        var o = Inputs.ObjectName(name, "object") is null ? await engine.Catalog.GetAsync(StoreKeys.StorageObject(name), ControlJsonContext.Default.StorageObjectDto).ConfigureAwait(false) : null;
        if (o is null)
        {
            await ErrorAsync(ctx, 404, ErrorCodes.NotFound, $"no object {name}").ConfigureAwait(false);
            return;
        }

        await SendBlobAsync(ctx, o.Value.Value.Digest, name).ConfigureAwait(false);
    }

    private async Task DeleteObjectAsync(HttpContext ctx)
    {
        var name = (string?)ctx.Request.RouteValues["name"] ?? "";
        if (!await AllowedAsync(ctx, Need.Write).ConfigureAwait(false))
        {
            return;
        }

        var key = StoreKeys.StorageObject(name);
        var o = Inputs.ObjectName(name, "object") is null ? await engine.Catalog.GetAsync(key, ControlJsonContext.Default.StorageObjectDto).ConfigureAwait(false) : null;
        if (o is null)
        {
            await ErrorAsync(ctx, 404, ErrorCodes.NotFound, $"no object {name}").ConfigureAwait(false);
            return;
        }

        await engine.Catalog.TxnAsync(new TxnRequest([new CompareDto(key, "mod", "=", Number: o.Value.ModRevision)], [new OpDto("delete", key)], [])).ConfigureAwait(false);
        await JsonAsync(ctx, 200, o.Value.Value, ControlJsonContext.Default.StorageObjectDto).ConfigureAwait(false);
    }

    private async Task ListObjectsAsync(HttpContext ctx)
    {
        if (!await AllowedAsync(ctx, Need.Read).ConfigureAwait(false))
        {
            return;
        }

        var prefix = ctx.Request.Query["prefix"].ToString();
        var objects = await engine.Catalog.ListAsync(StoreKeys.StorageObjects + prefix, ControlJsonContext.Default.StorageObjectDto).ConfigureAwait(false);
        await JsonAsync(ctx, 200, new StorageObjectsResponse([.. objects.Select(o => o.Value)]), ControlJsonContext.Default.StorageObjectsResponse).ConfigureAwait(false);
    }

    /// <summary>
    /// A blob as download tools and iPXE expect it: ETag (the digest), immutable caching, If-None-Match, If-Range,
    /// one range as 206, several as multipart/byteranges, none that fit as 416, HEAD without a body. Every chunk is
    /// verified before its first byte is sent; once the headers are out, a chunk no copy of which verifies ends the
    /// connection rather than send a wrong byte.
    /// </summary>
    private async Task SendBlobAsync(HttpContext ctx, string digest, string? name)
    {
        var record = await engine.Catalog.GetAsync(StoreKeys.StorageBlob(digest), ControlJsonContext.Default.BlobDto, stale: true).ConfigureAwait(false)
            ?? await engine.Catalog.GetAsync(StoreKeys.StorageBlob(digest), ControlJsonContext.Default.BlobDto).ConfigureAwait(false);
        if (record is null)
        {
            await ErrorAsync(ctx, 404, ErrorCodes.NotFound, name is null ? $"no blob {digest}" : $"object {name} names blob {digest}, which the store no longer has").ConfigureAwait(false);
            return;
        }

        var blob = record.Value.Value;
        var request = ctx.Request;
        var response = ctx.Response;
        var etag = $"\"{digest}\"";
        response.Headers.ETag = etag;
        response.Headers.CacheControl = "public, max-age=31536000, immutable";
        response.Headers.AcceptRanges = "bytes";
        if (request.Headers.IfNoneMatch.Count > 0 && EntityTagHeaderValue.TryParseList(request.Headers.IfNoneMatch, out var tags) && tags.Any(t => t.Tag == "*" || t.Tag.ToString() == etag))
        {
            response.StatusCode = 304;
            return;
        }

        var range = request.Headers.Range.ToString();
        if (range.Length > 0 && request.Headers.IfRange.ToString() is { Length: > 0 } ifRange && ifRange != etag)
        {
            range = "";
        }

        var plan = RangedResponse.For(range, blob.Size, "application/octet-stream");
        response.StatusCode = plan.Status;
        response.ContentType = plan.ContentType;
        response.ContentLength = plan.ContentLength;
        if (plan.ContentRange is { } contentRange)
        {
            response.Headers.ContentRange = contentRange;
        }

        if (HttpMethods.IsHead(request.Method))
        {
            return;
        }

        foreach (var (part, header) in plan.Parts)
        {
            if (header is not null)
            {
                await response.Body.WriteAsync(header, ctx.RequestAborted).ConfigureAwait(false);
            }

            if (!await CopyAsync(ctx, blob, part.First, part.Length).ConfigureAwait(false))
            {
                return;
            }
        }

        if (plan.Closing is { } closing)
        {
            await response.Body.WriteAsync(closing, ctx.RequestAborted).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Bytes <paramref name="offset"/>.. of a blob, a verified chunk at a time; the next chunk is read and hashed while
    /// the current one is written to the socket. False when no copy of a chunk verified and the connection was cut.
    /// </summary>
    private async Task<bool> CopyAsync(HttpContext ctx, BlobDto blob, long offset, long count)
    {
        if (count == 0)
        {
            return true;
        }

        var ct = ctx.RequestAborted;
        var first = (int)(offset / blob.ChunkSize);
        var last = (int)((offset + count - 1) / blob.ChunkSize);
        var buffers = new[] { ChunkStore.RentBuffer(), ChunkStore.RentBuffer() };
        try
        {
            var loading = Load(first, buffers[0]);
            for (var i = first; i <= last; i++)
            {
                int length;
                try
                {
                    length = await loading.ConfigureAwait(false);
                }
                catch (ChunkUnavailableException ex)
                {
                    LogUnavailable(_logger, blob.Digest, ex.Message);
                    ctx.Abort(); // the headers promised bytes no copy can give: end the connection, never a wrong byte
                    return false;
                }

                var buffer = buffers[(i - first) % 2];
                if (i < last)
                {
                    loading = Load(i + 1, buffers[(i + 1 - first) % 2]);
                }

                var chunkStart = (long)i * blob.ChunkSize;
                var from = (int)Math.Max(0, offset - chunkStart);
                var to = (int)Math.Min(length, offset + count - chunkStart);
                await ctx.Response.Body.WriteAsync(buffer.AsMemory(from, to - from), ct).ConfigureAwait(false);
            }
        }
        finally
        {
            ChunkStore.Return(buffers[0]);
            ChunkStore.Return(buffers[1]);
        }

        return true;

        Task<int> Load(int index, byte[] into) => Task.Run(() => engine.ReadChunkAsync(blob.Chunks[index], into, ct), ct);
    }

    private async Task PutChunkAsync(HttpContext ctx)
    {
        var hex = (string)ctx.Request.RouteValues["hex"]!;
        if (!await AllowedAsync(ctx, Need.Peer).ConfigureAwait(false))
        {
            return;
        }

        if (!ChunkStore.IsHex(hex) || ctx.Request.ContentLength is not { } length || length > ChunkStore.ChunkSize)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, $"a chunk is PUT to /v1/chunks/<64 hex digits> with a Content-Length of at most {ChunkStore.ChunkSize}").ConfigureAwait(false);
            return;
        }

        if (!engine.HasRoomFor(length))
        {
            await ErrorAsync(ctx, 507, ErrorCodes.InsufficientStorage, $"node {engine.Self} has {engine.Chunks.FreeBytes} bytes free and keeps {StorageEngine.Reserve}").ConfigureAwait(false);
            return;
        }

        var buffer = ChunkStore.RentBuffer();
        try
        {
            await ctx.Request.Body.ReadExactlyAsync(buffer.AsMemory(0, (int)length), ctx.RequestAborted).ConfigureAwait(false);
            var (status, problem) = await engine.AcceptChunkAsync(hex, buffer.AsMemory(0, (int)length), ctx.RequestAborted).ConfigureAwait(false);
            if (status == 204)
            {
                ctx.Response.StatusCode = 204;
                return;
            }

            await ErrorAsync(ctx, status, status == 507 ? ErrorCodes.InsufficientStorage : ErrorCodes.InvalidArgument, problem ?? "refused").ConfigureAwait(false);
        }
        finally
        {
            ChunkStore.Return(buffer);
        }
    }

    private async Task GetChunkAsync(HttpContext ctx)
    {
        var hex = (string)ctx.Request.RouteValues["hex"]!;
        if (!await AllowedAsync(ctx, Need.Read).ConfigureAwait(false))
        {
            return;
        }

        var buffer = ChunkStore.RentBuffer();
        try
        {
            // Only this node's own verified copy: a peer that asks has its own way to the others.
            if (!ChunkStore.IsHex(hex) || engine.Chunks.Read(hex, buffer, out var length) != ChunkReadOutcome.Ok)
            {
                // A copy the records list here but that is bad or gone is put back, not only reported.
                engine.RestoreLater(hex);
                await ErrorAsync(ctx, 404, ErrorCodes.NotFound, $"node {engine.Self} has no good copy of chunk {hex}").ConfigureAwait(false);
                return;
            }

            ctx.Response.ContentType = "application/octet-stream";
            ctx.Response.ContentLength = length;
            await ctx.Response.Body.WriteAsync(buffer.AsMemory(0, length), ctx.RequestAborted).ConfigureAwait(false);
        }
        finally
        {
            ChunkStore.Return(buffer);
        }
    }

    private async Task LocalAsync(HttpContext ctx)
    {
        if (await AllowedAsync(ctx, Need.Read).ConfigureAwait(false))
        {
            await JsonAsync(ctx, 200, engine.Local(), ControlJsonContext.Default.StorageLocalDto).ConfigureAwait(false);
        }
    }

    private async Task StatusAsync(HttpContext ctx)
    {
        if (await AllowedAsync(ctx, Need.Read).ConfigureAwait(false))
        {
            await JsonAsync(ctx, 200, await engine.StatusAsync(ctx.RequestAborted).ConfigureAwait(false), ControlJsonContext.Default.StorageStatusResponse).ConfigureAwait(false);
        }
    }

    private async Task ScrubAsync(HttpContext ctx)
    {
        if (await AllowedAsync(ctx, Need.Write).ConfigureAwait(false))
        {
            await JsonAsync(ctx, 200, await engine.ScrubAsync(0, ctx.RequestAborted).ConfigureAwait(false), ControlJsonContext.Default.ScrubReport).ConfigureAwait(false);
        }
    }

    private static async Task JsonAsync<T>(HttpContext ctx, int status, T value, JsonTypeInfo<T> type)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(ctx.Response.Body, value, type, ctx.RequestAborted).ConfigureAwait(false);
    }

    private static Task ErrorAsync(HttpContext ctx, int status, string code, string message) =>
        JsonAsync(ctx, status, new ErrorResponse(code, message), ControlJsonContext.Default.ErrorResponse);

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync().ConfigureAwait(false);
            await _app.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Counts what a request body delivered (a cut upload is told from a short one by this).</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        public long Count { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => Count; set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("read asynchronously");

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            Count += n;
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [LoggerMessage(EventId = 7020, Level = LogLevel.Information, Message = "storage on {Address}:{Port}, chunks in {Root}")]
    private static partial void LogStarted(ILogger logger, IPAddress address, int port, string root);

    [LoggerMessage(EventId = 7021, Level = LogLevel.Information, Message = "stored {Name} {Digest}: {Size} bytes, {New} new chunks of {Chunks}")]
    private static partial void LogStored(ILogger logger, string name, string digest, long size, int @new, int chunks);

    [LoggerMessage(EventId = 7022, Level = LogLevel.Warning, Message = "upload of {Name} cut after {Bytes} bytes ({Reason}): nothing committed")]
    private static partial void LogCut(ILogger logger, string name, long bytes, string reason);

    [LoggerMessage(EventId = 7023, Level = LogLevel.Error, Message = "blob {Digest}: {Problem}; the response was cut")]
    private static partial void LogUnavailable(ILogger logger, string digest, string problem);
}
