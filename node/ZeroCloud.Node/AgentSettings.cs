using System.Net;
using ZeroCloud.Init;

namespace ZeroCloud.Node;

/// <summary>
/// Everything one node agent runs with, whichever way it was started: PID 1 of the node image (from the kernel
/// command line and what init set up), a process on a Linux host (from its options), or an emulated bare server
/// (from the command line of the boot script its firmware fetched).
/// </summary>
internal sealed record AgentSettings
{
    /// <summary>Control-plane member APIs to heartbeat to and read placements from (zc.control=, --control).</summary>
    public IReadOnlyList<string> Control { get; init; } = [];

    /// <summary>Boot-service endpoints to say hello to first (zc.join=, --join); optional.</summary>
    public IReadOnlyList<string> Join { get; init; } = [];

    public string? Token { get; init; }

    /// <summary>
    /// The cluster's root the control plane's certificate must chain to: from --ca-file, or pinned by its fingerprint
    /// on the kernel command line (zc.ca=). Null: the control plane is reached over plain HTTP only.
    /// </summary>
    public ZeroCloud.Model.Pki.ClusterTrust? Trust { get; init; }

    /// <summary>The node's name; the host name when not given.</summary>
    public string? Name { get; init; }

    /// <summary>The address this node's instances are reached at; the first up interface's IPv4 address when not given.</summary>
    public string? Address { get; init; }

    /// <summary>The MAC of the provisioning interface; the first up interface's when not given.</summary>
    public string? Mac { get; init; }

    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>Where instances keep their data; a folder under the temp folder when not given.</summary>
    public string? Data { get; init; }

    /// <summary>Folders with process images (zc-&lt;name&gt;[.dll]); the agent's own folder when empty.</summary>
    public IReadOnlyList<string> ImageFolders { get; init; } = [];

    /// <summary>Explicit image → binary mappings (--image builtin/hello=/opt/zc/zc-hello).</summary>
    public IReadOnlyDictionary<string, string> ImagePaths { get; init; } = new Dictionary<string, string>();

    /// <summary>Folders with bootable images (&lt;name&gt;/{vmlinuz,initrd.img}) for the vm runtime.</summary>
    public IReadOnlyList<string> VmImageFolders { get; init; } = [];

    /// <summary>How many bytes the image cache (<c>&lt;data&gt;/images</c>) may hold: images pulled from the store, unpacked.</summary>
    public long ImageCacheBytes { get; init; } = DefaultImageCacheBytes;

    /// <summary>2 GiB: the control image with its runtime unpacks to about 200 MB; the NativeAOT services to 20–40 MB each.</summary>
    public const long DefaultImageCacheBytes = 2L << 30;

    /// <summary>
    /// The block devices this agent may see and claim (<c>--block-devices</c>); null: every disk of the machine (a
    /// /sys/block entry with a device behind it); empty: none (the lab's emulated servers never see the host's disks).
    /// </summary>
    public IReadOnlyList<string>? BlockDevices { get; init; }

    /// <summary>What netboot instances placed here serve (the node image); null: netboot's own default.</summary>
    public string? NetbootRoot { get; init; }

    /// <summary>Where the boot's phases go as structured events (<c>--events FILE</c>); null: nowhere.</summary>
    public Action<ZeroCloud.Model.Api.BootEvent>? Events { get; init; }

    /// <summary>Timings PID 1 measured (kernel → init, DHCP, …), sent with the hello.</summary>
    public IReadOnlyDictionary<string, double> Timings { get; init; } = new Dictionary<string, double>();

    /// <summary>
    /// The settings a booted node image runs with: its kernel command line (what netboot's boot script put there:
    /// zc.control, zc.token, zc.name, zc.join) and what init set up (address, MAC, host name). Null with the reason
    /// when the command line names no control plane and no join endpoint: nothing to join.
    /// </summary>
    public static AgentSettings? FromKernelCommandLine(KernelCommandLine cmdline, string? address, string? mac, string? hostName, out string? problem)
    {
        var control = List(cmdline["control"]);
        var join = List(cmdline["join"]);
        problem = null;
        if (control.Count == 0 && join.Count == 0)
        {
            problem = "the kernel command line has neither zc.control= nor zc.join=: nothing to join (netboot puts zc.control= there when it runs with --control)";
            return null;
        }

        if ((control.FirstOrDefault(u => !IsHttpUrl(u)) ?? join.FirstOrDefault(u => !IsHttpUrl(u))) is { } bad)
        {
            problem = $"the kernel command line names \"{bad}\" as a control-plane or join endpoint: not an http:// URL";
            return null;
        }

        if (address is not null && !IPAddress.TryParse(address, out _))
        {
            problem = $"\"{address}\" is not an IP address";
            return null;
        }

        ZeroCloud.Model.Pki.ClusterTrust? trust = null;
        if (cmdline["ca"] is { Length: > 0 } pin)
        {
            try
            {
                trust = ZeroCloud.Model.Pki.ClusterTrust.Pinned(pin);
            }
            catch (ArgumentException ex)
            {
                problem = $"zc.ca={pin}: {ex.Message}";
                return null;
            }
        }
        else if (control.FirstOrDefault(u => u.StartsWith("https:", StringComparison.OrdinalIgnoreCase)) is { } secure)
        {
            problem = $"the kernel command line names {secure} but no zc.ca= (the cluster root's fingerprint) to verify it with";
            return null;
        }

        return new AgentSettings
        {
            Control = control,
            Join = join,
            // A machine netboot booted carries a single-use ticket (zc.ticket=<mac>.<secret>); zc.token is the older
            // reusable join token.
            Trust = trust,
            Token = cmdline["ticket"] is { Length: > 0 } ticket ? "ticket:" + ticket : cmdline["token"] is { Length: > 0 } token ? token : null,
            Name = cmdline["name"] is { Length: > 0 } name ? name : hostName,
            Address = address,
            Mac = mac ?? cmdline["mac"],
        };
    }

    public static IReadOnlyList<string> List(string? value) =>
        (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public static bool IsHttpUrl(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https";
}
