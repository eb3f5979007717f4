using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;

// Open-loop heartbeat load: N simulated nodes, each beating once a second, spread evenly over the second, node i
// always through member i % members. Latency is measured from when a beat was due (not when it was sent), so a
// server that falls behind shows it. Prints one line of key=value figures for the steady window.
// heartbeat-load --urls https://a,https://b --nodes 10000 --warmup 15 --seconds 60 [--mode zc|etcd] [--connections 64] [--token id.secret] [--ca-file root.crt]
//   [--auth cert|key] [--client-cert F --client-key K]
// zc mode, --auth cert (the default, what the agent does): each node joins with the join token and a CSR, then beats
// over its own mutual-TLS connection with its own certificate and no bearer header. --auth key: shared connections and
// the node's bearer key (the agent before node certificates). etcd mode: shared connections, as a Kubernetes API
// server multiplexes its kubelets' writes over a few connections to etcd, with --client-cert/--client-key when etcd
// asks for client certificates.
var urls = new List<string>();
ZeroCloud.Model.Pki.ClusterTrust? trust = null;
int nodes = 10000, warmup = 15, seconds = 60, connections = 64;
var mode = "zc";
var auth = "cert";
string? token = null, clientCert = null, clientKey = null, caFile = null;
for (var i = 0; i < args.Length - 1; i += 2)
{
    switch (args[i])
    {
        case "--urls": urls.AddRange(args[i + 1].Split(',', StringSplitOptions.RemoveEmptyEntries)); break;
        case "--ca-file": caFile = args[i + 1]; trust = ZeroCloud.Model.Pki.ClusterTrust.FromFile(args[i + 1]); break;
        case "--auth": auth = args[i + 1]; break;
        case "--client-cert": clientCert = args[i + 1]; break;
        case "--client-key": clientKey = args[i + 1]; break;
        case "--nodes": nodes = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--warmup": warmup = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--seconds": seconds = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--connections": connections = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--mode": mode = args[i + 1]; break;
        case "--token": token = args[i + 1]; break;
        default: Console.Error.WriteLine($"unknown argument {args[i]}"); return 2;
    }
}

if (urls.Count == 0 || mode is not ("zc" or "etcd") || auth is not ("cert" or "key"))
{
    Console.Error.WriteLine("usage: heartbeat-load --urls url[,url...] [--nodes N] [--warmup s] [--seconds s] [--mode zc|etcd] [--connections C]");
    return 2;
}

// etcd's own CA (not the cluster's): its server certificate is checked against it, and its client certificate sent.
using var etcdClientCertificate = clientCert is null || clientKey is null ? null : System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(clientCert, clientKey);
System.Net.Security.SslClientAuthenticationOptions Tls(System.Security.Cryptography.X509Certificates.X509Certificate2? certificate) => mode == "etcd"
    ? new System.Net.Security.SslClientAuthenticationOptions
    {
        RemoteCertificateValidationCallback = caFile is null ? null : (_, c, _, e) => c is not null && EtcdTrusted(c),
        ClientCertificates = etcdClientCertificate is null ? null : [etcdClientCertificate],
    }
    : trust is null ? new System.Net.Security.SslClientAuthenticationOptions() : new System.Net.Security.SslClientAuthenticationOptions
    {
        RemoteCertificateValidationCallback = trust.Validate,
        EnabledSslProtocols = ZeroCloud.Model.Pki.ClusterTrust.Protocols,
        LocalCertificateSelectionCallback = certificate is null ? null : (_, _, _, _, _) => certificate,
    };

bool EtcdTrusted(System.Security.Cryptography.X509Certificates.X509Certificate presented)
{
    using var chain = new System.Security.Cryptography.X509Certificates.X509Chain();
    chain.ChainPolicy.TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust;
    chain.ChainPolicy.CustomTrustStore.ImportFromPemFile(caFile!);
    chain.ChainPolicy.RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck;
    using var leaf = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(presented.GetRawCertData());
    return chain.Build(leaf);
}

HttpClient NewClient(string url, int perServer, System.Security.Cryptography.X509Certificates.X509Certificate2? certificate) => new(new SocketsHttpHandler
{
    MaxConnectionsPerServer = perServer,
    UseProxy = false,
    PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
    SslOptions = Tls(certificate),
})
{
    BaseAddress = new Uri(url),
    Timeout = TimeSpan.FromSeconds(10),
};

var clients = urls.Select(u => NewClient(u, connections, null)).ToArray();

// --auth cert: each node's own client, with its own certificate, once it joined.
var own = new HttpClient?[nodes];
var certificates = new ZeroCloud.Model.Pki.NodeCertificate?[nodes];
foreach (var c in clients.Where(_ => token is not null))
{
    c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
}

// A node that joins with the join token is given its own key and beats with it from then on, as the agent does.
var keys = new string?[nodes];

