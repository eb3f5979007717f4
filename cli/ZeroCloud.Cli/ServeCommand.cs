using System.CommandLine;
using ZeroCloud.Control;

namespace ZeroCloud.Cli;

/// <summary><c>zc serve &lt;service&gt;</c>: runs one infrastructure service in the foreground, the same code as its image's binary.</summary>
internal static class ServeCommand
{
    public static Command Build()
    {
        var serve = new Command("serve", "Run one ZeroCloud service in the foreground (Ctrl-C stops it).");
        serve.Subcommands.Add(ZeroCloud.Netboot.Commands.DhcpCommand.Configure(new Command("dhcp", "The DHCP server for PXE, iPXE and UEFI HTTP boot (full or proxy mode from cluster.yaml).")));
        serve.Subcommands.Add(ZeroCloud.Storage.StorageCommand.Configure(new Command("storage", "The cluster's replicated, content-addressed store (blobs, objects), with the node's certificate.")));
        serve.Subcommands.Add(ZeroCloud.Netboot.Commands.NetbootCommand.Configure(new Command("netboot", "The TFTP and HTTP boot server: iPXE binaries, per-machine iPXE scripts, kernels and images.")));
        serve.Subcommands.Add(ControlHost.Configure(new Command("control", "A control-plane member: Raft (DotNext) over a revisioned key/value store, and the HTTP API.")));
        return serve;
    }
}
