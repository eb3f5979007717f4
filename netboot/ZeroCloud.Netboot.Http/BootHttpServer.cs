using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Config;
using ZeroCloud.Model.Net;
using ZeroCloud.Netboot.Tftp;

namespace ZeroCloud.Netboot.Http;

public sealed record BootHttpOptions
{
    public required ClusterConfig Cluster { get; init; }

    /// <summary>Where Kestrel listens.</summary>
    public IPAddress Address { get; init; } = IPAddress.Any;

    public int Port { get; init; } = 8080;

    /// <summary>How machines reach this server, such as http://10.77.0.2:8080 (no trailing slash).</summary>
    public required string PublicBase { get; init; }

    /// <summary>Control-plane endpoints put on the node's kernel command line (zc.join).</summary>
    public IReadOnlyList<string> JoinEndpoints { get; init; } = [];

    /// <summary>Control-plane member APIs put on the kernel command line (zc.control): the node agent heartbeats there.</summary>
    public IReadOnlyList<string> ControlEndpoints { get; init; } = [];

    /// <summary>The SHA-256 of the cluster's root, put on the kernel command line (zc.ca=): the agent refuses a control plane whose certificate does not chain to it.</summary>
    public string? CaFingerprint { get; init; }

    /// <summary>The join token put on the kernel command line (zc.token) when there is no <see cref="Tickets"/> issuer.</summary>
    public string? JoinToken { get; init; }

    /// <summary>
    /// Makes a single-use enrollment ticket for a MAC (the control plane's <c>POST /v1/tickets</c>); the script then
    /// carries <c>zc.ticket=</c> and never the reusable join token.
    /// </summary>
    public Func<MacAddress, CancellationToken, Task<string>>? Tickets { get; init; }

    /// <summary>Path of the node image under the root: {NodeImage}/vmlinuz and {NodeImage}/initrd.img.</summary>
    public string NodeImage { get; init; } = "images/node";

    /// <summary>Seconds an unknown machine waits before it asks again.</summary>
    public int UnknownRetrySeconds { get; init; } = 60;
}

/// <summary>
/// The HTTP half of netboot: per-machine iPXE scripts, and files (kernels, initrds, images, boot binaries) from the
/// read-only root by path or by sha256. Kestrel, slim builder, no reflection: publishes with NativeAOT.
/// </summary>
public sealed partial class BootHttpServer : IAsyncDisposable
{
    private readonly BootHttpOptions _options;
    private readonly TftpRoot _root;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly Dictionary<string, string> _byDigest = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, NodeRecord> _nodes = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<MacAddress, (byte[] Hash, DateTimeOffset Expires)> _issued = new();
    private readonly BootHttpMetrics _metrics = new();
    private WebApplication? _app;

    /// <summary>The server's meter (<c>ZeroCloud.Netboot.Http</c>) and its totals.</summary>
    public BootHttpMetrics Metrics => _metrics;

    public BootHttpServer(BootHttpOptions options, TftpRoot root, ILoggerFactory loggerFactory)
    {
        _options = options;
        _root = root;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<BootHttpServer>();
    }

    public Uri? ListeningOn { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        IndexDigests();
        // Empty, not slim: the slim builder watches the content root (the working directory, recursively) for
        // appsettings.json changes, and every file written below it (a member's WAL) wakes a FileSystemWatcher.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore();
        builder.Services.AddRoutingCore();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(_loggerFactory);
        builder.WebHost.ConfigureKestrel(k => k.Listen(_options.Address, _options.Port));
        var app = builder.Build();
        app.Use(LogRequests);
        app.MapPost("/v1/nodes/hello", NodeHelloAsync);
        app.MapGet("/v1/nodes", ListNodesAsync);
        app.MapMethods("/boot/{file}", ["GET", "HEAD"], Script);
        app.MapMethods("/sha256/{digest}", ["GET", "HEAD"], ByDigest);
        app.MapMethods("/{**path}", ["GET", "HEAD"], ByPath);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        _app = app;
        ListeningOn = new Uri(app.Urls.First());
        LogStarted(_logger, ListeningOn, _root.Path, _byDigest.Count);
    }

