using System.CommandLine;
using System.Net;
using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Net;
using ZeroCloud.Netboot.Hosting;

namespace ZeroCloud.Netboot.Commands;

/// <summary>
/// The dhcp service's command line, shared by `zc serve dhcp` and the standalone zc-dhcp binary (the server library
/// defines no options).
/// </summary>
public static class DhcpCommand
{
    /// <summary>Adds the service's options to <paramref name="command"/> and makes running it start the server.</summary>
    public static Command Configure(Command command)
    {
        var file = new Option<string>("--file", "-f") { Description = "The cluster.yaml to serve.", DefaultValueFactory = _ => "cluster.yaml", HelpName = "path" };
        var iface = new Option<string>("--interface", "-i") { Description = "The provisioning interface (default: spec.network.interface).", HelpName = "ifname" };
        var data = new Option<string>("--data") { Description = "Folder for the lease file.", DefaultValueFactory = _ => "/var/lib/zerocloud/dhcp", HelpName = "dir" };
        var nextServer = new Option<string>("--next-server") { Description = "TFTP server for boot files (default: this server's address).", HelpName = "ip" };
        var httpBase = new Option<string>("--http-base") { Description = "Base URL of the HTTP boot server (default: http://<this server's address>:8080).", HelpName = "url" };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log every decision (debug level)." };
        var store = new Option<string>("--store") { Description = "Keep leases in the control plane at this API URL (shared by every dhcp replica) instead of --data.", HelpName = "url" };
        command.Options.Add(file);
        command.Options.Add(store);
        var tokenFile = new Option<string>("--token-file") { Description = "With --store: a file whose first line is the credential for the control plane (the key of the node this runs on; keep it 0600). Default: $ZC_TOKEN.", HelpName = "file" };
        command.Options.Add(tokenFile);
        var caFile = new Option<string>("--ca-file") { Description = "With an https:// --store: the cluster's root certificate (PEM) the control plane's must chain to.", HelpName = "file" };
        command.Options.Add(caFile);
        var clientCertificate = new ClientCertificateOptions(command);
        command.Options.Add(iface);
        command.Options.Add(data);
        command.Options.Add(nextServer);
        command.Options.Add(httpBase);
        command.Options.Add(verbose);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var stderr = parse.InvocationConfiguration.Error;
            IPAddress? next = null;
            if (parse.GetValue(nextServer) is { } text && !Ipv4.TryParse(text, out next))
            {
                await stderr.WriteLineAsync($"zc: --next-server: \"{text}\" is not an IPv4 address").ConfigureAwait(false);
                return 2;
            }

            Uri? storeUri = null;
            if (parse.GetValue(store) is { } storeText && (!Uri.TryCreate(storeText, UriKind.Absolute, out storeUri) || storeUri.Scheme is not ("http" or "https")))
            {
                await stderr.WriteLineAsync($"zc: --store: \"{storeText}\" is not the http:// URL of a control-plane member").ConfigureAwait(false);
                return 2;
            }

            var credential = Environment.GetEnvironmentVariable("ZC_TOKEN") is { Length: > 0 } fromEnv ? fromEnv.Trim() : null;
            if (parse.GetValue(tokenFile) is { } tokenPath)
            {
                credential = ZeroCloud.Model.SecretFile.Read(tokenPath, out var problem);
                if (credential is null)
                {
                    await stderr.WriteLineAsync($"zc: --token-file {problem}").ConfigureAwait(false);
                    return 2;
                }
            }

            ZeroCloud.Model.Pki.ClusterTrust? trust = null;
            if (parse.GetValue(caFile) is { } caPath && (trust = ZeroCloud.Model.Pki.ClusterTrust.TryFromFile(caPath, out var caProblem)) is null)
            {
                await stderr.WriteLineAsync($"zc: --ca-file {caProblem}").ConfigureAwait(false);
                return 2;
            }

            if (clientCertificate.Apply(parse, trust) is { } certificateProblem)
            {
                await stderr.WriteLineAsync($"zc: {certificateProblem}").ConfigureAwait(false);
                return 2;
            }

            var settings = new DhcpHostSettings(
                parse.GetValue(file)!,
                parse.GetValue(iface) ?? "",
                parse.GetValue(data)!,
                next,
                parse.GetValue(httpBase),
                parse.GetValue(verbose) ? LogLevel.Debug : LogLevel.Information,
                storeUri,
                credential,
                trust);
            return await DhcpHost.RunAsync(settings, stderr, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }
}
