using ZeroCloud.Init;
using ZeroCloud.Model.Api;
using ZeroCloud.Node;
using ZeroCloud.Node.Runtime;

// zc-node: PID 1 of the node image, or a plain process on an existing Linux host.
if (SystemInit.IsPid1)
{
    return SystemInit.Run("node", NodeAgent.RunAsync);
}

string? join = null, token = null, name = null, control = null;
var labels = new Dictionary<string, string>();
var imagePaths = new Dictionary<string, string>(StringComparer.Ordinal);
var imageFolders = new List<string>();
var vmImageFolders = new List<string>();
string? data = null, address = null, firmware = null, netbootRoot = null;
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
        case "--control" when i + 1 < args.Length:
            control = args[++i];
            break;
        case "--address" when i + 1 < args.Length:
            address = args[++i];
            if (!System.Net.IPAddress.TryParse(address, out _))
            {
                Console.Error.WriteLine($"zc-node: --address {address}: not an IP address");
                return 2;
            }

            break;
        case "--data" when i + 1 < args.Length:
            data = args[++i];
            break;
        case "--images" when i + 1 < args.Length:
            imageFolders.Add(args[++i]);
            break;
        case "--firmware" when i + 1 < args.Length:
            firmware = args[++i];
            break;
        case "--netboot-root" when i + 1 < args.Length:
            netbootRoot = Path.GetFullPath(args[++i]);
            break;
        case "--vm-images" when i + 1 < args.Length:
            vmImageFolders.Add(Path.GetFullPath(args[++i]));
            break;
        case "--image" when i + 1 < args.Length:
            var mapping = args[++i].Split('=', 2);
            if (mapping.Length != 2 || mapping[0].Length == 0 || !File.Exists(mapping[1]))
            {
                Console.Error.WriteLine($"zc-node: --image {args[i]}: write image=path to an existing binary (e.g. builtin/hello=/opt/zc/zc-hello)");
                return 2;
            }

            imagePaths[mapping[0]] = Path.GetFullPath(mapping[1]);
            break;
        case "--label" when i + 1 < args.Length:
            var label = args[++i].Split('=', 2);
            if (label.Length != 2 || label[0].Length == 0)
            {
                Console.Error.WriteLine($"zc-node: --label {args[i]}: write key=value");
                return 2;
            }

            labels[label[0]] = label[1];
            break;
        case "--help" or "-h":
            Console.WriteLine("zc-node [--join <http://endpoint[,...]>] [--control <http://member[,...]>] [--token <token>] [--name <name>] [--label key=value]... [--address ip] [--data dir] [--images dir] [--image name=path]... [--vm-images dir]... [--netboot-root dir] [--firmware ifname]\n  --join: say hello to the boot service; --control: heartbeat to the control plane (any member) and run the instances placed on this node until stopped\n  process runtime: binaries from --image mappings, else zc-<name>[.dll] for builtin/<name> in --images (default: beside zc-node);\n  vm runtime: bootable images <dir>/<name>/{vmlinuz,initrd.img} (zc image build) in --vm-images, when a probe guest boots here (KVM, else TCG).\n  --firmware: first boot like a bare server over ifname (PXE DHCP, TFTP, iPXE DHCP, HTTP script, kernel and initrd checked against their sha256), then run with the script's zc.control, zc.token, zc.name.\n  As PID 1 it reads zc.join=, zc.control=, zc.token=, zc.name= from the kernel command line instead.");
            return 0;
        default:
            Console.Error.WriteLine($"zc-node: unknown argument '{args[i]}' (see --help)");
            return 2;
    }
}

using var stop = new CancellationTokenSource();
if (firmware is not null)
{
    // Like a PXE ROM: a failed boot is tried again (after 5 s), until it boots or the machine is switched off.
    for (var attempt = 1; ; attempt++)
    {
        try
        {
            var boot = await Firmware.BootAsync(firmware, Console.WriteLine, stop.Token).ConfigureAwait(false);
            control ??= boot.CommandLine["control"] ?? throw new InvalidOperationException($"firmware: the boot script's command line has no zc.control= (it comes from zc serve netboot --control)");
            token ??= boot.CommandLine["token"];
            name ??= boot.CommandLine["name"];
            address ??= ZeroCloud.Model.Net.Ipv4.FromUInt32(boot.Address).ToString();
            Console.WriteLine($"firmware: booting {name} ({boot.Mac}) as {address}/{boot.Prefix}");
            break;
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or IOException or HttpRequestException or System.Net.Sockets.SocketException)
        {
            Console.WriteLine($"firmware: failed: {(ex.Message.StartsWith("firmware: ", StringComparison.Ordinal) ? ex.Message["firmware: ".Length..] : ex.Message)} (attempt {attempt}; booting again in 5 s)");
            await Task.Delay(TimeSpan.FromSeconds(5), stop.Token).ConfigureAwait(false);
        }
    }
}

