using System.CommandLine;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Pki;

namespace ZeroCloud.Storage;

/// <summary>
/// The storage service's command line, shared by <c>zc serve storage</c> and the standalone zc-storage binary: the
/// node's certificate (mutual TLS everywhere: to clients, to peers, to the control plane), the control-plane members,
/// the data folder, the address it serves on.
/// </summary>
public static class StorageCommand
{
    public static Command Configure(Command command)
    {
        var control = new Option<string[]>("--control") { Description = "A control-plane member's API (https://ip:port; repeatable): where the store's records live.", Required = true, AllowMultipleArgumentsPerToken = true };
        var caFile = new Option<string>("--ca-file") { Description = "The cluster's root certificate (PEM).", Required = true, HelpName = "file" };
        var certFile = new Option<string>("--cert-file") { Description = "The node's certificate (PEM, with the issuing CA after it), re-read when it changes: served to clients and presented to peers and the control plane.", Required = true, HelpName = "file" };
        var keyFile = new Option<string>("--key-file") { Description = "The key of --cert-file (PEM, keep it 0600).", Required = true, HelpName = "file" };
        var node = new Option<string>("--node") { Description = "The node this instance runs on (its certificate must name it).", Required = true, HelpName = "name" };
        var data = new Option<string>("--data") { Description = "Where the chunks live (the node's disk).", DefaultValueFactory = _ => "/var/lib/zerocloud/storage", HelpName = "dir" };
        var listen = new Option<string>("--listen") { Description = "Address and port to serve on.", DefaultValueFactory = _ => $"0.0.0.0:{Catalog.DefaultPort}", HelpName = "ip:port" };
        var repairRate = new Option<int>("--repair-rate") { Description = "Most MB/s this node copies for repairs (boots in progress keep the rest).", DefaultValueFactory = _ => 200 };
        var blobGrace = new Option<TimeSpan>("--blob-grace") { Description = "How long a blob no object names is kept after its upload.", DefaultValueFactory = _ => TimeSpan.FromHours(1) };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Debug logging." };
        foreach (var option in new Option[] { control, caFile, certFile, keyFile, node, data, listen, repairRate, blobGrace, verbose })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parse, ct) =>
        {
            var stderr = parse.InvocationConfiguration.Error;
            async Task<int> Usage(string message)
            {
                await stderr.WriteLineAsync($"zc-storage: {message}").ConfigureAwait(false);
                return 2;
            }

            if (ClusterTrust.TryFromFile(parse.GetValue(caFile)!, out var caProblem) is not { } trust)
            {
                return await Usage($"--ca-file {caProblem}").ConfigureAwait(false);
            }

            var files = new CertificateFiles(parse.GetValue(certFile)!, parse.GetValue(keyFile)!);
            if (files.Problem is { } certificateProblem)
            {
                return await Usage($"--cert-file {certificateProblem}").ConfigureAwait(false);
            }

            var name = parse.GetValue(node)!;
            if (ClusterPki.IdentityOf(files.Current!) is not ("node", var named) || named != name)
            {
                return await Usage($"--cert-file is not the certificate of node {name} (it names {ClusterPki.IdentityOf(files.Current!)?.ToString() ?? "nobody"})").ConfigureAwait(false);
            }

            if (!IPEndPoint.TryParse(parse.GetValue(listen)!, out var endpoint) || endpoint.Port == 0)
            {
                return await Usage($"--listen \"{parse.GetValue(listen)}\" is not ip:port").ConfigureAwait(false);
            }

            var members = new List<ControlClient>();
            trust.ClientCertificate = () => files.Current;
            var http = trust.Client(TimeSpan.FromSeconds(10));
            foreach (var url in parse.GetValue(control) ?? [])
            {
                if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme != "https")
                {
                    return await Usage($"--control \"{url}\" is not the https:// URL of a control-plane member").ConfigureAwait(false);
                }

                members.Add(new ControlClient(uri, http) { RetryRefusalsFor = TimeSpan.FromSeconds(5) });
            }

            var root = parse.GetValue(data)!;
            Directory.CreateDirectory(root);
            var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
                o.ColorBehavior = Microsoft.Extensions.Logging.Console.LoggerColorBehavior.Disabled;
            });
            builder.Logging.SetMinimumLevel(parse.GetValue(verbose) ? LogLevel.Debug : LogLevel.Information);
            builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
            builder.Services.AddSingleton(TimeProvider.System);
            builder.Services.AddSingleton(new ChunkStore(root));
            builder.Services.AddSingleton(new Catalog(members, name));
            // Peers are dialled by address; their certificate must chain to the root and name that address.
            builder.Services.AddSingleton(new Peers(trust.Client(TimeSpan.FromSeconds(30))));
            builder.Services.AddSingleton(sp => new StorageEngine(sp.GetRequiredService<ChunkStore>(), sp.GetRequiredService<Catalog>(), sp.GetRequiredService<Peers>(), sp.GetRequiredService<ILoggerFactory>().CreateLogger<StorageEngine>(), sp.GetRequiredService<TimeProvider>())
            {
                RepairBytesPerSecond = Math.Max(1, parse.GetValue(repairRate)) * (1L << 20),
                BlobGrace = parse.GetValue(blobGrace),
            });
            builder.Services.AddSingleton(sp => new StorageServer(
                new StorageServerOptions { Address = endpoint.Address, Port = endpoint.Port, Trust = trust, Certificate = () => files.Current, Intermediates = files.Intermediates },
                sp.GetRequiredService<StorageEngine>(),
                sp.GetRequiredService<ILoggerFactory>()));
            builder.Services.AddHostedService<StorageService>();
            using var host = builder.Build();
            try
            {
                await host.RunAsync(ct).ConfigureAwait(false);
            }
            catch (IOException ex)
            {
                return await Usage($"could not serve on {endpoint}: {ex.Message}").ConfigureAwait(false);
            }

            return 0;
        });
        return command;
    }
}
