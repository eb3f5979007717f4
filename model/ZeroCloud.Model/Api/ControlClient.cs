using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace ZeroCloud.Model.Api;

/// <summary>A refused or failed API call: the server's code and message, or why no answer came.</summary>
public sealed class ControlApiException(int status, string code, string message, IReadOnlyList<DiagnosticDto>? diagnostics = null) : Exception(message)
{
    public int Status { get; } = status;

    public string Code { get; } = code;

    public IReadOnlyList<DiagnosticDto> Diagnostics { get; } = diagnostics ?? [];
}

/// <summary>The control plane's API from a client: the CLI, agents and tests. Any member will do; followers forward writes.</summary>
public sealed class ControlClient(Uri server, HttpClient? http = null) : IControlStore, IDisposable
{
    /// <summary>The default server: $ZC_SERVER, else a member on this machine.</summary>
    public static string DefaultServer => Environment.GetEnvironmentVariable("ZC_SERVER") is { Length: > 0 } s ? s : "https://127.0.0.1:7070";

    private readonly HttpClient _http = http ?? new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
    private readonly bool _ownsHttp = http is null;

    public Uri Server { get; } = server;

    /// <summary>The join token sent with node calls (heartbeats) as <c>Authorization: Bearer</c>.</summary>
    public string? Token { get; set; }

    /// <summary>The header a member's forwarded request carries, so it is forwarded at most once.</summary>
    public const string ForwardedHeader = "X-ZC-Forwarded-By";

    /// <summary>Set by a control member forwarding its own writes to the leader: sent as <c>X-ZC-Forwarded-By</c>, so the leader never forwards them again.</summary>
    public string? ForwardedBy { get; init; }

    public Task<TokensResponse> TokensAsync(CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, "/v1/tokens", null, ControlJsonContext.Default.TokensResponse, ct);

    public Task<TokenDto> CreateTokenAsync(string? description = null, TimeSpan? ttl = null, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, "/v1/tokens", JsonContent.Create(new CreateTokenRequest(description, ttl?.TotalSeconds), ControlJsonContext.Default.CreateTokenRequest), ControlJsonContext.Default.TokenDto, ct);

    /// <summary>A single-use enrollment ticket for the machine with <paramref name="mac"/> (the join token is required).</summary>
    public Task<TicketResponse> CreateTicketAsync(string mac, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, "/v1/tickets", JsonContent.Create(new CreateTicketRequest(mac), ControlJsonContext.Default.CreateTicketRequest), ControlJsonContext.Default.TicketResponse, ct);

    /// <summary>Approves a node waiting under enroll: approve.</summary>
    public Task<NodeStatusDto> ApproveNodeAsync(string name, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, $"/v1/nodes/{Uri.EscapeDataString(name)}/approve", null, ControlJsonContext.Default.NodeStatusDto, ct);

    /// <summary>The newest <paramref name="limit"/> entries of the audit log, oldest first.</summary>
    public Task<AuditResponse> AuditAsync(int limit = 100, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, $"/v1/audit?limit={limit}", null, ControlJsonContext.Default.AuditResponse, ct);

    public Task<StatusResponse> StatusAsync(CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, "/v1/status", null, ControlJsonContext.Default.StatusResponse, ct);

    public Task<MetricsResponse> MetricsAsync(CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, "/v1/metrics", null, ControlJsonContext.Default.MetricsResponse, ct);

    public Task<MembersResponse> MembersAsync(CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, "/v1/members", null, ControlJsonContext.Default.MembersResponse, ct);

    public Task<MembersResponse> AddMemberAsync(string raftAddress, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, "/v1/members", JsonContent.Create(new AddMemberRequest(raftAddress), ControlJsonContext.Default.AddMemberRequest), ControlJsonContext.Default.MembersResponse, ct);

    public Task<MembersResponse> RemoveMemberAsync(string id, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Delete, $"/v1/members/{Uri.EscapeDataString(id)}", null, ControlJsonContext.Default.MembersResponse, ct);

    public Task<WriteResponse> PutAsync(string key, string value, long? ifModRevision = null, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Put, KvPath(key), JsonContent.Create(new PutRequest(value, ifModRevision), ControlJsonContext.Default.PutRequest), ControlJsonContext.Default.WriteResponse, ct);

    public Task<WriteResponse> DeleteAsync(string key, bool prefix = false, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Delete, KvPath(key) + (prefix ? "?prefix=true" : ""), null, ControlJsonContext.Default.WriteResponse, ct);

