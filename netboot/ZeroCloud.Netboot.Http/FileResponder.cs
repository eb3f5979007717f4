using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using ZeroCloud.Model.Http;

namespace ZeroCloud.Netboot.Http;

/// <summary>
/// Sends a file the way download tools and iPXE expect: Content-Length, Content-Type, Last-Modified, a strong ETag,
/// Accept-Ranges; If-None-Match / If-Modified-Since answered with 304; If-Range honoured; single ranges as 206 with
/// Content-Range, several as multipart/byteranges, none that fit as 416; HEAD without a body.
/// </summary>
public static class FileResponder
{
    public static async Task SendAsync(HttpContext context, string path, string? etag = null)
    {
        var info = new FileInfo(path);
        var size = info.Length;
        var modified = new DateTimeOffset(info.LastWriteTimeUtc.Ticks - (info.LastWriteTimeUtc.Ticks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
        etag ??= $"\"{size:x}-{info.LastWriteTimeUtc.Ticks:x}\"";
        var request = context.Request;
        var response = context.Response;
        var headers = response.Headers;
        headers.ETag = etag;
        headers.LastModified = modified.ToString("R", CultureInfo.InvariantCulture);
        headers.AcceptRanges = "bytes";

        if (NotModified(request, etag, modified))
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }

        var rangeHeader = request.Headers.Range.ToString();
        if (rangeHeader.Length > 0 && !IfRangeHolds(request, etag, modified))
        {
            rangeHeader = ""; // the client's copy is stale: it gets the whole file
        }

        var plan = RangedResponse.For(rangeHeader, size, ContentTypeOf(path));
        response.StatusCode = plan.Status;
        response.ContentType = plan.ContentType;
        response.ContentLength = plan.ContentLength;
        if (plan.ContentRange is { } contentRange)
        {
            headers.ContentRange = contentRange;
        }

        if (HttpMethods.IsHead(request.Method))
        {
            return;
        }

        foreach (var (range, header) in plan.Parts)
        {
            if (header is not null)
            {
                await response.Body.WriteAsync(header, context.RequestAborted).ConfigureAwait(false);
            }

            await CopyAsync(response, path, range.First, range.Length, context.RequestAborted).ConfigureAwait(false);
        }

        if (plan.Closing is { } closing)
        {
            await response.Body.WriteAsync(closing, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private const int ChunkSize = 1024 * 1024;

    /// <summary>
    /// Reads the file straight into the response pipe's memory (pread into the buffer Kestrel then writes to the
    /// socket): one copy less than a stream copy. Kestrel has no sendfile(2); this is the closest it allows.
    /// </summary>
    private static async Task CopyAsync(HttpResponse response, string path, long offset, long count, CancellationToken cancellationToken)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        var writer = response.BodyWriter;
        while (count > 0)
        {
            var memory = writer.GetMemory((int)Math.Min(ChunkSize, count));
            var want = (int)Math.Min(memory.Length, count);
            var read = RandomAccess.Read(handle, memory.Span[..want], offset);
            if (read == 0)
            {
                throw new IOException($"{path} became shorter while it was being sent");
            }

            writer.Advance(read);
            offset += read;
            count -= read;
            var flushed = await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (flushed.IsCanceled || flushed.IsCompleted)
            {
                return; // the client went away
            }
        }
    }

    private static bool NotModified(HttpRequest request, string etag, DateTimeOffset modified)
    {
        var ifNoneMatch = request.Headers.IfNoneMatch;
        if (ifNoneMatch.Count > 0)
        {
            // Weak comparison (RFC 9110 §13.1.2): W/"x" matches "x".
            return EntityTagHeaderValue.TryParseList(ifNoneMatch, out var tags) &&
                tags.Any(t => t.Tag == "*" || t.Tag.Equals(etag.AsSpan().TrimStart("W/").ToString(), StringComparison.Ordinal));
        }

        return DateTimeOffset.TryParse(request.Headers.IfModifiedSince, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var since) && modified <= since;
    }

    private static bool IfRangeHolds(HttpRequest request, string etag, DateTimeOffset modified)
    {
        var ifRange = request.Headers.IfRange.ToString();
        if (ifRange.Length == 0)
        {
            return true;
        }

        return ifRange.StartsWith('"')
            ? ifRange == etag
            : DateTimeOffset.TryParse(ifRange, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date) && date == modified;
    }

    public static string ContentTypeOf(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".ipxe" or ".txt" or ".cfg" => "text/plain; charset=utf-8",
        ".json" => "application/json",
        ".html" => "text/html; charset=utf-8",
        ".iso" => "application/x-iso9660-image",
        ".gz" => "application/gzip",
        _ => "application/octet-stream", // kernels, initrds, EFI and PXE binaries
    };
}
