using System.CommandLine;
using ZeroCloud.Init;
using ZeroCloud.Netboot.Http;

// zc-netboot: the netboot service image's /init binary (TFTP + HTTP boot); the same code as `zc serve netboot`.
var root = (RootCommand)NetbootHost.Configure(new RootCommand("zc-netboot — ZeroCloud's TFTP and HTTP boot server."));
if (SystemInit.IsPid1)
{
    // /init of the netboot image: PID 1 brings the machine up, then the service runs with zc.config / zc.args.
    return SystemInit.Run("netboot", async init => await root.Parse(await SystemInit.ServiceArgumentsAsync(init, "--root", "/var/lib/zerocloud/netboot").ConfigureAwait(false)).InvokeAsync().ConfigureAwait(false));
}

var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    foreach (var error in parse.Errors)
    {
        Console.Error.WriteLine($"zc-netboot: {error.Message}");
    }

    return 2;
}

return await parse.InvokeAsync().ConfigureAwait(false);
