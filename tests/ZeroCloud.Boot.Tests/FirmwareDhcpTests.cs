using ZeroCloud.TestSupport;

namespace ZeroCloud.Boot.Tests;

/// <summary>The firmware's DHCP client against a server that answers late, as ours does on a busy cluster.</summary>
[Collection("lab")]
[Trait("Category", "Lab")]
public sealed class FirmwareDhcpTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(60);

    /// <summary>
    /// A DHCP server in Python that offers 10.77.0.50 with a boot file, never answers the first REQUEST of a transaction
    /// (its commit is "slow") and ACKs the one sent again; it writes one line per message it got (type and xid).
    /// </summary>
    private const string SlowServer = """
        import socket, struct, sys
        log = open(sys.argv[1], "a", buffering=1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, 25, b"eth0\0")
        s.bind(("0.0.0.0", 67))
        print("listening", flush=True)
        requests = {}
        def reply(req, kind):
            xid, chaddr = req[4:8], req[28:44]
            out = bytearray(240)
            out[0:4] = bytes([2, 1, 6, 0]); out[4:8] = xid; out[10:12] = req[10:12]
            out[16:20] = socket.inet_aton("10.77.0.50"); out[20:24] = socket.inet_aton("10.77.0.2")
            out[28:44] = chaddr; out[108:121] = b"undionly.kpxe"
            out[236:240] = bytes([99, 130, 83, 99])
            out += bytes([53, 1, kind, 54, 4]) + socket.inet_aton("10.77.0.2") + bytes([1, 4, 255, 255, 255, 0, 51, 4, 0, 0, 14, 16, 255])
            s.sendto(out, ("255.255.255.255", 68))
        while True:
            req, _ = s.recvfrom(1500)
            if req[0] != 1 or len(req) < 244: continue
            opts, i, kind = req[240:], 0, 0
            while i < len(opts) and opts[i] != 255:
                if opts[i] == 0: i += 1; continue
                if opts[i] == 53: kind = opts[i + 2]
                i += 2 + opts[i + 1]
            xid = req[4:8].hex()
            log.write(f"{kind} {xid}\n")
            if kind == 1: reply(req, 2)
            elif kind == 3:
                requests[xid] = requests.get(xid, 0) + 1
                if requests[xid] >= 2: reply(req, 5)
        """;

    [LabFact]
    public async Task A_request_answered_late_is_sent_again_in_the_same_transaction_and_its_ack_is_taken()
    {
        await using var lab = await NetnsLab.CreateAsync("srv", "host");
        await lab.AddressAsync("srv", "10.77.0.2/24");
        await lab.MacAsync("host", "52:54:00:00:00:21");
        var messages = lab.PathOf("dhcp-messages");
        var server = lab.Start("srv", "/usr/bin/python3", "-c", SlowServer, messages);
        await server.WaitForLineAsync(l => l.Contains("listening", StringComparison.Ordinal), Long, what: "the slow DHCP server");

        // The firmware gets its address, then fails at TFTP (no TFTP server here): its DHCP line is what is checked.
        var firmware = lab.Start("host", "dotnet", NetnsLab.ServiceBinary("ZeroCloud.Node", "zc-node.dll", "node"), "--firmware", "eth0", "--data", lab.PathOf("node"), "--block-devices", "none");
        await firmware.WaitForLineAsync(l => l.Contains("firmware: dhcp 10.77.0.50/24 from 10.77.0.2, boot file undionly.kpxe", StringComparison.Ordinal), Long, what: "the firmware's lease");
        await firmware.StopAsync();
        await server.StopAsync();

        // One DISCOVER, and the REQUEST twice with its xid: the late ACK ended the transaction, no new DISCOVER began.
        var got = (await File.ReadAllLinesAsync(messages)).Select(l => l.Split(' ')).ToList();
        Assert.True(got.Count(m => m[0] == "1") == 1, string.Join("; ", got.Select(m => string.Join(' ', m))));
        var requests = got.Where(m => m[0] == "3").ToList();
        Assert.Equal(2, requests.Count);
        Assert.Equal(got.First(m => m[0] == "1")[1], requests[0][1]);
        Assert.Equal(requests[0][1], requests[1][1]);
    }
}
