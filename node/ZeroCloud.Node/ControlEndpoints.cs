using ZeroCloud.Model.Api;

namespace ZeroCloud.Node;

/// <summary>
/// The control-plane members an agent talks to: one at a time, the next when it fails. The list starts with the
/// command line's and follows the membership (<c>GET /v1/members</c>, every 10 s), so an agent keeps reaching the
/// control plane after the members it was started with are gone.
/// </summary>
internal sealed class ControlEndpoints(IReadOnlyList<string> initial, string? token, TimeSpan timeout, ZeroCloud.Model.Pki.ClusterTrust? trust = null, ZeroCloud.Model.Pki.NodeCertificate? certificate = null) : IDisposable
{
    /// <summary>The node's client certificate: once it has one, requests go with it and without a bearer credential.</summary>
    public ZeroCloud.Model.Pki.NodeCertificate? Certificate => certificate;

    /// <summary>
    /// A new certificate arrived: new connections (a new HTTP client, since pooled connections keep the certificate
    /// they were made with, or none) and clients that no longer send the bearer credential.
    /// </summary>
    public void CertificateChanged()
    {
        lock (_lock)
        {
            // The old client may still carry a request; it is disposed with this object.
            _retired.Add(Http);
            _http = NewHttp();
            _clients.Clear();
        }
    }

    private readonly List<HttpClient> _retired = [];

    private HttpClient NewHttp() => trust?.Client(timeout, certificate is null ? null : () => certificate!.Current) ?? new HttpClient { Timeout = timeout };

    private string? _credential = token;

    /// <summary>The credential requests carry: the join token or ticket it started with, then the node's own key.</summary>
    public string? Credential
    {
        get
        {
            lock (_lock)
            {
                return _credential;
            }
        }

        set
        {
            lock (_lock)
            {
                _credential = value;
                _clients.Clear();
            }
        }
    }

    private readonly Lock _lock = new();
    private readonly Dictionary<string, ControlClient> _clients = new(StringComparer.Ordinal);
    private HttpClient? _http;

    private HttpClient Http => _http ??= NewHttp();

    /// <summary>The cluster's root the members' certificates are checked against; null over plain HTTP.</summary>
    public ZeroCloud.Model.Pki.ClusterTrust? Trust => trust;
    private List<string> _urls = [.. initial];
    private int _current;

    public IReadOnlyList<string> All
    {
        get
        {
            lock (_lock)
            {
                return [.. _urls];
            }
        }
    }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _urls.Count;
            }
        }
    }

    public ControlClient Current
    {
        get
        {
            lock (_lock)
            {
                var url = _urls[_current % _urls.Count];
                if (!_clients.TryGetValue(url, out var client))
                {
                    client = new ControlClient(new Uri(url), Http) { Token = certificate?.Current is null ? _credential : null };
                    _clients[url] = client;
                }

                return client;
            }
        }
    }

    private HttpClient? _joinHttp;

    /// <summary>
    /// A client for the joining beat at the current member: the join spends a single-use ticket, so it waits up to a
    /// minute for the answer instead of the heartbeat's timeout (a member that took the ticket and answered late would
    /// refuse the retry: the ticket is used).
    /// </summary>
    public ControlClient ForJoin()
    {
        lock (_lock)
        {
            _joinHttp ??= trust?.Client(TimeSpan.FromMinutes(1)) ?? new HttpClient { Timeout = TimeSpan.FromMinutes(1) };
            return new ControlClient(new Uri(_urls[_current % _urls.Count]), _joinHttp) { Token = _credential };
        }
    }

    /// <summary>The current member did not answer: use the next.</summary>
    public void Failed(ControlClient client)
    {
        lock (_lock)
        {
            // By address: the joining beat's client is not among the cached ones.
            if (new Uri(_urls[_current % _urls.Count]) == client.Server)
            {
                _current = (_current + 1) % _urls.Count;
            }
        }
    }

    /// <summary>Takes the API addresses of the available members (keeping the current one first if it is still one).</summary>
    public void Update(IEnumerable<string> apis)
    {
        var fresh = apis.Where(a => Uri.TryCreate(a, UriKind.Absolute, out _)).Distinct(StringComparer.Ordinal).ToList();
        if (fresh.Count == 0)
        {
            return;
        }

        lock (_lock)
        {
            var current = _urls[_current % _urls.Count];
            fresh.Sort(StringComparer.Ordinal);
            var at = fresh.IndexOf(current);
            _urls = fresh;
            _current = at >= 0 ? at : 0;
        }
    }

    public void Dispose()
    {
        _http?.Dispose();
        _joinHttp?.Dispose();
        foreach (var old in _retired)
        {
            old.Dispose();
        }
    }
}
