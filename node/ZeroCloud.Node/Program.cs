using ZeroCloud.Init;
using ZeroCloud.Model.Api;
using ZeroCloud.Node;

// zc-node: PID 1 of the node image, or a plain process on an existing Linux host.
if (SystemInit.IsPid1)
{
    return SystemInit.Run("node", NodeAgent.RunAsync);
}

string? join = null, token = null, name = null;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--join" when i + 1 < args.Length:
            join = args[++i];
            break;
        case "--token" when i + 1 < args.Length:
            token = args[++i];
            break;
        case "--name" when i + 1 < args.Length:
            name = args[++i];
            break;
        case "--help" or "-h":
            Console.WriteLine("zc-node --join <http://endpoint[,http://...]> [--token <token>] [--name <name>]\n  As PID 1 it reads zc.join=, zc.token=, zc.name= from the kernel command line instead.");
            return 0;
        default:
            Console.Error.WriteLine($"zc-node: unknown argument '{args[i]}' (see --help)");
            return 2;
    }
}

if (join is null)
{
    Console.Error.WriteLine("zc-node: --join <endpoint> is required when not running as PID 1");
    return 2;
}

var inventory = Inventory.Collect();
var nic = inventory.Nics.FirstOrDefault(n => n.State == "up") ?? (inventory.Nics.Count > 0 ? inventory.Nics[0] : null);
var hello = new NodeHello(nic?.Mac ?? "", name ?? inventory.Hostname, token, null, inventory, new Dictionary<string, double>());
try
{
    var url = await Hello.SendAsync(join.Split(','), hello, TimeSpan.FromSeconds(30), m => Console.Error.WriteLine($"zc-node: {m}")).ConfigureAwait(false);
    Console.WriteLine($"zc-node: hello accepted by {url} as {hello.Name} ({hello.Mac})");
    return 0;
}
catch (Exception ex) when (ex is TimeoutException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"zc-node: {ex.Message}");
    return 1;
}
