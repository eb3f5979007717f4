using System.Net;
using System.Net.Http.Headers;

namespace ZeroCloud.Storage;

/// <summary>
/// Chunks to and from the other storage instances, over mutual TLS with this node's certificate: <c>PUT</c> of a
/// chunk answers only once the peer has it verified and on disk; <c>GET</c> answers bytes the peer verified, which are
/// verified again here before use.
/// </summary>
public sealed class Peers(HttpClient http)
{
    /// <summary>Stores a chunk on a peer. Null when stored; otherwise why not (507 when it has no room).</summary>
    public async Task<(int Status, string Problem)?> PutAsync(Uri peer, string hex, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        try
        {
            using var content = new ReadOnlyMemoryContent(data);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            using var response = await http.PutAsync(new Uri(peer, $"/v1/chunks/{hex}"), content, ct).ConfigureAwait(false);
            return response.IsSuccessStatusCode ? null : ((int)response.StatusCode, await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false));
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return (0, ex.InnerException is { } inner ? $"{ex.Message} ({inner.GetType().Name}: {inner.Message}{(inner.InnerException is { } root ? $": {root.Message}" : "")})" : ex.Message);
        }
    }

    /// <summary>Reads a chunk from a peer into <paramref name="buffer"/> and verifies it; its length, or -1.</summary>
    public async Task<int> GetAsync(Uri peer, string hex, byte[] buffer, CancellationToken ct)
    {
        try
        {
            using var response = await http.GetAsync(new Uri(peer, $"/v1/chunks/{hex}"), HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK || response.Content.Headers.ContentLength is not { } length || length > buffer.Length)
            {
                return -1;
            }

            await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            await body.ReadExactlyAsync(buffer.AsMemory(0, (int)length), ct).ConfigureAwait(false);
            return ChunkStore.Verify(hex, buffer.AsSpan(0, (int)length)) ? (int)length : -1;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return -1;
        }
    }

    /// <summary>A peer's own figures; null when it does not answer.</summary>
    public async Task<ZeroCloud.Model.Api.StorageLocalDto?> LocalAsync(Uri peer, CancellationToken ct)
    {
        try
        {
            using var response = await http.GetAsync(new Uri(peer, "/v1/storage/local"), ct).ConfigureAwait(false);
            return response.IsSuccessStatusCode
                ? System.Text.Json.JsonSerializer.Deserialize(await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false), ZeroCloud.Model.Api.ControlJsonContext.Default.StorageLocalDto)
                : null;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException && !ct.IsCancellationRequested)
        {
            return null;
        }
    }
}