    /// <summary>A key's value, or null when there is no such key.</summary>
    public async Task<KvDto?> GetAsync(string key, bool stale = false, CancellationToken ct = default)
    {
        try
        {
            var response = await SendAsync(HttpMethod.Get, KvPath(key) + (stale ? "?stale=true" : ""), null, ControlJsonContext.Default.RangeResponse, ct).ConfigureAwait(false);
            return response.Kvs.Count > 0 ? response.Kvs[0] : null;
        }
        catch (ControlApiException ex) when (ex.Code == ErrorCodes.KeyNotFound)
        {
            return null;
        }
    }

    public Task<RangeResponse> RangeAsync(string prefix, bool stale = false, int limit = 0, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, KvPath(prefix) + $"?prefix=true{(stale ? "&stale=true" : "")}{(limit > 0 ? $"&limit={limit}" : "")}", null, ControlJsonContext.Default.RangeResponse, ct);

    public Task<TxnResponse> TxnAsync(TxnRequest txn, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, "/v1/txn", JsonContent.Create(txn, ControlJsonContext.Default.TxnRequest), ControlJsonContext.Default.TxnResponse, ct);

    public Task<NodeStatusDto> HeartbeatAsync(string node, HeartbeatRequest beat, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, $"/v1/nodes/{Uri.EscapeDataString(node)}/heartbeat", JsonContent.Create(beat, ControlJsonContext.Default.HeartbeatRequest), ControlJsonContext.Default.NodeStatusDto, ct);

    public Task<NodeStatusDto> NodeAsync(string node, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, $"/v1/nodes/{Uri.EscapeDataString(node)}", null, ControlJsonContext.Default.NodeStatusDto, ct);

    public Task<NodesResponse> NodesAsync(CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, "/v1/nodes", null, ControlJsonContext.Default.NodesResponse, ct);

    public Task<InstancesResponse> InstancesAsync(string? node = null, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, "/v1/instances" + (node is null ? "" : $"?node={Uri.EscapeDataString(node)}"), null, ControlJsonContext.Default.InstancesResponse, ct);

    public Task<ServicesResponse> ServicesAsync(CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, "/v1/services", null, ControlJsonContext.Default.ServicesResponse, ct);

    public Task<ApplyResponse> ApplyAsync(byte[] yaml, string fileName, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, $"/v1/apply?file={Uri.EscapeDataString(fileName)}", new ByteArrayContent(yaml), ControlJsonContext.Default.ApplyResponse, ct);

