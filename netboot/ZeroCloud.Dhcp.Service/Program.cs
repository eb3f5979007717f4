using System.CommandLine;
using ZeroCloud.Init;
using ZeroCloud.Netboot.Hosting;

// zc-dhcp: the dhcp service image's /init binary; the same code as `zc serve dhcp`.
var root = (RootCommand)DhcpHost.Configure(new RootCommand("zc-dhcp — ZeroCloud's DHCP server for PXE, iPXE and UEFI HTTP boot."));
if (SystemInit.IsPid1)
{
    // /init of the dhcp image: PID 1 brings the machine up, then the service runs with zc.config / zc.args.
    return SystemInit.Run("dhcp", async init => await root.Parse(await SystemInit.ServiceArgumentsAsync(init, "--data", "/var/lib/zerocloud/dhcp").ConfigureAwait(false)).InvokeAsync().ConfigureAwait(false));
}

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
