using System.Text.Json;
using Microsoft.AspNetCore.Http;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Cluster.Api;

/// <summary>How every endpoint of the API reads bodies and answers: JSON, and errors as <c>{"code","message"}</c> with a code from <see cref="ErrorCodes"/>.</summary>
public static class ApiResults
{
    /// <summary>The largest request body the API reads (Kestrel's limit is set to it).</summary>
    public const int MaxBodyBytes = 8 << 20;

    public static async Task<byte[]?> ReadBodyAsync(HttpContext ctx)
    {
        if (ctx.Request.ContentLength > MaxBodyBytes)
        {
            await ErrorAsync(ctx, 413, ErrorCodes.BodyTooLarge, $"the body is {ctx.Request.ContentLength} bytes; at most {MaxBodyBytes} are accepted").ConfigureAwait(false);
            return null;
        }

        using var buffer = new MemoryStream();
        try
        {
            await ctx.Request.Body.CopyToAsync(buffer, ctx.RequestAborted).ConfigureAwait(false);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == 413)
        {
            await ErrorAsync(ctx, 413, ErrorCodes.BodyTooLarge, $"the body is larger than {MaxBodyBytes} bytes").ConfigureAwait(false);
            return null;
        }

        return buffer.ToArray();
    }

    public static T? Parse<T>(HttpContext ctx, byte[] body, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, out string error)
        where T : class
    {
        error = "";
        if (body.Length == 0)
        {
            error = $"{ctx.Request.Method} {ctx.Request.Path} needs a JSON body";
            return null;
        }

        try
        {
            var value = JsonSerializer.Deserialize(body, type);
            if (value is null)
            {
                error = "the body is JSON null; an object was expected";
            }

            return value;
        }
        catch (JsonException ex)
        {
            var where = ex.LineNumber is { } line ? $" at line {line + 1}, byte {ex.BytePositionInLine + 1}" : "";
            var what = ex.Message.Split(" Path:", 2)[0];
            error = $"malformed JSON{where}{(ex.Path is { Length: > 1 } path ? $" ({path})" : "")}: {what}";
            return null;
        }
    }

    public static bool IsTrue(Microsoft.Extensions.Primitives.StringValues value) =>
        value.Count > 0 && (value[0] is "" or "true" or "1" or "yes");

    public static async Task JsonAsync<T>(HttpContext ctx, int status, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(ctx.Response.Body, value, type, ctx.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>An error answer: RFC 9457 problem details (<c>application/problem+json</c>) carrying the API's code and message.</summary>
    public static Task ErrorAsync(HttpContext ctx, int status, string code, string message, IReadOnlyList<DiagnosticDto>? diagnostics = null) =>
        ProblemAsync(ctx, ErrorResponse.Problem(status, code, message, diagnostics));

    private static async Task ProblemAsync(HttpContext ctx, ErrorResponse problem)
    {
        ctx.Response.StatusCode = problem.Status ?? 500;
        ctx.Response.ContentType = ErrorResponse.MediaType;
        await JsonSerializer.SerializeAsync(ctx.Response.Body, problem, ControlJsonContext.Default.ErrorResponse, ctx.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>Letters, digits, '-', '.', '_'; 1 to 253 characters: safe as a key segment.</summary>
    public static bool IsNodeName(string name) =>
        name.Length is > 0 and <= 253 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_');
}