    /// <summary>Streams changes under <paramref name="prefix"/> from <paramref name="fromRevision"/> (0: from now on).</summary>
    public async IAsyncEnumerable<EventDto> WatchAsync(string prefix, long fromRevision, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        using var request = Versioned(new HttpRequestMessage(HttpMethod.Get, new Uri(Server, $"/v1/watch?prefix={Uri.EscapeDataString(prefix)}&from={fromRevision}")));
        Authorize(request);
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw await ErrorAsync(response, ct).ConfigureAwait(false);
        }

        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false));
        while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }

            if (line.Contains("\"code\"", StringComparison.Ordinal) && JsonSerializer.Deserialize(line, ControlJsonContext.Default.ErrorResponse) is { } error)
            {
                throw new ControlApiException(200, error.Code, error.Message);
            }

            yield return JsonSerializer.Deserialize(line, ControlJsonContext.Default.EventDto)!;
        }
    }

    private void Authorize(HttpRequestMessage request)
    {
        if (Token is { } token)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }
    }

    /// <summary>A new operator credential (admin or read-only) valid for <paramref name="ttl"/> (default: an hour); its secret is shown only here.</summary>
    public Task<OperatorResponse> CreateOperatorAsync(string role, TimeSpan? ttl = null, string? description = null, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, "/v1/operators", JsonContent.Create(new CreateOperatorRequest(role, ttl?.TotalSeconds, description), ControlJsonContext.Default.CreateOperatorRequest), ControlJsonContext.Default.OperatorResponse, ct);

    public Task<OperatorsResponse> OperatorsAsync(CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, "/v1/operators", null, ControlJsonContext.Default.OperatorsResponse, ct);

    public Task<WriteResponse> RevokeOperatorAsync(string id, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Delete, $"/v1/operators/{Uri.EscapeDataString(id)}", null, ControlJsonContext.Default.WriteResponse, ct);

    /// <summary>A new certificate for the calling node (which speaks with its current certificate or its key).</summary>
    /// <summary>GET /v1/whoami with <paramref name="credential"/> as the bearer: the role the control plane gives it (401 when it gives none).</summary>
    public async Task<WhoAmIResponse> WhoAmIAsync(string credential, CancellationToken ct = default)
    {
        using var request = Versioned(new HttpRequestMessage(HttpMethod.Get, new Uri(Server, "/v1/whoami")));
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", credential);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw new ControlApiException(0, ErrorCodes.Unreachable, $"cannot reach the control plane at {Server}: {ex.Message}");
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw await ErrorAsync(response, ct).ConfigureAwait(false);
            }

            return await response.Content.ReadFromJsonAsync(ControlJsonContext.Default.WhoAmIResponse, ct).ConfigureAwait(false)
                ?? throw new ControlApiException((int)response.StatusCode, ErrorCodes.Empty, "GET /v1/whoami answered with no body");
        }
    }

    public Task<NodeCertificateResponse> RenewNodeCertificateAsync(string csr, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, "/v1/pki/node", JsonContent.Create(new NodeCertificateRequest(csr), ControlJsonContext.Default.NodeCertificateRequest), ControlJsonContext.Default.NodeCertificateResponse, ct);

    public Task<SecretInfo> SetSecretAsync(string name, byte[] value, IReadOnlyList<string>? readers = null, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Put, $"/v1/secrets/{Uri.EscapeDataString(name)}", JsonContent.Create(new SetSecretRequest(Convert.ToBase64String(value), readers), ControlJsonContext.Default.SetSecretRequest), ControlJsonContext.Default.SecretInfo, ct);

    /// <summary>Records an image whose files are in the store (their objects named by <see cref="ImageObjects.Name"/>); the member signs its manifest.</summary>
    public Task<PushImageResponse> PushImageAsync(string manifest, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, "/v1/images", JsonContent.Create(new PushImageRequest(manifest), ControlJsonContext.Default.PushImageRequest), ControlJsonContext.Default.PushImageResponse, ct);

    public Task<ImagesResponse> ImagesAsync(CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, "/v1/images", null, ControlJsonContext.Default.ImagesResponse, ct);

    /// <summary>An image of the catalogue with its versions; a <see cref="ControlApiException"/> with status 404 when there is none.</summary>
    public Task<ImageDto> ImageAsync(string name, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, $"/v1/images/{Uri.EscapeDataString(name)}", null, ControlJsonContext.Default.ImageDto, ct);

    public Task<SecretsResponse> SecretsAsync(CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, "/v1/secrets", null, ControlJsonContext.Default.SecretsResponse, ct);

    /// <summary>A secret's value: for the admin, and for a node that runs one of the services the secret names as readers.</summary>
    public async Task<byte[]> SecretAsync(string name, CancellationToken ct = default) =>
        Convert.FromBase64String((await SendAsync(HttpMethod.Get, $"/v1/secrets/{Uri.EscapeDataString(name)}", null, ControlJsonContext.Default.SecretValueResponse, ct).ConfigureAwait(false)).Value);

    public Task<WriteResponse> RemoveSecretAsync(string name, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Delete, $"/v1/secrets/{Uri.EscapeDataString(name)}", null, ControlJsonContext.Default.WriteResponse, ct);

    /// <summary>
    /// Runs a power job on <paramref name="node"/>'s BMC (<see cref="PowerActions"/>) through the leader and returns it as
    /// recorded; a job that failed comes back with state <c>failed</c>, not as an exception.
    /// </summary>
    public Task<PowerJobDto> PowerAsync(string node, string action, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, $"/v1/nodes/{Uri.EscapeDataString(node)}/power", JsonContent.Create(new PowerRequest(action), ControlJsonContext.Default.PowerRequest), ControlJsonContext.Default.PowerJobDto, ct);

    /// <summary>The recorded power jobs of <paramref name="node"/>, newest first.</summary>
    public Task<PowerJobsResponse> PowerJobsAsync(string node, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, $"/v1/nodes/{Uri.EscapeDataString(node)}/power/jobs", null, ControlJsonContext.Default.PowerJobsResponse, ct);

    /// <summary>GET /v1/backup: the store as a backup file (at a linearizable read point; <paramref name="stale"/>: this member's own copy).</summary>
    public async Task<byte[]> BackupAsync(bool stale, CancellationToken ct = default)
    {
        using var request = Versioned(new HttpRequestMessage(HttpMethod.Get, new Uri(Server, "/v1/backup" + (stale ? "?stale=true" : ""))));
        Authorize(request);
        using var response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw await ErrorAsync(response, ct).ConfigureAwait(false);
        }

        return await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
    }

    private static string KvPath(string key) =>
        "/v1/kv/" + string.Join('/', key.TrimStart('/').Split('/').Select(Uri.EscapeDataString));

    /// <summary>
    /// How long a call refused with a code that says nothing was done (<see cref="ErrorCodes.IsRefusedNothingDone"/>:
    /// no leader yet, the leadership moving, no quorum confirmed for a read) is sent again, after 0.1, 0.2, 0.4 … 1 s;
    /// zero (the default) answers the first refusal. The CLI and the service images set it, as etcd's client does for
    /// "unavailable"; a member forwarding a write does not (its own caller retries).
    /// </summary>
    public TimeSpan RetryRefusalsFor { get; init; }

    private async Task<T> SendAsync<T>(HttpMethod method, string path, HttpContent? content, JsonTypeInfo<T> type, CancellationToken ct)
    {
        using (content)
        {
            if (RetryRefusalsFor <= TimeSpan.Zero)
            {
                return await SendOnceAsync(method, path, content, type, ct).ConfigureAwait(false);
            }

            if (content is not null)
            {
                // Sent again on a refusal: its bytes are kept, so each try sends the same body.
                await content.LoadIntoBufferAsync(ct).ConfigureAwait(false);
            }

            var deadline = Environment.TickCount64 + (long)RetryRefusalsFor.TotalMilliseconds;
            for (var delay = 100; ; delay = Math.Min(delay * 2, 1000))
            {
                try
                {
                    return await SendOnceAsync(method, path, content, type, ct).ConfigureAwait(false);
                }
                catch (ControlApiException ex) when (ErrorCodes.IsRefusedNothingDone(ex.Code) && Environment.TickCount64 + delay < deadline)
                {
                    await Task.Delay(delay, ct).ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary><paramref name="request"/> with the HTTP version its client asks for (HTTP/2 from <c>ClusterTrust.MultiplexedClient</c>).</summary>
    private T Versioned<T>(T request)
        where T : HttpRequestMessage
    {
        request.Version = _http.DefaultRequestVersion;
        request.VersionPolicy = _http.DefaultVersionPolicy;
        return request;
    }

    private async Task<T> SendOnceAsync<T>(HttpMethod method, string path, HttpContent? content, JsonTypeInfo<T> type, CancellationToken ct)
    {
        // The request does not own the body (disposing it would dispose the body that a retry sends again).
        using var request = Versioned(new RequestWithoutBody(method, new Uri(Server, path)) { Content = content });
        Authorize(request);

        if (ForwardedBy is { } member)
        {
            request.Headers.TryAddWithoutValidation(ForwardedHeader, member);
        }

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException ex) when (ex.HttpRequestError == HttpRequestError.SecureConnectionError)
        {
            // No TLS session, so no request: the credential was not sent either.
            throw new ControlApiException(0, ErrorCodes.Unreachable, $"refused the control plane at {Server}: its TLS certificate is not one of this cluster's (it does not chain to the cluster's root, or does not name the address dialled), or the handshake failed; nothing was sent to it");
        }
        catch (HttpRequestException ex) when (method == HttpMethod.Get || ex.InnerException is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused or System.Net.Sockets.SocketError.HostUnreachable or System.Net.Sockets.SocketError.NetworkUnreachable })
        {
            throw new ControlApiException(0, ErrorCodes.Unreachable, $"cannot reach the control plane at {Server}: {ex.Message}");
        }
        catch (HttpRequestException ex)
        {
            throw new ControlApiException(0, ErrorCodes.OutcomeUnknown, $"the control plane at {Server} was sent {method} {path} and gave no answer ({ex.Message}); it may or may not have been applied");
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new ControlApiException(0, ErrorCodes.Timeout, $"the control plane at {Server} did not answer within {_http.Timeout.TotalSeconds:0}s");
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw await ErrorAsync(response, ct).ConfigureAwait(false);
            }

            return await response.Content.ReadFromJsonAsync(type, ct).ConfigureAwait(false)
                ?? throw new ControlApiException((int)response.StatusCode, ErrorCodes.Empty, $"{method} {path} answered with no body");
        }
    }

    private static async Task<ControlApiException> ErrorAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        try
        {
            if (JsonSerializer.Deserialize(text, ControlJsonContext.Default.ErrorResponse) is { } error)
            {
                return new ControlApiException((int)response.StatusCode, error.Code, error.Message, error.Diagnostics);
            }
        }
        catch (JsonException)
        {
            // not ours: report the raw answer
        }

        return new ControlApiException((int)response.StatusCode, "http_" + (int)response.StatusCode, $"HTTP {(int)response.StatusCode}: {text}");
    }

    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }
}

/// <summary>A request whose disposal leaves its body alone (the body belongs to whoever sends it, maybe again).</summary>
internal sealed class RequestWithoutBody(HttpMethod method, Uri uri) : HttpRequestMessage(method, uri)
{
    protected override void Dispose(bool disposing)
    {
        Content = null;
        base.Dispose(disposing);
    }
}
