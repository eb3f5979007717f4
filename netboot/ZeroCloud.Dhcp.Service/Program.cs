using System.CommandLine;
using ZeroCloud.Init;
using ZeroCloud.Netboot.Commands;

// zc-dhcp: the dhcp service image's /init binary; the same code as `zc serve dhcp`.
return ServiceProgram.Main(
    "dhcp",
    (RootCommand)DhcpCommand.Configure(new RootCommand("zc-dhcp — ZeroCloud's DHCP server for PXE, iPXE and UEFI HTTP boot.")),
    args,
    "--data", "/var/lib/zerocloud/dhcp");
