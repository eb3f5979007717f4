using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ZeroCloud.Cluster.Power;

/// <summary>
/// A DMTF Redfish BMC (iDRAC, iLO, XClarity, OpenBMC, sushy-tools): power through the ComputerSystem's
/// <c>#ComputerSystem.Reset</c> action, the next boot through <c>Boot.BootSourceOverrideTarget: Pxe</c> with
/// <c>BootSourceOverrideEnabled: Once</c>. The address is the service root (<c>…/redfish/v1</c>, which must list
/// exactly one system) or the system's own URL. HTTP basic authentication on every request.
/// </summary>
public sealed class RedfishDriver : IPowerDriver
{
    private readonly Uri _address;
    private readonly HttpClient _http;
    private Uri? _system;

    public RedfishDriver(Uri address, string user, string password, bool insecureTls, HttpMessageHandler? handler = null)
    {
        _address = address;
        // insecureTls is the operator's explicit choice in the spec (bmc.insecureTls), for BMCs with their factory certificate.
#pragma warning disable CA5359
        handler ??= new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(5),
            SslOptions = insecureTls ? new System.Net.Security.SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, _, _, _) => true } : new(),
        };
#pragma warning restore CA5359
        _http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(15) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
        _http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
    }

    public async Task<PowerState> StatusAsync(CancellationToken ct)
    {
        var (system, _) = await GetAsync(await SystemAsync(ct).ConfigureAwait(false), ct).ConfigureAwait(false);
        var state = system["PowerState"]?.GetValue<string>();
        return state switch
        {
            "On" => PowerState.On,
            "Off" => PowerState.Off,
            "PoweringOn" or "PoweringOff" or "Paused" => PowerState.Changing,
            _ => throw new BmcException($"{_system} reports PowerState {(state is null ? "(none)" : $"\"{state}\"")}, not On or Off"),
        };
    }

    public Task PowerOnAsync(CancellationToken ct) => ResetAsync(["On"], ct);

    public Task PowerOffAsync(CancellationToken ct) => ResetAsync(["ForceOff"], ct);

    public Task ResetAsync(CancellationToken ct) => ResetAsync(["ForceRestart", "PowerCycle"], ct);

    public async Task PxeOnceAsync(CancellationToken ct)
    {
        var system = await SystemAsync(ct).ConfigureAwait(false);
        var (_, etag) = await GetAsync(system, ct).ConfigureAwait(false);
        var body = new JsonObject { ["Boot"] = new JsonObject { ["BootSourceOverrideTarget"] = "Pxe", ["BootSourceOverrideEnabled"] = "Once" } };
        using var request = new HttpRequestMessage(HttpMethod.Patch, system) { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        if (etag is not null)
        {
            // BMCs that version their resources (iLO among them) refuse a PATCH without the ETag it was read at.
            request.Headers.IfMatch.Add(etag);
        }

        (await SendAsync(request, "set the next boot to PXE", ct).ConfigureAwait(false)).Dispose();
        var (after, _) = await GetAsync(system, ct).ConfigureAwait(false);
        if (after["Boot"]?["BootSourceOverrideTarget"]?.GetValue<string>() != "Pxe")
        {
            throw new BmcException($"{system} did not keep the PXE boot override (Boot.BootSourceOverrideTarget is {after["Boot"]?["BootSourceOverrideTarget"]?.ToJsonString() ?? "absent"})");
        }
    }

    public void Dispose() => _http.Dispose();

    private async Task ResetAsync(string[] preferred, CancellationToken ct)
    {
        var system = await SystemAsync(ct).ConfigureAwait(false);
        var (body, _) = await GetAsync(system, ct).ConfigureAwait(false);
        var action = body["Actions"]?["#ComputerSystem.Reset"];
        var target = action?["target"]?.GetValue<string>() is { } t ? new Uri(system, t) : new Uri(system.AbsoluteUri.TrimEnd('/') + "/Actions/ComputerSystem.Reset");
        var allowed = action?["ResetType@Redfish.AllowableValues"]?.AsArray().Select(v => v?.GetValue<string>()).OfType<string>().ToList();
        var type = allowed is null ? preferred[0] : preferred.FirstOrDefault(allowed.Contains)
            ?? throw new BmcException($"{system} does not offer {string.Join(" or ", preferred)} (it allows {string.Join(", ", allowed)})", transient: false);
        using var request = new HttpRequestMessage(HttpMethod.Post, target) { Content = new StringContent(new JsonObject { ["ResetType"] = type }.ToJsonString(), Encoding.UTF8, "application/json") };
        (await SendAsync(request, $"ComputerSystem.Reset {type}", ct).ConfigureAwait(false)).Dispose();
    }

    /// <summary>The system's URL: the address itself, or the only member of the service root's Systems collection.</summary>
    private async Task<Uri> SystemAsync(CancellationToken ct)
    {
        if (_system is not null)
        {
            return _system;
        }

        if (!_address.AbsolutePath.TrimEnd('/').EndsWith("/redfish/v1", StringComparison.OrdinalIgnoreCase))
        {
            return _system = _address;
        }

        var (root, _) = await GetAsync(_address, ct).ConfigureAwait(false);
        var systemsPath = root["Systems"]?["@odata.id"]?.GetValue<string>()
            ?? throw new BmcException($"{_address} is a Redfish service root without Systems; give the system's URL as redfish:", transient: false);
        var (systems, _) = await GetAsync(new Uri(_address, systemsPath), ct).ConfigureAwait(false);
        var members = systems["Members"]?.AsArray().Select(m => m?["@odata.id"]?.GetValue<string>()).OfType<string>().ToList() ?? [];
        if (members.Count != 1)
        {
            throw new BmcException($"{_address} lists {members.Count} systems ({string.Join(", ", members)}); give the one to switch as redfish: <its URL>", transient: false);
        }

        return _system = new Uri(_address, members[0]);
    }

    private async Task<(JsonNode Body, EntityTagHeaderValue? ETag)> GetAsync(Uri url, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        using var response = await SendAsync(request, "read", ct).ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        try
        {
            return (JsonNode.Parse(text) ?? throw new JsonException("null"), response.Headers.ETag);
        }
        catch (JsonException ex)
        {
            throw new BmcException($"GET {url} did not answer JSON ({ex.Message})");
        }
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, string what, CancellationToken ct)
    {
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw new BmcException($"{what}: cannot reach the BMC at {request.RequestUri} ({ex.Message})");
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new BmcException($"{what}: the BMC at {request.RequestUri} did not answer within {_http.Timeout.TotalSeconds:0}s");
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            var message = await ErrorMessageAsync(response, ct).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            // 401/403: credentials; 404/405/400: the BMC does not have it. A 409 or 412 (state or ETag changed) and 5xx are retried.
            var transient = status >= 500 || response.StatusCode is HttpStatusCode.RequestTimeout or HttpStatusCode.Conflict or HttpStatusCode.PreconditionFailed or HttpStatusCode.TooManyRequests;
            var hint = status is 401 or 403 ? " (the BMC refused the credentials)" : "";
            throw new BmcException($"{what}: {request.Method} {request.RequestUri} answered {status} {response.ReasonPhrase}{(message is null ? "" : $": {message}")}{hint}", transient);
        }
    }

    /// <summary>A Redfish error body's first message (<c>error.@Message.ExtendedInfo[0].Message</c>, else <c>error.message</c>).</summary>
    private static async Task<string?> ErrorMessageAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false));
            var error = body?["error"];
            return error?["@Message.ExtendedInfo"]?.AsArray().FirstOrDefault()?["Message"]?.GetValue<string>() ?? error?["message"]?.GetValue<string>();
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return null;
        }
    }
}
