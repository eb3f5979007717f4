using System.CommandLine;
using Microsoft.Extensions.Logging;
using ZeroCloud.Netboot.Http;

namespace ZeroCloud.Netboot.Commands;

/// <summary>
/// The netboot service's command line, shared by `zc serve netboot` and the standalone zc-netboot binary (the server
/// library defines no options).
/// </summary>
public static class NetbootCommand
{
    /// <summary>Adds the service's options to <paramref name="command"/> and makes running it start the servers.</summary>
    public static Command Configure(Command command)
    {
        var file = new Option<string>("--file", "-f") { Description = "The cluster.yaml to serve.", DefaultValueFactory = _ => "cluster.yaml", HelpName = "path" };
        var iface = new Option<string>("--interface", "-i") { Description = "The provisioning interface (default: spec.network.interface).", HelpName = "ifname" };
        var root = new Option<string>("--root") { Description = "Read-only folder of boot files and images.", Required = true, HelpName = "dir" };
        var ipxe = new Option<string>("--ipxe-dir") { Description = "Where the iPXE binaries are when the root lacks them.", DefaultValueFactory = _ => NetbootHost.DebianIpxeDirectory, HelpName = "dir" };
        var tftpPort = new Option<int>("--tftp-port") { Description = "TFTP port.", DefaultValueFactory = _ => 69 };
        var httpPort = new Option<int>("--http-port") { Description = "HTTP port.", DefaultValueFactory = _ => 8080 };
        var join = new Option<string[]>("--join") { Description = "Control-plane endpoint for the node's kernel command line (repeatable).", AllowMultipleArgumentsPerToken = true };
        var token = new Option<string>("--token") { Description = "Join token for the node's kernel command line (visible to other users in the argument list: prefer --token-file)." };
        var tokenFile = new Option<string>("--token-file") { Description = "A file whose first line is the join token (keep it 0600).", HelpName = "file" };
        var caFile = new Option<string>("--ca-file") { Description = "The cluster's root certificate (PEM): the control plane's must chain to it, and its fingerprint goes on booted nodes' command line (zc.ca=).", HelpName = "file" };
        var control = new Option<string[]>("--control") { Description = "Control-plane member API for the node's kernel command line (zc.control=; repeatable): booted nodes heartbeat there.", AllowMultipleArgumentsPerToken = true };
        var publicBase = new Option<string>("--public-base") { Description = "How machines reach the HTTP server (default: http://<interface address>:<http port>).", HelpName = "url" };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Debug logging." };
        foreach (var option in new Option[] { file, iface, root, ipxe, tftpPort, httpPort, join, token, tokenFile, control, caFile, publicBase, verbose })
        {
            command.Options.Add(option);
        }

        var clientCertificate = new ClientCertificateOptions(command);

        command.SetAction(async (parse, cancellationToken) =>
        {
            var joinToken = parse.GetValue(token);
            if (parse.GetValue(tokenFile) is { } tokenPath)
            {
                joinToken = ZeroCloud.Model.SecretFile.Read(tokenPath, out var problem);
                if (problem is not null)
                {
                    await parse.InvocationConfiguration.Error.WriteLineAsync($"zc-netboot: --token-file {problem}").ConfigureAwait(false);
                    return 2;
                }
            }

            ZeroCloud.Model.Pki.ClusterTrust? trust = null;
            if (parse.GetValue(caFile) is { } caPath && (trust = ZeroCloud.Model.Pki.ClusterTrust.TryFromFile(caPath, out var caProblem)) is null)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync($"zc-netboot: --ca-file {caProblem}").ConfigureAwait(false);
                return 2;
            }

            if (clientCertificate.Apply(parse, trust) is { } certificateProblem)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync($"zc-netboot: {certificateProblem}").ConfigureAwait(false);
                return 2;
            }

            var settings = new NetbootHostSettings(
                parse.GetValue(file)!,
                parse.GetValue(iface) ?? "",
                parse.GetValue(root)!,
                parse.GetValue(ipxe),
                parse.GetValue(tftpPort),
                parse.GetValue(httpPort),
                parse.GetValue(join) ?? [],
                joinToken,
                parse.GetValue(publicBase),
                parse.GetValue(verbose) ? LogLevel.Debug : LogLevel.Information,
                parse.GetValue(control) ?? [],
                trust);
            return await NetbootHost.RunAsync(settings, parse.InvocationConfiguration.Error, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }
}
