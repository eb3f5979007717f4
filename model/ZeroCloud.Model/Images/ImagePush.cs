using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Model.Images;

/// <summary>Why an image was not pushed: <see cref="Local"/> when the built folder is at fault (missing or wrong files), else the store or the catalogue refused.</summary>
public sealed class ImagePushException(string message, bool local, int status = 0) : Exception(message)
{
    public bool Local { get; } = local;

    /// <summary>The folder has no manifest: the image was never built there.</summary>
    public bool NotBuilt { get; init; }

    /// <summary>The store's HTTP status when it refused; 0 otherwise.</summary>
    public int Status { get; } = status;
}

/// <summary>What one push did: the catalogue's answer, the bytes sent and how long it took.</summary>
public sealed record ImagePushed(PushImageResponse Response, long Sent, int Files, TimeSpan Took);

/// <summary>
/// Pushes an image built by <c>zc image build</c> (a folder with <c>manifest.json</c> and the files it lists): each file
/// to the store over a storage instance's API (which refuses bytes that do not hash to the manifest's digest), then
/// the manifest to the control plane's catalogue, where the leader signs it. What <c>zc image push</c>, <c>zc up</c>
/// and a seed (<c>zc-node --seed</c>) do.
/// </summary>
public static class ImagePush
{
    /// <summary>Pushes the image in <paramref name="folder"/>; <paramref name="wrap"/> may wrap each file's stream (a progress bar).</summary>
    public static async Task<ImagePushed> PushAsync(HttpClient http, Uri storage, ControlClient control, string folder, string image, Func<Stream, string, Stream>? wrap, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(control);
        var path = Path.Combine(folder, "manifest.json");
        if (!File.Exists(path))
        {
            throw new ImagePushException($"{path}: no such file (build the image first: zc image build {image})", local: true) { NotBuilt = true };
        }

        var bytes = await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false);
        if (ImageManifest.Parse(bytes, out var problem) is not { } manifest)
        {
            throw new ImagePushException($"{path}: {problem}", local: true);
        }

        if (manifest.Name != image)
        {
            throw new ImagePushException($"{path} is the manifest of image {manifest.Name}, not {image}", local: true);
        }

        var digest = ImageManifest.DigestOf(bytes);
        var clock = Stopwatch.StartNew();
        long sent = 0;
        foreach (var file in manifest.Files)
        {
            var local = Path.Combine(folder, file.Name);
            if (!File.Exists(local))
            {
                throw new ImagePushException($"{local}: no such file, and the manifest lists it", local: true);
            }

            // The store refuses the upload unless its bytes hash to the manifest's digest.
            var objectName = ImageObjects.Name(manifest.Name, digest, file.Name);
            await using var source = File.OpenRead(local);
            var length = source.Length;
            using var content = new StreamContent(wrap is null ? source : wrap(source, $"push {image} {file.Name}"));
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            content.Headers.ContentLength = length;
            using var response = await http.PutAsync(new Uri(storage, $"/v1/objects/{objectName}?digest=sha256:{file.Sha256}"), content, ct).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
                throw new ImagePushException($"image {image}: storing {file.Name}: {(int)response.StatusCode} {ErrorMessage(body)}", local: false, (int)response.StatusCode);
            }

            sent += length;
        }

        var pushed = await control.PushImageAsync(Encoding.UTF8.GetString(bytes), ct).ConfigureAwait(false);
        return new ImagePushed(pushed, sent, manifest.Files.Count, clock.Elapsed);
    }

    /// <summary>The message of an API error body, else the body as it came.</summary>
    public static string ErrorMessage(string body)
    {
        try
        {
            return JsonSerializer.Deserialize(body, ControlJsonContext.Default.ErrorResponse)?.Message ?? body;
        }
        catch (JsonException)
        {
            return body;
        }
    }
}
