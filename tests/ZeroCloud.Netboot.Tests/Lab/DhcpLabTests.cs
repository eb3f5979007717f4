using System.Globalization;
using System.Text.RegularExpressions;
using Xunit.Abstractions;
using ZeroCloud.Lab;
using ZeroCloud.Model.Net;
using ZeroCloud.Netboot.Dhcp;
using ZeroCloud.Netboot.Tests.Dhcp;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Netboot.Tests.Lab;

[CollectionDefinition("lab", DisableParallelization = true)]
[Trait("Category", "Lab")]
public sealed class LabTestGroup;

/// <summary>
/// The real zc-dhcp binary in a namespace lab against real clients: ISC dhclient, Kea's perfdhcp, Kea itself.
/// </summary>
[Collection("lab")]
public sealed partial class DhcpLabTests(ITestOutputHelper log)
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(60);

    private static string Cluster(string subnet, string range, string leaseTime = "1h", string mode = "full") => $$"""
        apiVersion: zerocloud.io/v1
        kind: Cluster
        metadata: { name: lab }
        spec:
          network:
            interface: eth0
            subnet: {{subnet}}
            gateway: 10.77.0.1
            dns: [10.77.0.1, 10.77.0.3]
            domain: lab.test
            dhcp: { mode: {{mode}}, {{(mode == "full" ? $"range: {range}, " : "")}}leaseTime: {{leaseTime}} }
        """;

    private static async Task<LabProcess> StartServerAsync(NetnsLab lab, string yaml, string host = "srv")
    {
        var config = lab.PathOf("cluster.yaml");
        await File.WriteAllTextAsync(config, yaml);
        var server = lab.Start(host, "dotnet", NetnsLab.ServiceBinary("ZeroCloud.Dhcp.Service", "zc-dhcp.dll"), "-f", config, "--interface", "eth0", "--data", lab.PathOf("dhcp"));
        await server.WaitForLineAsync(l => l.Contains(" mode on eth0 as ", StringComparison.Ordinal), Long, what: "the server's start line");
        return server;
    }

    private static List<Lease> LeaseLog(NetnsLab lab) =>
        [.. File.ReadAllLines(lab.PathOf("dhcp/leases.log")).Select(l => FileLeaseStore.TryParse(l, out var lease) ? lease : throw new InvalidDataException($"bad lease line: {l}"))];

    /// <summary>Replays the lease log in order: an address never passes to another client while the previous holder's lease stands.</summary>
    private static void AssertNoAddressHandedOutTwice(IEnumerable<Lease> log)
    {
        var holders = new Dictionary<uint, Lease>();
        foreach (var lease in log)
        {
            if (holders.TryGetValue(lease.Address, out var before) && before.ClientKey != lease.ClientKey && before.State == LeaseState.Bound)
            {
                Assert.Fail($"{Ipv4.FromUInt32(lease.Address)} went to {lease.ClientKey} while {before.ClientKey} held it");
            }

            holders[lease.Address] = lease;
        }
    }

    [LabFact]
    public async Task Dhclient_gets_an_address_with_router_and_dns_renews_and_releases()
    {
        await using var lab = await NetnsLab.CreateAsync("srv", "cl");
        await lab.AddressAsync("srv", "10.77.0.2/24");
        await lab.MacAsync("cl", "52:54:00:00:10:01");
        await StartServerAsync(lab, Cluster("10.77.0.0/24", "10.77.0.100-10.77.0.150", leaseTime: "10s"));

        var conf = lab.PathOf("dhclient.conf");
        await File.WriteAllTextAsync(conf, "request subnet-mask, broadcast-address, routers, domain-name, domain-name-servers, host-name, ntp-servers;\n");
        var leaseFile = lab.PathOf("dhclient.leases");
        var client = lab.Start("cl", "dhclient", "-d", "-v", "-cf", conf, "-lf", leaseFile, "-pf", lab.PathOf("dhclient.pid"), "-sf", "/bin/true", "eth0");
        var bound = await client.WaitForLineAsync(l => l.StartsWith("bound to ", StringComparison.Ordinal), Long, what: "a lease");
        var address = BoundAddress().Match(bound).Groups[1].Value;
        Assert.True(Ipv4.TryParse(address, out var ip) && Ipv4.ToUInt32(ip) is >= 0x0A4D0064 and <= 0x0A4D0096, $"{address} is outside the range");

        var leases = await File.ReadAllTextAsync(leaseFile);
        Assert.Contains("option routers 10.77.0.1;", leases, StringComparison.Ordinal);
        Assert.Contains("option domain-name-servers 10.77.0.1,10.77.0.3;", leases, StringComparison.Ordinal);
        Assert.Contains("option subnet-mask 255.255.255.0;", leases, StringComparison.Ordinal);
        Assert.Contains("option domain-name \"lab.test\";", leases, StringComparison.Ordinal);
        Assert.Contains("option ntp-servers 10.77.0.2;", leases, StringComparison.Ordinal);

        // dhclient with -sf /bin/true configures nothing: give eth0 its address so renewals can be unicast.
        await lab.AddressAsync("cl", $"{address}/24");

        // The announced time server answers a real SNTP client (ntpsec's ntpdig): stratum 10, this machine's clock.
        var (sntpCode, sntp) = await lab.RunAsync("cl", Long, "sntp", "-t", "2", "10.77.0.2");
        Assert.True(sntpCode == 0, sntp);
        Assert.Matches(@"[+-]0\.0[0-9]+ \+/- [0-9.]+ 10\.77\.0\.2 s10 ", sntp);
        await client.WaitForLineAsync(l => l.StartsWith($"DHCPREQUEST for {address} on eth0 to 10.77.0.2 port 67", StringComparison.Ordinal), Long, what: "a unicast renewal");
        await client.WaitForLineAsync(l => l.StartsWith($"DHCPACK of {address} from 10.77.0.2", StringComparison.Ordinal), Long, count: 2, what: "the renewal's ACK");
        await client.StopAsync();

        var (code, output) = await lab.RunAsync("cl", Long, "dhclient", "-r", "-v", "-cf", conf, "-lf", leaseFile, "-pf", lab.PathOf("dhclient2.pid"), "-sf", "/bin/true", "eth0");
        Assert.True(code == 0, output);
        Assert.Contains($"DHCPRELEASE of {address} on eth0 to 10.77.0.2 port 67", output, StringComparison.Ordinal);

        // The release is durable: poll the server's lease log, which it appends to and fsyncs.
        using var cts = new CancellationTokenSource(Long);
        while (LeaseLog(lab).LastOrDefault(l => l.Address == Ipv4.ToUInt32(ip))?.State != LeaseState.Released)
        {
            await Task.Delay(100, cts.Token);
        }

        var log = LeaseLog(lab).Where(l => l.Address == Ipv4.ToUInt32(ip)).ToList();
        Assert.True(log.Count(l => l.State == LeaseState.Bound) >= 2, "the renewal extended the lease");
        Assert.Equal(MacAddress.Parse("52:54:00:00:10:01"), log[0].Mac);
    }

    [LabFact]
    public async Task Perfdhcp_500_clients_get_500_unique_addresses()
    {
        await using var lab = await NetnsLab.CreateAsync("srv", "cl");
        await lab.AddressAsync("srv", "10.77.0.2/16");
        await lab.AddressAsync("cl", "10.77.0.9/16");
        await StartServerAsync(lab, Cluster("10.77.0.0/16", "10.77.1.0-10.77.255.254"));
        var (_, output) = await lab.RunAsync("cl", Long, "perfdhcp", "-4", "-l", "eth0", "-r", "200", "-R", "500", "-n", "500", "-u", "-W", "2000000");
        var report = Perfdhcp.Parse(output);
        Assert.True(report.NonUnique == 0, output);
        Assert.True(report.AcksReceived >= 490, $"only {report.AcksReceived} of 500 exchanges completed:\n{output}");
        var log = LeaseLog(lab);
        Assert.Equal(report.AcksReceived, log.Count);
        Assert.Equal(log.Count, log.Select(l => l.Address).Distinct().Count());
        Assert.Equal(log.Count, log.Select(l => l.ClientKey).Distinct().Count());
    }

    public static TheoryData<string, string, string, string> BootClients => new()
    {
        // name, option 60, option 93 (hex), expected boot file
        { "bios", "PXEClient:Arch:00000:UNDI:002001", "0000", "undionly.kpxe" },
        { "uefi", "PXEClient:Arch:00007:UNDI:003016", "0007", "ipxe.efi" },
        { "uefi-http", "HTTPClient:Arch:00016:UNDI:003001", "0010", "http://10.77.0.2:8080/ipxe.efi" },
        { "ipxe", "PXEClient:Arch:00000:UNDI:002001", "0000", "http://10.77.0.2:8080/boot/{mac}.ipxe" },
    };

    [LabTheory]
    [MemberData(nameof(BootClients))]
    public async Task Perfdhcp_posing_as_a_booting_machine_gets_its_boot_file(string name, string vendorClass, string arch, string file)
    {
        await using var lab = await NetnsLab.CreateAsync("srv", "cl");
        await lab.AddressAsync("srv", "10.77.0.2/24");
        await lab.AddressAsync("cl", "10.77.0.9/24");
        await StartServerAsync(lab, Cluster("10.77.0.0/24", "10.77.0.100-10.77.0.150"));
        var capture = lab.PathOf($"{name}.pcap");
        var tcpdump = lab.Start("cl", "tcpdump", "--immediate-mode", "-Z", "root", "-i", "eth0", "-n", "-U", "-w", capture, "udp", "port", "67");
        await tcpdump.WaitForLineAsync(l => l.Contains("listening on", StringComparison.Ordinal), Long, what: "tcpdump to listen");
        var options = new List<string> { "-o", $"60,{Convert.ToHexString(System.Text.Encoding.ASCII.GetBytes(vendorClass))}", "-o", $"93,{arch}", "-o", "97,00" + string.Concat(Enumerable.Repeat("11", 16)) };
        if (name == "ipxe")
        {
            options.AddRange(["-o", $"77,{Convert.ToHexString("iPXE"u8)}"]);
        }

        // Three machines. What the server answered is read from the capture, not from perfdhcp's counters: perfdhcp
        // stops counting a few seconds after its last request, and with the rest of the suite running beside it the
        // server's ACK (sent after the lease is fsynced) came later than that once in CI (3 of 3 REQUEST-ACK "drops").
        var (_, output) = await lab.RunAsync("cl", Long, "perfdhcp", ["-4", "-l", "eth0", "-r", "10", "-R", "3", "-n", "3", "-W", "3000000", .. options]);
        List<DhcpPacket> Replies() => Pcap.ReadUdp(capture).Where(d => d.SourcePort == 67 && d.Source.ToString() == "10.77.0.2")
            .Select(d => Packets.Parse(d.Payload)).ToList();
        for (var waited = System.Diagnostics.Stopwatch.StartNew(); Replies().Count(r => r.MessageType == DhcpMessageType.Ack) < 2; await Task.Delay(200))
        {
            Assert.True(waited.Elapsed < Long, $"fewer than 2 ACKs captured after {Long.TotalSeconds:0} s:\n{output}");
        }

        await tcpdump.StopAsync();
        var replies = Replies();
        Assert.Equal(3, replies.Count(r => r.MessageType == DhcpMessageType.Offer));
        Assert.True(replies.Count(r => r.MessageType == DhcpMessageType.Ack) >= 2, $"{replies.Count} replies");
        foreach (var reply in replies)
        {
            var mac = reply.Mac!.Value.ToString();
            Assert.Equal(file.Replace("{mac}", mac, StringComparison.Ordinal), reply.BootFile);
            Assert.Equal(file.Replace("{mac}", mac, StringComparison.Ordinal), reply.Options.GetString(DhcpOption.BootFileName));
            Assert.Equal(vendorClass.Split(':')[0], reply.Options.GetString(DhcpOption.VendorClassIdentifier));
            Assert.Equal(Packets.Ip("10.77.0.2"), reply.ServerAddress);
        }
    }

    [LabFact]
    public async Task Proxy_mode_beside_kea_adds_boot_information_and_no_addresses()
    {
        await using var lab = await NetnsLab.CreateAsync("kea", "srv", "pxe", "plain");
        await lab.AddressAsync("kea", "10.77.0.3/24");
        await lab.AddressAsync("srv", "10.77.0.2/24");
        var keaConfig = lab.PathOf("kea.json");
        await File.WriteAllTextAsync(keaConfig, $$"""
            { "Dhcp4": {
                "interfaces-config": { "interfaces": [ "eth0" ] },
                "lease-database": { "type": "memfile", "persist": true, "name": "{{lab.PathOf("kea-leases.csv")}}" },
                "valid-lifetime": 3600,
                "subnet4": [ { "id": 1, "subnet": "10.77.0.0/24", "pools": [ { "pool": "10.77.0.100 - 10.77.0.150" } ],
                               "option-data": [ { "name": "routers", "data": "10.77.0.1" } ] } ],
                "loggers": [ { "name": "kea-dhcp4", "output_options": [ { "output": "stdout" } ], "severity": "INFO" } ] } }
            """);
        Environment.SetEnvironmentVariable("KEA_LOCKFILE_DIR", lab.Directory);
        Environment.SetEnvironmentVariable("KEA_PIDFILE_DIR", lab.Directory);
        var kea = lab.Start("kea", "kea-dhcp4", "-c", keaConfig);
        await kea.WaitForLineAsync(l => l.Contains("DHCP4_STARTED", StringComparison.Ordinal), Long, what: "Kea to start");
        await StartServerAsync(lab, Cluster("10.77.0.0/24", "", mode: "proxy"));

        var pxeConf = lab.PathOf("pxe.conf");
        await File.WriteAllTextAsync(pxeConf, """
            option pxe-arch code 93 = unsigned integer 16;
            send vendor-class-identifier "PXEClient:Arch:00000:UNDI:002001";
            send pxe-arch 0;
            request subnet-mask, routers;
            """);
        var capture = lab.PathOf("proxy.pcap");
        var tcpdump = lab.Start("pxe", "tcpdump", "--immediate-mode", "-Z", "root", "-i", "eth0", "-n", "-U", "-w", capture, "udp", "port", "67", "or", "udp", "port", "68");
        await tcpdump.WaitForLineAsync(l => l.Contains("listening on", StringComparison.Ordinal), Long, what: "tcpdump to listen");
        var (code, output) = await lab.RunAsync("pxe", Long, "dhclient", "-1", "-v", "-cf", pxeConf, "-lf", lab.PathOf("pxe.leases"), "-pf", lab.PathOf("pxe.pid"), "-sf", "/bin/true", "eth0");
        Assert.True(code == 0, output);
        Assert.Matches(@"bound to 10\.77\.0\.1[0-5]\d", output);

        // The client may be done before the proxy's answer (it does not need it to get an address): wait for it.
        using (var cts = new CancellationTokenSource(Long))
        {
            while (!Pcap.ReadUdp(capture).Any(d => d.SourcePort == 67 && d.Source.ToString() == "10.77.0.2"))
            {
                await Task.Delay(100, cts.Token);
            }
        }

        await tcpdump.StopAsync();

        var replies = Pcap.ReadUdp(capture).Where(d => d.SourcePort == 67).Select(d => (d.Source.ToString(), Packet: Packets.Parse(d.Payload))).ToList();
        var ours = replies.Where(r => r.Item1 == "10.77.0.2").Select(r => r.Packet).ToList();
        var keas = replies.Where(r => r.Item1 == "10.77.0.3").Select(r => r.Packet).ToList();
        Assert.True(keas.Any(r => r.MessageType == DhcpMessageType.Offer && r.YourAddress != 0), $"no offer from Kea; captured from {string.Join(", ", replies.Select(r => r.Item1 + " " + r.Packet.MessageType))}; Kea said:\n{kea.Output}");
        var offer = Assert.Single(ours, r => r.MessageType == DhcpMessageType.Offer);
        Assert.Equal(0u, offer.YourAddress);
        Assert.Equal("undionly.kpxe", offer.BootFile);
        Assert.Equal("PXEClient", offer.Options.GetString(DhcpOption.VendorClassIdentifier));
        Assert.Equal(Packets.Ip("10.77.0.2"), offer.Options.GetAddress(DhcpOption.ServerIdentifier));
        Assert.False(offer.Options.Contains(DhcpOption.LeaseTime));

        // A machine that is not PXE-booting hears nothing from the proxy.
        var plainCapture = lab.PathOf("plain.pcap");
        var plainDump = lab.Start("plain", "tcpdump", "--immediate-mode", "-Z", "root", "-i", "eth0", "-n", "-U", "-w", plainCapture, "udp", "port", "67", "or", "udp", "port", "68");
        await plainDump.WaitForLineAsync(l => l.Contains("listening on", StringComparison.Ordinal), Long, what: "tcpdump to listen");
        (code, output) = await lab.RunAsync("plain", Long, "dhclient", "-1", "-v", "-lf", lab.PathOf("plain.leases"), "-pf", lab.PathOf("plain.pid"), "-sf", "/bin/true", "eth0");
        Assert.True(code == 0, output);
        await plainDump.StopAsync();
        Assert.DoesNotContain(Pcap.ReadUdp(plainCapture), d => d.SourcePort == 67 && d.Source.ToString() == "10.77.0.2");
    }

    [LabFact]
    public async Task Restart_keeps_every_lease()
    {
        await using var lab = await NetnsLab.CreateAsync("srv", "cl");
        await lab.AddressAsync("srv", "10.77.0.2/16");
        await lab.AddressAsync("cl", "10.77.0.9/16");
        var yaml = Cluster("10.77.0.0/16", "10.77.1.0-10.77.1.255");
        var server = await StartServerAsync(lab, yaml);
        var (_, first) = await lab.RunAsync("cl", Long, "perfdhcp", "-4", "-l", "eth0", "-r", "100", "-R", "150", "-n", "150", "-u", "-W", "2000000", "-b", "mac=52:54:00:01:00:00");
        var held = Perfdhcp.Parse(first).AcksReceived;
        Assert.True(held >= 140, first);
        await server.StopAsync();
        Assert.Equal(0, server.ExitCode);

        server = await StartServerAsync(lab, yaml);
        await server.WaitForLineAsync(l => l.Contains($", {held} leases loaded", StringComparison.Ordinal), Long, what: $"{held} leases loaded");
        // 256 addresses, 150 held: a second wave of 150 new clients can get at most the 106 left, never a held one.
        var (_, second) = await lab.RunAsync("cl", Long, "perfdhcp", "-4", "-l", "eth0", "-r", "100", "-R", "150", "-n", "150", "-W", "2000000", "-b", "mac=52:54:00:02:00:00");
        var added = Perfdhcp.Parse(second).AcksReceived;
        Assert.InRange(added, 1, 256 - held);
        var log = LeaseLog(lab);
        Assert.Equal(held + added, log.Count);
        AssertNoAddressHandedOutTwice(log);
    }

    private static string Tail(string text, int lines = 40) => string.Join('\n', text.Split('\n').TakeLast(lines));

    [GeneratedRegex(@"^bound to (\S+)")]
    private static partial Regex BoundAddress();

    [LabFact]
    public async Task Two_replicas_sharing_the_cluster_store_never_lease_one_address_to_two_clients()
    {
        await using var lab = await NetnsLab.CreateAsync("srv1", "srv2", "cl");
        await lab.AddressAsync("srv1", "10.77.0.2/16");
        await lab.AddressAsync("srv2", "10.77.0.3/16");
        await lab.AddressAsync("cl", "10.77.0.9/16");

        // A one-member control plane in srv1; both replicas keep their leases there.
        var control = lab.Start("srv1", "dotnet", NetnsLab.ServiceBinary("ZeroCloud.Cli", "zc.dll", "cli"), "serve", "control", "--data", lab.PathOf("control"), "--listen", "10.77.0.2:7070", "--bootstrap");
        await control.WaitForLineAsync(l => l.Contains("serving the API", StringComparison.Ordinal), Long, what: "the control plane");
        await NetnsLab.AdminCredentialAsync(lab.PathOf("control"));
        var config = lab.PathOf("cluster.yaml");
        await File.WriteAllTextAsync(config, Cluster("10.77.0.0/16", "10.77.1.1-10.77.1.250"));
        var replicas = new List<LabProcess>();
        foreach (var host in new[] { "srv1", "srv2" })
        {
            // The replicas write leases with a credential (here the admin's; an agent gives its node's key).
            var replica = lab.Start(host, "dotnet", NetnsLab.ServiceBinary("ZeroCloud.Dhcp.Service", "zc-dhcp.dll"), "-f", config, "--interface", "eth0", "--store", "https://10.77.0.2:7070", "--token-file", Path.Combine(lab.PathOf("control"), "admin-credential"), "--ca-file", Path.Combine(lab.PathOf("control"), "pki", "root.crt"));
            await replica.WaitForLineAsync(l => l.Contains(" mode on eth0 as ", StringComparison.Ordinal), Long, what: $"the {host} replica");
            replicas.Add(replica);
        }

        var capture = lab.PathOf("acks.pcap");
        var tcpdump = lab.Start("cl", "tcpdump", "--immediate-mode", "-Z", "root", "-i", "eth0", "-n", "-U", "-w", capture, "udp", "port", "67");
        await tcpdump.WaitForLineAsync(l => l.Contains("listening on", StringComparison.Ordinal), Long, what: "tcpdump to listen");
        var (_, output) = await lab.RunAsync("cl", Long, "perfdhcp", "-4", "-l", "eth0", "-r", "100", "-R", "200", "-n", "200", "-W", "2000000");
        await Task.Delay(500);
        await tcpdump.StopAsync();

        // Every ACK on the wire, from either replica: one client per address.
        var acks = Pcap.ReadUdp(capture).Where(d => d.SourcePort == 67 && d.Source.ToString() is "10.77.0.2" or "10.77.0.3").Select(d => (d.Source.ToString(), Packet: Packets.Parse(d.Payload)))
            .Where(r => r.Packet.MessageType == DhcpMessageType.Ack).ToList();
        log.WriteLine($"ACKs on the wire: {acks.Count} (srv1 {acks.Count(a => a.Item1 == "10.77.0.2")}, srv2 {acks.Count(a => a.Item1 == "10.77.0.3")}); perfdhcp matched {Perfdhcp.Parse(output).AcksReceived} of 200 within its wait");
        Assert.True(acks.Count >= 100, $"{acks.Count} ACKs:\n{output}\nthe srv1 replica said:\n{Tail(replicas[0].Output)}\nthe srv2 replica said:\n{Tail(replicas[1].Output)}\nthe control member said:\n{Tail(control.Output)}");
        var owners = acks.GroupBy(a => a.Packet.YourAddress).ToDictionary(g => g.Key, g => g.Select(a => a.Packet.Mac).Distinct().ToList());
        var shared = owners.Where(o => o.Value.Count > 1).Select(o => $"{o.Key} to {string.Join(" and ", o.Value)}").ToList();
        Assert.True(shared.Count == 0, $"addresses ACKed to two clients: {string.Join("; ", shared)}");
        Assert.Equal(2, acks.Select(a => a.Item1).Distinct().Count());

        // The store holds one lease per ACKed address, with the client that got it.
        var (_, json) = await lab.RunAsync("srv1", Long, "curl", "-s", "-m", "10", "--cacert", Path.Combine(lab.PathOf("control"), "pki", "root.crt"), "-H", $"Authorization: Bearer {await NetnsLab.AdminCredentialAsync(lab.PathOf("control"))}", "https://10.77.0.2:7070/v1/kv/zc/leases/?prefix=true");
        var stored = System.Text.Json.JsonDocument.Parse(json).RootElement.GetProperty("kvs").EnumerateArray()
            .Select(kv => ClusterLeaseStore.Decode(kv.GetProperty("value").GetString()!)!).ToDictionary(l => l.Address);
        foreach (var (address, macs) in owners)
        {
            Assert.Equal(macs[0], stored[address].Mac);
        }
    }
}

/// <summary>The figures from a perfdhcp report.</summary>
internal sealed partial record Perfdhcp(int AcksReceived, int NonUnique, double Rate)
{
    public static Perfdhcp Parse(string output)
    {
        var ack = output.IndexOf("REQUEST-ACK", StringComparison.Ordinal);
        var acks = ack < 0 ? 0 : int.Parse(Received().Match(output, ack).Groups[1].Value, CultureInfo.InvariantCulture);
        var nonUnique = NonUniqueRegex().Matches(output).Sum(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
        var rate = RateRegex().Match(output) is { Success: true } r ? double.Parse(r.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        return new Perfdhcp(acks, nonUnique, rate);
    }

    [GeneratedRegex(@"received packets: (\d+)")]
    private static partial Regex Received();

    [GeneratedRegex(@"non unique addresses: (\d+)")]
    private static partial Regex NonUniqueRegex();

    [GeneratedRegex(@"Rate: ([\d.]+)")]
    private static partial Regex RateRegex();
}
