using System.CommandLine;
using ZeroCloud.Netboot.Hosting;

// zc-dhcp: the dhcp service image's /init binary; the same code as `zc serve dhcp`.
var root = (RootCommand)DhcpHost.Configure(new RootCommand("zc-dhcp — ZeroCloud's DHCP server for PXE, iPXE and UEFI HTTP boot."));
var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    foreach (var error in parse.Errors)
    {
        Console.Error.WriteLine($"zc-dhcp: {error.Message}");
    }

    return 2;
}

return await parse.InvokeAsync().ConfigureAwait(false);
