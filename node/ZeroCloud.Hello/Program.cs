using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ZeroCloud.Init;

// zc-hello: the tiny HTTP service of the builtin/hello image, the example user workload.
// GET / answers who served it; GET /healthz is its health check (spec.services[].health).
var port = new Option<int>("--port") { Description = "Port to listen on.", DefaultValueFactory = _ => 8080 };
var iface = new Option<string>("--interface") { Description = "Ignored: accepted so that images pass it to every service." };
var file = new Option<string>("--file", "-f") { Description = "Ignored: accepted so that images pass it to every service." };
var root = new RootCommand("zc-hello — a tiny HTTP service to show user workloads.") { port, iface, file };
root.SetAction(async (parse, cancellationToken) =>
{
    // Empty, not slim: the slim builder watches the content root (the working directory, recursively) for
    // appsettings.json changes, and every file written below it (a member's WAL) wakes a FileSystemWatcher.
    var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
    builder.WebHost.UseKestrelCore();
    builder.Services.AddRoutingCore();
    builder.Logging.ClearProviders();
    builder.WebHost.ConfigureKestrel(k => k.ListenAnyIP(parse.GetValue(port)));
    var app = builder.Build();
    var started = DateTimeOffset.UtcNow;
    app.MapGet("/", () => Results.Text($"hello from {Environment.MachineName} (zc-hello, up since {started:O})\n"));
    app.MapGet("/healthz", () => Results.Text("ok\n"));
    await app.StartAsync(cancellationToken).ConfigureAwait(false);
    Console.WriteLine($"zc-hello: listening on port {parse.GetValue(port)}");
    await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
    return 0;
});
return ServiceProgram.Main("hello", root, args);
