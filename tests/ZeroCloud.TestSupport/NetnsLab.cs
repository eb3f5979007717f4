using System.Security.Cryptography;

using ZeroCloud.Lab;

namespace ZeroCloud.TestSupport;

/// <summary>
/// A throwaway L2 lab: one network namespace per host, each with an <c>eth0</c> veth whose peer sits on a
/// bridge in a switch namespace. Private addresses exist only inside it; nothing is routed out. Needs root and
/// iproute2 (scripts/setup installs the rest). Everything it made is removed on dispose.
/// </summary>
public sealed class NetnsLab : IAsyncDisposable
{
    private readonly string _id;
    private readonly List<string> _namespaces = [];
    private readonly List<LabProcess> _processes = [];

    private NetnsLab(string id) => _id = id;

    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("zc-lab-").FullName;

    public static async Task<NetnsLab> CreateAsync(params string[] hosts)
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root")
        {
            throw new InvalidOperationException("the namespace lab needs Linux and root (run the tests as root, as CI does)");
        }

        var lab = new NetnsLab("zt" + RandomNumberGenerator.GetHexString(4, lowercase: true));
        try
        {
            var sw = lab.Add("sw");
            await Netns.AddSwitchAsync(sw);
            for (var i = 0; i < hosts.Length; i++)
            {
                await Netns.AddHostAsync(sw, lab.Add(hosts[i]), "eth0", $"{lab._id}{i}");
            }
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }

        return lab;
    }

    private string Add(string host)
    {
        var ns = $"{_id}-{host}";
        _namespaces.Add(ns);
        return ns;
    }

    public string Namespace(string host) => $"{_id}-{host}";

    public Task AddressAsync(string host, string cidr) => Ip("-n", Namespace(host), "addr", "add", cidr, "dev", "eth0");

    /// <summary>A tap device on the lab's bridge, for a QEMU started in the switch namespace ("sw").</summary>
    public async Task TapAsync(string name)
    {
        await Ip("-n", Namespace("sw"), "tuntap", "add", name, "mode", "tap");
        await Ip("-n", Namespace("sw"), "link", "set", name, "master", "br0", "up");
    }

    public string Id => _id;

    public Task MacAsync(string host, string mac) => Ip("-n", Namespace(host), "link", "set", "eth0", "address", mac);

    public string PathOf(string name) => Path.Combine(Directory, name);

    /// <summary>The repository's root: the folder above the tests that holds ZeroCloud.sln.</summary>
    public static string RepoRoot() => Repository.RequireRoot("the lab tests");

    /// <summary>The built binary (zc-dhcp, zc-netboot, zc-node, zc) of the same configuration as these tests.</summary>
    /// <summary>
    /// The operator's credentials file a <c>--bootstrap</c> member writes into its data folder (waits for it, up to
    /// 30 s): pass it to zc as <c>ZC_CREDENTIALS</c>.
    /// </summary>
    public static async Task<string> CredentialsFileAsync(string controlData)
    {
        var file = Path.Combine(controlData, "credentials.json");
        for (var waited = 0; waited < 300 && !File.Exists(file); waited++)
        {
            await Task.Delay(100);
        }

        return File.Exists(file) ? file : throw new TimeoutException($"the bootstrapped member wrote no {file} within 30 s");
    }

    /// <summary>The admin credential a <c>--bootstrap</c> member made (waits for it, up to 30 s).</summary>
    public static async Task<string> AdminCredentialAsync(string controlData)
    {
        var file = Path.Combine(controlData, "admin-credential");
        for (var waited = 0; waited < 300 && !(File.Exists(file) && new FileInfo(file).Length > 0); waited++)
        {
            await Task.Delay(100);
        }

        return File.Exists(file) ? File.ReadAllText(file).Trim() : throw new TimeoutException($"the bootstrapped member wrote no {file} within 30 s");
    }

    public static string ServiceBinary(string project, string assembly, string folder = "netboot") => Repository.Built(folder, project, assembly);

    /// <summary>Runs a command in <paramref name="host"/> to completion; a non-zero exit is returned, not thrown.</summary>
    public async Task<(int Code, string Output)> RunAsync(string host, TimeSpan timeout, string file, params string[] args)
    {
        var process = Start(host, file, args);
        if (!await process.WaitForExitAsync(timeout))
        {
            await process.StopAsync();
            throw new TimeoutException($"'{file} {string.Join(' ', args)}' in {host} did not finish within {timeout.TotalSeconds:0}s; output:\n{process.Output}");
        }

        return (process.ExitCode, process.Output);
    }

    /// <summary>Starts a command in <paramref name="host"/> in the background; stopped on dispose.</summary>
    public LabProcess Start(string host, string file, params string[] args)
    {
        var process = LabProcess.Start("ip", ["netns", "exec", Namespace(host), file, .. args]);
        _processes.Add(process);
        return process;
    }

    private static Task Ip(params string[] args) => Netns.IpAsync(args);

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _processes)
        {
            await process.StopAsync();
        }

        // Anything still running in the namespaces goes first, then the namespaces and their links.
        await Netns.KillAllAsync(_namespaces);
        foreach (var ns in Enumerable.Reverse(_namespaces))
        {
            await Netns.DeleteAsync(ns);
        }

        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