if (join is null && control is null)
{
    Console.Error.WriteLine("zc-node: --join <endpoint> or --control <member> is required when not running as PID 1");
    return 2;
}

var inventory = Inventory.Collect();
name ??= inventory.Hostname;
if (join is not null)
{
    var nic = inventory.Nics.FirstOrDefault(n => n.State == "up") ?? (inventory.Nics.Count > 0 ? inventory.Nics[0] : null);
    var hello = new NodeHello(nic?.Mac ?? "", name, token, null, inventory, new Dictionary<string, double>());
    try
    {
        var url = await Hello.SendAsync(join.Split(','), hello, TimeSpan.FromSeconds(30), m => Console.Error.WriteLine($"zc-node: {m}")).ConfigureAwait(false);
        Console.WriteLine($"zc-node: hello accepted by {url} as {hello.Name} ({hello.Mac})");
    }
    catch (Exception ex) when (ex is TimeoutException or UnauthorizedAccessException)
    {
        Console.Error.WriteLine($"zc-node: {ex.Message}");
        return 1;
    }
}

if (control is null)
{
    return 0;
}

Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c =>
{
    c.Cancel = true;
    stop.Cancel();
});
var mac = (inventory.Nics.FirstOrDefault(n => n.State == "up") ?? (inventory.Nics.Count > 0 ? inventory.Nics[0] : null))?.Mac;

// The address instances of this node are reached at (and control members listen on): --address, else the first
// IPv4 address of an interface that is up.
address ??= System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
    .Where(n => n.OperationalStatus == System.Net.NetworkInformation.OperationalStatus.Up && n.NetworkInterfaceType != System.Net.NetworkInformation.NetworkInterfaceType.Loopback)
    .SelectMany(n => n.GetIPProperties().UnicastAddresses)
    .Select(a => a.Address)
    .FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)?.ToString();
var vm = new Vm(vmImageFolders);
using var endpoints = new ControlEndpoints(control.Split(',', StringSplitOptions.RemoveEmptyEntries), token, TimeSpan.FromSeconds(5));
var heartbeat = new Heartbeat(
    endpoints,
    name,
    () => new HeartbeatRequest(inventory.Cpus, inventory.MemoryBytes, address, labels.Count > 0 ? labels : null, vm.Accelerator is null ? ["process"] : ["process", "vm"], mac),
    m => Console.Error.WriteLine($"zc-node: {m}"));
data ??= Path.Combine(Path.GetTempPath(), $"zc-node-{name}");
Directory.CreateDirectory(data);
if (imageFolders.Count == 0)
{
    imageFolders.Add(AppContext.BaseDirectory);
}

var provisioning = address is null ? null : System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
    .FirstOrDefault(n => n.GetIPProperties().UnicastAddresses.Any(a => a.Address.ToString() == address))?.Name;
var agent = new InstanceAgent(endpoints, name, address, new Images(imagePaths, imageFolders), vm, data, new NodeContext(provisioning, netbootRoot, token), m => Console.Error.WriteLine($"zc-node: {m}"));

// With bootable images, find out whether VMs boot here before running anything (auto placements prefer VMs);
// heartbeats start at once and report "vm" from the first beat after the probe guest reached init.
var running = Task.Run(async () =>
{
    if (vm.HasImages)
    {
        Console.Error.WriteLine($"zc-node: {await vm.DetectAsync(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(60), stop.Token).ConfigureAwait(false)}");
    }

    await agent.RunAsync(stop.Token).ConfigureAwait(false);
});
try
{
    await heartbeat.RunAsync(stop.Token).ConfigureAwait(false);
}
catch (UnauthorizedAccessException ex)
{
    Console.Error.WriteLine($"zc-node: {ex.Message}");
    await stop.CancelAsync().ConfigureAwait(false);
    await running.ConfigureAwait(false);
    return 1;
}

await running.ConfigureAwait(false);
return 0;
