using System.CommandLine;
using ZeroCloud.Init;
using ZeroCloud.Netboot.Commands;

// zc-netboot: the netboot service image's /init binary (TFTP + HTTP boot); the same code as `zc serve netboot`.
return ServiceProgram.Main(
    "netboot",
    (RootCommand)NetbootCommand.Configure(new RootCommand("zc-netboot — ZeroCloud's TFTP and HTTP boot server.")),
    args,
    "--root", "/var/lib/zerocloud/netboot");