// 1 while a node's join (its beat with the join token) is in flight: an agent waits for its key before it beats
// again, so the generator skips that node's beats meanwhile (counted, not failed) instead of joining it twice.
var joining = new int[nodes];
long skipped = 0;
var paths = new string[nodes];
var bodies = new byte[nodes][];
for (var n = 0; n < nodes; n++)
{
    var name = $"sim-{n:D5}";
    if (mode == "zc")
    {
        paths[n] = $"/v1/nodes/{name}/heartbeat";
        bodies[n] = Encoding.UTF8.GetBytes("{\"cpus\":4,\"memoryBytes\":8589934592,\"runtimes\":[\"process\"]}");
    }
    else
    {
        // What a Kubernetes kubelet does through the API server: renew the node's Lease object, a write per beat.
        paths[n] = "/v3/kv/put";
        var key = Convert.ToBase64String(Encoding.UTF8.GetBytes($"/leases/{name}"));
        var value = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{{\"holder\":\"{name}\",\"renew\":\"2026-11-27T00:00:00Z\",\"duration\":40}}"));
        bodies[n] = Encoding.UTF8.GetBytes($"{{\"key\":\"{key}\",\"value\":\"{value}\"}}");
    }
}

var total = warmup + seconds;
var latencies = new double[(long)nodes * seconds];
var measured = 0L;
long ok = 0, failed = 0, late = 0;
var inflight = new List<Task>();
var clock = Stopwatch.StartNew();
long sent = 0;
var totalBeats = (long)nodes * total;
var json = new MediaTypeHeaderValue("application/json");
var errors = new System.Collections.Concurrent.ConcurrentDictionary<string, long>();

async Task BeatAsync(long index, double dueMs)
{
    var node = (int)(index % nodes);
    var client = own[node] ?? clients[node % clients.Length];
    var joins = mode == "zc" && keys[node] is null;
    if (joins && Interlocked.CompareExchange(ref joining[node], 1, 0) != 0)
    {
        Interlocked.Increment(ref skipped);
        return;
    }

    var body = bodies[node];
    if (joins && auth == "cert")
    {
        certificates[node] ??= new ZeroCloud.Model.Pki.NodeCertificate($"sim-{node:D5}", TimeProvider.System);
        var csr = System.Text.Json.JsonSerializer.Serialize(certificates[node]!.Request());
        body = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(body).TrimEnd('}') + ",\"csr\":" + csr + "}");
    }

    using var content = new ByteArrayContent(body);
    content.Headers.ContentType = json;
    try
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, paths[node]) { Content = content };
        if (keys[node] is { } key && own[node] is null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        using var response = await client.SendAsync(request).ConfigureAwait(false);
        var ms = clock.Elapsed.TotalMilliseconds - dueMs;
        if (!response.IsSuccessStatusCode)
        {
            Interlocked.Increment(ref failed);
            errors.AddOrUpdate(((int)response.StatusCode).ToString(CultureInfo.InvariantCulture) + (dueMs >= warmup * 1000.0 ? "" : "(warm-up)"), 1, (_, c) => c + 1);
            return;
        }

        if (mode == "zc" && keys[node] is null)
        {
            using var answer = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync().ConfigureAwait(false));
            if (answer.RootElement.TryGetProperty("certificate", out var pem) && pem.GetString() is { } chain && certificates[node]!.Accept(chain))
            {
                own[node] = NewClient(urls[node % urls.Count], 1, certificates[node]!.Current);
            }

            if (answer.RootElement.TryGetProperty("key", out var issued))
            {
                keys[node] = issued.GetString();
            }
        }

        Interlocked.Increment(ref ok);
        if (dueMs >= warmup * 1000.0)
        {
            latencies[Interlocked.Increment(ref measured) - 1] = ms;
        }
    }
    catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
    {
        Interlocked.Increment(ref failed);
        errors.AddOrUpdate(ex.GetType().Name + (dueMs >= warmup * 1000.0 ? "" : "(warm-up)"), 1, (_, c) => c + 1);
    }
    finally
    {
        if (joins)
        {
            Volatile.Write(ref joining[node], 0);
        }
    }
}

var tasks = new List<Task>(capacity: 1 << 16);
while (sent < totalBeats)
{
    var now = clock.Elapsed.TotalMilliseconds;
    var due = Math.Min(totalBeats, (long)(now / 1000.0 * nodes));
    if (due - sent > nodes)
    {
        late++;
    }

    for (; sent < due; sent++)
    {
        tasks.Add(BeatAsync(sent, sent * 1000.0 / nodes));
    }

    if (tasks.Count > 50_000)
    {
        tasks.RemoveAll(t => t.IsCompleted);
    }

    await Task.Delay(2).ConfigureAwait(false);
}

await Task.WhenAll(tasks).ConfigureAwait(false);
var steady = latencies.AsSpan(0, (int)Math.Min(measured, latencies.Length)).ToArray();
Array.Sort(steady);
double P(double q) => steady.Length == 0 ? double.NaN : steady[Math.Min(steady.Length - 1, (int)(q * steady.Length))];
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"mode={mode} auth={(mode == "zc" ? auth : etcdClientCertificate is null ? "none" : "cert")} nodes={nodes} seconds={seconds} served_per_s={steady.Length / (double)seconds:0} ok={ok} failed={failed} p50_ms={P(0.50):0.0} p90_ms={P(0.90):0.0} p99_ms={P(0.99):0.0} max_ms={(steady.Length > 0 ? steady[^1] : double.NaN):0.0} generator_behind_ticks={late} skipped_while_joining={skipped} errors={(errors.IsEmpty ? "none" : string.Join(",", errors.Select(e => $"{e.Key}:{e.Value}")))}"));
return 0;
