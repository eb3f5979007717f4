using Xunit.Abstractions;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Boot.Tests;

/// <summary>
/// A service image boots as a machine of its own: the dhcp image in QEMU takes its address from zc.ip, fetches its
/// cluster.yaml from zc.config, and hands out an address to a real DHCP client on the lab network.
/// </summary>
[Collection("lab")]
[Trait("Category", "Lab")]
public sealed class ServiceImageBootTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(4);

    [LabFact]
    public async Task The_dhcp_image_boots_and_serves_a_dhclient()
    {
        await using var lab = await NetnsLab.CreateAsync("web", "client");
        await lab.AddressAsync("web", "10.77.0.2/24");
        await lab.TapAsync("tap0");

        var publish = lab.PathOf("publish");
        var (code, log) = await lab.RunAsync("web", TimeSpan.FromMinutes(5), "dotnet", "publish", PxeBootTests.RepoPath("netboot", "ZeroCloud.Dhcp.Service"), "-c", "Release", "-r", "linux-x64", "-o", publish, "-nologo", "-v", "q");
        Assert.True(code == 0, log);
        var (kernel, modules) = ImageBuilder.DistroKernel();
        var image = lab.PathOf("image");
        var manifest = ImageBuilder.Build(new ImageSpec("dhcp", Path.Combine(publish, "zc-dhcp"), kernel, modules, "test", "console=ttyS0"), image);
        output.WriteLine($"dhcp image: initrd {manifest.Files[1].Size:N0} bytes, zc-dhcp {manifest.BinarySize:N0} bytes");

        // The cluster.yaml the image fetches, served by zc-netboot from its root.
        var root = lab.PathOf("root");
        Directory.CreateDirectory(root);
        var yaml = """
            apiVersion: zerocloud.io/v1
            kind: Cluster
            metadata: { name: lab }
            spec:
              network: { interface: eth0, subnet: 10.77.0.0/24, gateway: 10.77.0.1, dhcp: { range: 10.77.0.100-10.77.0.150 } }
            """;
        await File.WriteAllTextAsync(Path.Combine(root, "cluster.yaml"), yaml);
        await File.WriteAllTextAsync(lab.PathOf("cluster.yaml"), yaml);
        var web = lab.Start("web", "dotnet", NetnsLab.ServiceBinary("ZeroCloud.Netboot.Service", "zc-netboot.dll"), "-f", lab.PathOf("cluster.yaml"), "--root", root);
        await web.WaitForLineAsync(l => l.Contains("http: serving", StringComparison.Ordinal), Deadline, what: "the netboot server");

        var console = lab.PathOf("console.log");
        var vm = lab.Start("sw", "qemu-system-x86_64", "-accel", "tcg", "-M", "pc", "-m", "512", "-display", "none", "-no-reboot",
            "-serial", $"file:{console}", "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
            "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:00:00:05",
            "-kernel", Path.Combine(image, "vmlinuz"), "-initrd", Path.Combine(image, "initrd.img"),
            "-append", "console=ttyS0 panic=10 zc.ip=10.77.0.5/24 zc.config=http://10.77.0.2:8080/cluster.yaml");
        await web.WaitForLineAsync(l => l.Contains("GET /cluster.yaml", StringComparison.Ordinal) && l.Contains("-> 200", StringComparison.Ordinal), Deadline, what: "the image to fetch its cluster.yaml");

        // The image's DHCP server starts right after; dhclient retries DISCOVER until it answers.
        var (dhclient, text) = await lab.RunAsync("client", Deadline, "dhclient", "-1", "-v", "-lf", lab.PathOf("client.leases"), "-pf", lab.PathOf("client.pid"), "-sf", "/bin/true", "eth0");
        var consoleText = File.Exists(console) ? await File.ReadAllTextAsync(console) : "(no console)";
        Assert.True(dhclient == 0, $"{text}\n--- the image's console ---\n{consoleText}");
        Assert.Contains("DHCPACK of 10.77.0.1", text, StringComparison.Ordinal);
        Assert.Contains("from 10.77.0.5", text, StringComparison.Ordinal);
        Assert.Contains("ZeroCloud dhcp is PID 1", consoleText, StringComparison.Ordinal);
        // PID 1 raised the descriptor limit the kernel gave it (1024) for itself and every service it starts.
        var files = System.Text.RegularExpressions.Regex.Match(consoleText, @"open files: (\d+) \(the kernel started PID 1 with (\d+);");
        Assert.True(files.Success, consoleText);
        Assert.True(long.Parse(files.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) >= 65536, files.Value);
        Assert.Contains("dhcp: full mode on eth0 as 10.77.0.5", consoleText, StringComparison.Ordinal);
        await vm.StopAsync();
    }
}