    /// <summary>sha256 of every file under the root, so that images can be fetched by digest.</summary>
    private void IndexDigests()
    {
        foreach (var file in Directory.EnumerateFiles(_root.Path, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true }))
        {
            var relative = Path.GetRelativePath(_root.Path, file);
            if (!_root.TryResolve(relative, out var path, out _, out _))
            {
                continue;
            }

            using var stream = File.OpenRead(path);
            _byDigest[Convert.ToHexStringLower(SHA256.HashData(stream))] = path;
        }
    }

    private async Task LogRequests(HttpContext context, RequestDelegate next)
    {
        var started = Stopwatch.GetTimestamp();
        await next(context).ConfigureAwait(false);
        var bytes = context.Response.ContentLength ?? 0;
        if (HttpMethods.IsHead(context.Request.Method) || context.Response.StatusCode == StatusCodes.Status304NotModified)
        {
            bytes = 0;
        }

        _metrics.OnRequest(context.Request.Path.Value ?? "", context.Response.StatusCode, bytes);
        LogRequest(_logger, context.Connection.RemoteIpAddress, context.Request.Method, context.Request.Path, context.Request.Headers.Range.ToString(), context.Response.StatusCode, bytes, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    private async Task Script(HttpContext context)
    {
        var file = (string)context.Request.RouteValues["file"]!;
        if (!file.EndsWith(".ipxe", StringComparison.Ordinal))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        if (!MacAddress.TryParse(file.AsSpan()[..^5], out var mac))
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync($"\"{file[..^5]}\" is not a MAC address: ask for /boot/<mac>.ipxe, such as /boot/52:54:00:00:00:01.ipxe\n").ConfigureAwait(false);
            return;
        }

        string script;
        if (_options.Tickets is { } tickets && Admitted(mac) && !HttpMethods.IsHead(context.Request.Method))
        {
            try
            {
                var ticket = await tickets(mac, context.RequestAborted).ConfigureAwait(false);
                _issued[mac] = (SHA256.HashData(Encoding.UTF8.GetBytes(ticket.StartsWith("ticket:", StringComparison.Ordinal) ? ticket : "ticket:" + ticket)), DateTimeOffset.UtcNow + TimeSpan.FromMinutes(10));
                script = IpxeScript(mac, ticket);
            }
#pragma warning disable CA1031 // whatever failed, the machine is told to ask again instead of booting without a credential
            catch (Exception ex) when (!context.RequestAborted.IsCancellationRequested)
#pragma warning restore CA1031
            {
                LogNoTicket(_logger, mac, ex.Message);
                script = RetryScript(mac, $"no enrollment ticket from the control plane ({ex.Message})", 5);
            }
        }
        else
        {
            script = IpxeScript(mac);
        }

        context.Response.ContentType = "text/plain; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        var bytes = Encoding.UTF8.GetBytes(script);
        context.Response.ContentLength = bytes.Length;
        if (!HttpMethods.IsHead(context.Request.Method))
        {
            await context.Response.Body.WriteAsync(bytes).ConfigureAwait(false);
        }
    }

    private bool Admitted(MacAddress mac) =>
        _options.Cluster.Spec.Nodes.Enroll != EnrollMode.Known || _options.Cluster.Spec.Nodes.Known.Any(k => k.Mac == mac);

    private string RetryScript(MacAddress mac, string why, int seconds)
    {
        var script = new StringBuilder("#!ipxe\n");
        script.Append(CultureInfo($"echo ZeroCloud: {why}; asking again in {seconds} s.\n"));
        script.Append(CultureInfo($"sleep {seconds}\n"));
        script.Append(CultureInfo($"chain --autofree {_options.PublicBase}/boot/{mac}.ipxe\n"));
        return script.ToString();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "boot script for {Mac}: no enrollment ticket ({Problem}); the machine asks again")]
    private static partial void LogNoTicket(ILogger logger, MacAddress mac, string problem);

    /// <summary>The script iPXE runs for <paramref name="mac"/>: the node kernel and initrd, or for a machine the cluster does not admit, a message and a later retry.</summary>
    public string IpxeScript(MacAddress mac, string? ticket = null)
    {
        var spec = _options.Cluster.Spec;
        var known = spec.Nodes.Known.FirstOrDefault(k => k.Mac == mac);
        var b = _options.PublicBase;
        var script = new StringBuilder("#!ipxe\n");
        if (known is null && spec.Nodes.Enroll == EnrollMode.Known)
        {
            script.Append(CultureInfo($"echo ZeroCloud: this machine ({mac}) is not listed under spec.nodes.known of cluster {_options.Cluster.Metadata.Name}, and enroll is 'known'.\n"));
            script.Append("echo ZeroCloud: add its MAC to cluster.yaml and apply it; asking again in ").Append(_options.UnknownRetrySeconds).Append(" s.\n");
            script.Append("sleep ").Append(_options.UnknownRetrySeconds).Append('\n');
            script.Append(CultureInfo($"chain --autofree {b}/boot/{mac}.ipxe\n"));
            return script.ToString();
        }

        var name = known?.Name ?? $"node-{mac.ToCompactString()}";
        var cmdline = new StringBuilder(CultureInfo($"initrd=initrd.img console=tty0 console=ttyS0,115200 zc.cluster={_options.Cluster.Metadata.Name} zc.name={name} zc.mac={mac}"));
        if (_options.JoinEndpoints.Count > 0)
        {
            cmdline.Append(" zc.join=").Append(string.Join(',', _options.JoinEndpoints));
        }

        if (_options.ControlEndpoints.Count > 0)
        {
            cmdline.Append(" zc.control=").Append(string.Join(',', _options.ControlEndpoints));
        }

        if (_options.CaFingerprint is { } ca)
        {
            cmdline.Append(" zc.ca=").Append(ca);
        }

        if (ticket is not null)
        {
            // Single use, bound to this MAC, 10 minutes: the reusable join token never goes on a command line here.
            cmdline.Append(" zc.ticket=").Append(ticket.StartsWith("ticket:", StringComparison.Ordinal) ? ticket["ticket:".Length..] : ticket);
        }
        else if (_options.Tickets is null && _options.JoinToken is { } token)
        {
            cmdline.Append(" zc.token=").Append(token);
        }

        script.Append(CultureInfo($"echo ZeroCloud: booting {name} ({mac}) from {b}\n"));
        script.Append(CultureInfo($"kernel {b}/{_options.NodeImage}/vmlinuz {cmdline}\n"));
        script.Append(CultureInfo($"initrd {b}/{_options.NodeImage}/initrd.img\n"));
        script.Append("boot || goto failed\n:failed\necho ZeroCloud: boot failed; trying again in 10 s\nsleep 10\n");
        script.Append(CultureInfo($"chain --autofree {b}/boot/{mac}.ipxe\n"));
        return script.ToString();
    }

    private static string CultureInfo(FormattableString text) => FormattableString.Invariant(text);

    /// <summary>
    /// POST /v1/nodes/hello: a booted machine reports its inventory. Until the control plane exists this server keeps
    /// the list (in memory); the token and enrollment rules of cluster.yaml already apply.
    /// </summary>
    private async Task NodeHelloAsync(HttpContext context)
    {
        NodeHello? hello;
        try
        {
            hello = await context.Request.ReadFromJsonAsync(ApiJsonContext.Default.NodeHello, context.RequestAborted).ConfigureAwait(false);
        }
        catch (System.Text.Json.JsonException ex)
        {
            await Error(context, StatusCodes.Status400BadRequest, "bad-json", $"the body is not a node hello: {ex.Message}").ConfigureAwait(false);
            return;
        }

        if (hello is null || !MacAddress.TryParse(hello.Mac, out var mac))
        {
            await Error(context, StatusCodes.Status400BadRequest, "bad-mac", $"\"{hello?.Mac}\" is not a MAC address").ConfigureAwait(false);
            return;
        }

        // A machine this server booted proves itself with the ticket it was given (checked here by its hash, not used
        // up: only the control plane's join uses it); anything else needs the join token.
        var ticketed = hello.Token is { } t && t.StartsWith("ticket:", StringComparison.Ordinal)
            && _issued.TryGetValue(mac, out var issued) && issued.Expires > DateTimeOffset.UtcNow
            && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(t)), issued.Hash);
        if (!ticketed && _options.JoinToken is { } token && !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(hello.Token ?? ""), Encoding.UTF8.GetBytes(token)))
        {
            LogHelloRefused(_logger, mac, context.Connection.RemoteIpAddress, "wrong or missing join token");
            await Error(context, StatusCodes.Status403Forbidden, "bad-token", "wrong or missing join token: boot the machine from this cluster's netboot, or pass --token").ConfigureAwait(false);
            return;
        }

        var spec = _options.Cluster.Spec;
        if (spec.Nodes.Enroll == EnrollMode.Known && spec.Nodes.Known.All(k => k.Mac != mac))
        {
            LogHelloRefused(_logger, mac, context.Connection.RemoteIpAddress, "not under spec.nodes.known");
            await Error(context, StatusCodes.Status403Forbidden, "not-enrolled", $"{mac} is not listed under spec.nodes.known and enroll is 'known'").ConfigureAwait(false);
            return;
        }

        var record = new NodeRecord(hello with { Token = null }, context.Connection.RemoteIpAddress?.ToString() ?? "", DateTimeOffset.UtcNow);
        _nodes[mac.ToString()] = record;
        LogHello(_logger, hello.Name, mac, context.Connection.RemoteIpAddress, hello.Inventory.Cpus, hello.Inventory.MemoryBytes >> 20);
        await Json(context, StatusCodes.Status200OK, JsonSerializer.SerializeToUtf8Bytes(record, ApiJsonContext.Default.NodeRecord)).ConfigureAwait(false);
    }

    /// <summary>GET /v1/nodes: the machines that said hello, with their inventories; with a join token configured, only for a caller that sends it.</summary>
    private Task ListNodesAsync(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        if (_options.JoinToken is null && _options.ControlEndpoints.Count > 0)
        {
            // Serving a cluster with the node's certificate: the inventories are the control plane's (zc get nodes).
            return Error(context, StatusCodes.Status401Unauthorized, "bad-token", "the machines' inventories are in the control plane: zc get nodes");
        }

        if (_options.JoinToken is { } token && !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header), Encoding.UTF8.GetBytes("Bearer " + token)))
        {
            return Error(context, StatusCodes.Status401Unauthorized, "bad-token", "the machines' inventories are for the cluster's operators: send \"Authorization: Bearer <join token>\"");
        }

        return Json(context, StatusCodes.Status200OK, JsonSerializer.SerializeToUtf8Bytes(_nodes.Values.OrderBy(n => n.Hello.Mac, StringComparer.Ordinal).ToList(), ApiJsonContext.Default.ListNodeRecord));
    }

    private static Task Error(HttpContext context, int status, string code, string message) =>
        Json(context, status, JsonSerializer.SerializeToUtf8Bytes(new ApiError(code, message), ApiJsonContext.Default.ApiError));

    /// <summary>JSON with its Content-Length, so that clients and the request log see the size.</summary>
    private static Task Json(HttpContext context, int status, byte[] body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        context.Response.ContentLength = body.Length;
        return context.Response.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }

    private Task ByDigest(HttpContext context)
    {
        var digest = ((string)context.Request.RouteValues["digest"]!).ToLowerInvariant();
        if (digest.Length != 64 || !digest.All(Uri.IsHexDigit))
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return Task.CompletedTask;
        }

        if (!_byDigest.TryGetValue(digest, out var path) || !File.Exists(path))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }

        return FileResponder.SendAsync(context, path, $"\"sha256:{digest}\"");
    }

    private Task ByPath(HttpContext context)
    {
        var relative = Uri.UnescapeDataString(context.Request.Path.Value ?? "/").TrimStart('/');
        if (!_root.TryResolve(relative, out var path, out var code, out var reason))
        {
            context.Response.StatusCode = code == Tftp.TftpErrorCode.FileNotFound ? StatusCodes.Status404NotFound : StatusCodes.Status403Forbidden;
            if (code != Tftp.TftpErrorCode.FileNotFound)
            {
                LogRefused(_logger, context.Connection.RemoteIpAddress, relative, reason);
            }

            return Task.CompletedTask;
        }

        return FileResponder.SendAsync(context, path);
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync().ConfigureAwait(false);
            await _app.DisposeAsync().ConfigureAwait(false);
        }

        _metrics.Dispose();
    }

    [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "http: serving {Root} on {Url} ({Digests} files indexed by sha256)")]
    private static partial void LogStarted(ILogger logger, Uri url, string root, int digests);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Information, Message = "http: {Client} {Method} {Path} {Range} -> {Status} {Bytes} bytes in {Milliseconds:0.0} ms")]
    private static partial void LogRequest(ILogger logger, IPAddress? client, string method, PathString path, string range, int status, long bytes, double milliseconds);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Information, Message = "nodes: hello from {Name} ({Mac}) at {Client}: {Cpus} CPUs, {MemoryMiB} MiB")]
    private static partial void LogHello(ILogger logger, string name, MacAddress mac, IPAddress? client, int cpus, long memoryMiB);

    [LoggerMessage(EventId = 3105, Level = LogLevel.Warning, Message = "nodes: refused hello from {Mac} at {Client}: {Reason}")]
    private static partial void LogHelloRefused(ILogger logger, MacAddress mac, IPAddress? client, string reason);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Warning, Message = "http: {Client} asked for \"{Path}\": refused, {Reason}")]
    private static partial void LogRefused(ILogger logger, IPAddress? client, string path, string reason);
}
