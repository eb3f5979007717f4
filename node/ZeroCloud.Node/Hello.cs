using System.Net.Http.Json;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Node;

/// <summary>POST /v1/nodes/hello to the first join endpoint that answers, retrying with backoff.</summary>
internal static class Hello
{
    public static async Task<string> SendAsync(IReadOnlyList<string> endpoints, NodeHello hello, TimeSpan deadline, Action<string> log)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var started = DateTime.UtcNow;
        var wait = TimeSpan.FromMilliseconds(500);
        while (true)
        {
            foreach (var endpoint in endpoints)
            {
                var url = endpoint.TrimEnd('/') + "/v1/nodes/hello";
                try
                {
                    using var response = await http.PostAsJsonAsync(url, hello, ApiJsonContext.Default.NodeHello).ConfigureAwait(false);
                    if (response.IsSuccessStatusCode)
                    {
                        return url;
                    }

                    var body = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
                    if ((int)response.StatusCode is 401 or 403)
                    {
                        throw new UnauthorizedAccessException($"{url} refused this node: {body.Trim()}");
                    }

                    log($"hello to {url}: {(int)response.StatusCode} {body.Trim()}");
                }
                catch (HttpRequestException ex)
                {
                    log($"hello to {url}: {ex.Message}");
                }
                catch (TaskCanceledException)
                {
                    log($"hello to {url}: timed out");
                }
            }

            if (DateTime.UtcNow - started > deadline)
            {
                throw new TimeoutException($"no join endpoint answered within {deadline.TotalSeconds:0} s ({string.Join(", ", endpoints)})");
            }

            await Task.Delay(wait).ConfigureAwait(false);
            wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
        }
    }
}
