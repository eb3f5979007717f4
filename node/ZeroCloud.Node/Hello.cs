using System.Net.Http.Json;
using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Node;

/// <summary>POST /v1/nodes/hello to the first join endpoint that answers, retrying with backoff.</summary>
internal static class Hello
{
    public static async Task<string> SendAsync(IReadOnlyList<string> endpoints, NodeHello hello, TimeSpan deadline, ILogger log, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var started = System.Diagnostics.Stopwatch.StartNew();
        var wait = TimeSpan.FromMilliseconds(500);
        while (true)
        {
            foreach (var endpoint in endpoints)
            {
                var url = endpoint.TrimEnd('/') + "/v1/nodes/hello";
                try
                {
                    using var response = await http.PostAsJsonAsync(url, hello, ApiJsonContext.Default.NodeHello, ct).ConfigureAwait(false);
                    if (response.IsSuccessStatusCode)
                    {
                        return url;
                    }

                    var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
                    if ((int)response.StatusCode is 401 or 403)
                    {
                        throw new UnauthorizedAccessException($"{url} refused this node: {body.Trim()}");
                    }

                    log.LogWarning("hello to {Url}: {Status} {Body}", url, (int)response.StatusCode, body.Trim());
                }
                catch (HttpRequestException ex)
                {
                    log.LogWarning("hello to {Url}: {Problem}", url, ex.Message);
                }
                catch (TaskCanceledException) when (!ct.IsCancellationRequested)
                {
                    log.LogWarning("hello to {Url}: timed out", url);
                }
            }

            if (started.Elapsed > deadline)
            {
                throw new TimeoutException($"no join endpoint answered within {deadline.TotalSeconds:0} s ({string.Join(", ", endpoints)})");
            }

            await Task.Delay(wait, ct).ConfigureAwait(false);
            wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
        }
    }
}
