using System.Security.Cryptography;

using ZeroCloud.Lab;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Netboot.Tests.Lab;

/// <summary>The real zc-netboot binary in a namespace lab against tftp-hpa, curl and atftp (TFTP) and curl (HTTP).</summary>
[Collection("lab")]
[Trait("Category", "Lab")]
public sealed class NetbootLabTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(120);

    private static string Cluster(string enroll = "auto") => $$"""
        apiVersion: zerocloud.io/v1
        kind: Cluster
        metadata: { name: lab }
        spec:
          network:
            interface: eth0
            subnet: 10.77.0.0/24
          nodes:
            enroll: {{enroll}}
            known:
              - { mac: "52:54:00:00:00:01", name: node-01 }
        """;

    /// <summary>A lab with the server at 10.77.0.2 and clients from .10 on; a root with random files of the given sizes.</summary>
    private static async Task<(NetnsLab Lab, LabProcess Server, string Root)> StartAsync(string enroll = "auto", int clients = 1, params (string Name, int Size)[] files)
    {
        string[] hosts = ["srv", .. Enumerable.Range(0, clients).Select(i => $"c{i}")];
        var lab = await NetnsLab.CreateAsync(hosts);
        await lab.AddressAsync("srv", "10.77.0.2/24");
        for (var i = 0; i < clients; i++)
        {
            await lab.AddressAsync($"c{i}", $"10.77.0.{10 + i}/24");
        }

        var root = lab.PathOf("root");
        Directory.CreateDirectory(Path.Combine(root, "images", "node"));
        foreach (var (name, size) in files)
        {
            var path = Path.Combine(root, name);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await File.WriteAllBytesAsync(path, RandomNumberGenerator.GetBytes(size));
        }

        var config = lab.PathOf("cluster.yaml");
        await File.WriteAllTextAsync(config, Cluster(enroll));
        var server = lab.Start("srv", "dotnet", NetnsLab.ServiceBinary("ZeroCloud.Netboot.Service", "zc-netboot.dll"), "-f", config, "--interface", "eth0", "--root", root, "--join", "http://10.77.0.2:7000", "--token", "t0ken");
        await server.WaitForLineAsync(l => l.Contains("http: serving", StringComparison.Ordinal), Long, what: "the server to start");
        return (lab, server, root);
    }

    private static string Sha(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    [LabFact]
    public async Task Tftp_hpa_curl_and_atftp_at_once_get_byte_identical_files()
    {
        var (lab, server, root) = await StartAsync(clients: 3, files: ("boot/image.bin", 3_000_000));
        await using var _ = lab;
        var image = Path.Combine(root, "boot", "image.bin");
        var runs = new[]
        {
            lab.RunAsync("c0", Long, "tftp", "-m", "binary", "10.77.0.2", "-c", "get", "boot/image.bin", lab.PathOf("hpa.bin")),
            lab.RunAsync("c1", Long, "curl", "-sS", "--tftp-blksize", "1468", "-o", lab.PathOf("curl.bin"), "tftp://10.77.0.2/boot/image.bin"),
            lab.RunAsync("c2", Long, "atftp", "--option", "windowsize 16", "--option", "blksize 1468", "-g", "-r", "boot/image.bin", "-l", lab.PathOf("atftp.bin"), "10.77.0.2"),
        };
        foreach (var (code, output) in await Task.WhenAll(runs))
        {
            Assert.True(code == 0, output);
        }

        Assert.Equal(Sha(image), Sha(lab.PathOf("hpa.bin")));
        Assert.Equal(Sha(image), Sha(lab.PathOf("curl.bin")));
        Assert.Equal(Sha(image), Sha(lab.PathOf("atftp.bin")));
        await server.WaitForLineAsync(l => l.Contains("boot/image.bin 3000000 bytes", StringComparison.Ordinal), Long, count: 3, what: "three transfer log lines");
        Assert.Equal(1, server.CountLines(l => l.Contains("blksize 512, windowsize 1", StringComparison.Ordinal)));
        Assert.Equal(1, server.CountLines(l => l.Contains("blksize 1468, windowsize 1,", StringComparison.Ordinal)));
        Assert.Equal(1, server.CountLines(l => l.Contains("blksize 1468, windowsize 16", StringComparison.Ordinal)));

        // The iPXE binaries come from the distro's ipxe package when the root has none.
        var (ipxeCode, ipxeOutput) = await lab.RunAsync("c0", Long, "curl", "-sS", "-o", lab.PathOf("undionly.kpxe"), "tftp://10.77.0.2/undionly.kpxe");
        Assert.True(ipxeCode == 0, ipxeOutput);
        Assert.Equal(Sha("/usr/lib/ipxe/undionly.kpxe"), Sha(lab.PathOf("undionly.kpxe")));
    }

    [LabFact]
    public async Task Block_numbers_roll_over_past_65535()
    {
        // 33 MiB in 512-byte blocks is 67,585 blocks: the 16-bit block number wraps once.
        var (lab, _, root) = await StartAsync(files: ("big.bin", 33 << 20));
        await using var _lab = lab;
        var (code, output) = await lab.RunAsync("c0", Long, "atftp", "--option", "windowsize 16", "-g", "-r", "big.bin", "-l", lab.PathOf("big.bin"), "10.77.0.2");
        Assert.True(code == 0, output);
        Assert.Equal(Sha(Path.Combine(root, "big.bin")), Sha(lab.PathOf("big.bin")));
    }

    [LabFact]
    public async Task Transfers_complete_with_5_percent_of_the_servers_packets_dropped()
    {
        var (lab, server, root) = await StartAsync(clients: 3, files: ("lossy.bin", 1_000_000));
        await using var _ = lab;
        var (fw, fwOutput) = await lab.RunAsync("srv", Long, "iptables", "-A", "OUTPUT", "-p", "udp", "-m", "statistic", "--mode", "random", "--probability", "0.05", "-j", "DROP");
        Assert.True(fw == 0, fwOutput);
        var runs = await Task.WhenAll(
            lab.RunAsync("c0", Long, "tftp", "-m", "binary", "10.77.0.2", "-c", "get", "lossy.bin", lab.PathOf("hpa.bin")),
            lab.RunAsync("c1", Long, "curl", "-sS", "--tftp-blksize", "1468", "-o", lab.PathOf("curl.bin"), "tftp://10.77.0.2/lossy.bin"),
            lab.RunAsync("c2", Long, "atftp", "--option", "windowsize 16", "--option", "blksize 1468", "-g", "-r", "lossy.bin", "-l", lab.PathOf("atftp.bin"), "10.77.0.2"));
        foreach (var (code, output) in runs)
        {
            Assert.True(code == 0, output);
        }

        var expected = Sha(Path.Combine(root, "lossy.bin"));
        Assert.All<string>(["hpa.bin", "curl.bin", "atftp.bin"], f => Assert.Equal(expected, Sha(lab.PathOf(f))));
        await server.WaitForLineAsync(l => l.Contains("lossy.bin 1000000 bytes", StringComparison.Ordinal), Long, count: 3, what: "three transfer log lines");
        Assert.True(server.CountLines(l => l.Contains("lossy.bin", StringComparison.Ordinal) && !l.Contains(" 0 retransmissions", StringComparison.Ordinal)) >= 1, server.Output);
    }

    [LabTheory]
    [InlineData("../etc/passwd", "'..' in the path")]
    [InlineData("/etc/passwd", "absolute path")]
    [InlineData("escape", "outside the root")]
    [InlineData("LONG", "longer than 255 bytes")]
    [InlineData("NONUTF8", "not UTF-8")]
    public async Task Escape_attempts_get_an_access_violation_and_a_log_line(string name, string reason)
    {
        var (lab, server, root) = await StartAsync();
        await using var _ = lab;
        File.CreateSymbolicLink(Path.Combine(root, "escape"), "/etc/passwd");
        var request = name switch
        {
            "LONG" => new string('a', 300),
            "NONUTF8" => "$'\\xff\\xfe.bin'",
            _ => $"'{name}'",
        };
        // bash turns $'\xff' into raw bytes, which a .NET argument list cannot carry.
        var (_, output) = await lab.RunAsync("c0", Long, "bash", "-c", $"tftp -m binary 10.77.0.2 -c get {request} {lab.PathOf("out.bin")}");
        Assert.Contains("Error code 2", output, StringComparison.Ordinal);
        await server.WaitForLineAsync(l => l.Contains("refused", StringComparison.Ordinal) && l.Contains(reason, StringComparison.Ordinal), Long, what: $"a refusal log line ({reason})");
    }

    [LabFact]
    public async Task Write_requests_are_refused()
    {
        var (lab, _, _) = await StartAsync();
        await using var _lab = lab;
        await File.WriteAllTextAsync(lab.PathOf("up.txt"), "x");
        var (_, output) = await lab.RunAsync("c0", Long, "tftp", "10.77.0.2", "-c", "put", lab.PathOf("up.txt"), "up.txt");
        Assert.Contains("Error code 2", output, StringComparison.Ordinal);
    }

    [LabFact]
    public async Task Http_ranges_conditional_gets_and_digests()
    {
        var (lab, server, root) = await StartAsync(files: ("images/node/vmlinuz", 100_000));
        await using var _lab = lab;
        var path = Path.Combine(root, "images", "node", "vmlinuz");
        var bytes = await File.ReadAllBytesAsync(path);
        const string Url = "http://10.77.0.2:8080/images/node/vmlinuz";

        async Task<(string Head, byte[] Body)> Curl(params string[] args)
        {
            var (code, output) = await lab.RunAsync("c0", Long, "curl", ["-sS", "-D", lab.PathOf("head.txt"), "-o", lab.PathOf("body.bin"), .. args]);
            Assert.True(code == 0, output);
            return (await File.ReadAllTextAsync(lab.PathOf("head.txt")), await File.ReadAllBytesAsync(lab.PathOf("body.bin")));
        }

        var (head, body) = await Curl(Url);
        Assert.StartsWith("HTTP/1.1 200", head, StringComparison.Ordinal);
        Assert.Contains("Content-Length: 100000", head, StringComparison.Ordinal);
        Assert.Contains("Content-Type: application/octet-stream", head, StringComparison.Ordinal);
        Assert.Contains("Last-Modified: ", head, StringComparison.Ordinal);
        Assert.Equal(bytes, body);
        var etag = head.Split("\r\n").Single(l => l.StartsWith("ETag: ", StringComparison.Ordinal))[6..];

        (head, body) = await Curl("-r", "0-0", Url);
        Assert.StartsWith("HTTP/1.1 206", head, StringComparison.Ordinal);
        Assert.Contains("Content-Range: bytes 0-0/100000", head, StringComparison.Ordinal);
        Assert.Equal(bytes[..1], body);

        (head, body) = await Curl("-r", "-1", Url);
        Assert.Contains("Content-Range: bytes 99999-99999/100000", head, StringComparison.Ordinal);
        Assert.Equal(bytes[^1..], body);

        (head, body) = await Curl("-r", "1000-1999", Url);
        Assert.Contains("Content-Range: bytes 1000-1999/100000", head, StringComparison.Ordinal);
        Assert.Equal(bytes[1000..2000], body);

        (head, body) = await Curl("-r", "0-9,50-59", Url);
        Assert.StartsWith("HTTP/1.1 206", head, StringComparison.Ordinal);
        Assert.Contains("Content-Type: multipart/byteranges; boundary=", head, StringComparison.Ordinal);
        var text = System.Text.Encoding.Latin1.GetString(body);
        Assert.Contains("Content-Range: bytes 0-9/100000", text, StringComparison.Ordinal);
        Assert.Contains("Content-Range: bytes 50-59/100000", text, StringComparison.Ordinal);
        Assert.Contains(System.Text.Encoding.Latin1.GetString(bytes[50..60]), text, StringComparison.Ordinal);

        (head, _) = await Curl("-r", "200000-", Url);
        Assert.StartsWith("HTTP/1.1 416", head, StringComparison.Ordinal);
        Assert.Contains("Content-Range: bytes */100000", head, StringComparison.Ordinal);

        (head, body) = await Curl("-H", $"If-None-Match: {etag}", Url);
        Assert.StartsWith("HTTP/1.1 304", head, StringComparison.Ordinal);
        Assert.Empty(body);

        (head, _) = await Curl("-I", Url); // curl -I writes the headers where the body would go
        Assert.StartsWith("HTTP/1.1 200", head, StringComparison.Ordinal);
        Assert.Contains("Content-Length: 100000", head, StringComparison.Ordinal);

        (head, body) = await Curl($"http://10.77.0.2:8080/sha256/{Convert.ToHexStringLower(SHA256.HashData(bytes))}");
        Assert.StartsWith("HTTP/1.1 200", head, StringComparison.Ordinal);
        Assert.Equal(bytes, body);

        await server.WaitForLineAsync(l => l.Contains("http: 10.77.0.10 GET /images/node/vmlinuz bytes=0-0 -> 206 1 bytes", StringComparison.Ordinal), Long, what: "a request log line");
    }

    [LabFact]
    public async Task Ipxe_scripts_for_known_unknown_and_malformed_macs()
    {
        var (lab, _, _) = await StartAsync(enroll: "known");
        await using var _lab = lab;
        var (_, known) = await lab.RunAsync("c0", Long, "curl", "-sS", "http://10.77.0.2:8080/boot/52:54:00:00:00:01.ipxe");
        Assert.StartsWith("#!ipxe\n", known, StringComparison.Ordinal);
        Assert.Contains("kernel http://10.77.0.2:8080/images/node/vmlinuz initrd=initrd.img", known, StringComparison.Ordinal);
        Assert.Contains("zc.name=node-01 zc.mac=52:54:00:00:00:01 zc.join=http://10.77.0.2:7000 zc.token=t0ken", known, StringComparison.Ordinal);
        Assert.Contains("initrd http://10.77.0.2:8080/images/node/initrd.img", known, StringComparison.Ordinal);

        var (_, unknown) = await lab.RunAsync("c0", Long, "curl", "-sS", "http://10.77.0.2:8080/boot/52-54-00-00-00-99.ipxe");
        Assert.Contains("not listed under spec.nodes.known", unknown, StringComparison.Ordinal);
        Assert.Contains("sleep 60", unknown, StringComparison.Ordinal);
        Assert.Contains("chain --autofree http://10.77.0.2:8080/boot/52:54:00:00:00:99.ipxe", unknown, StringComparison.Ordinal);
        Assert.DoesNotContain("kernel", unknown, StringComparison.Ordinal);

        var (_, status) = await lab.RunAsync("c0", Long, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://10.77.0.2:8080/boot/not-a-mac.ipxe");
        Assert.Equal("400", status.Trim());
    }
}
