using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using ZeroCloud.Init;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Images;
using ZeroCloud.Model.Net;
using ZeroCloud.Model.Pki;
using ZeroCloud.Netboot.Tftp;

namespace ZeroCloud.Node;

/// <summary>What the firmware booted: the interface and its leased address, and the kernel command line of the script.</summary>
internal sealed record FirmwareBoot(string Interface, MacAddress Mac, uint Address, int Prefix, KernelCommandLine CommandLine, string Kernel, string Initrd, string CommandLineText, byte[] InitrdBytes, string RootPem);

/// <summary>
/// <c>zc-node --firmware &lt;ifname&gt;</c>: what a bare server's PXE firmware and iPXE do, over the real network, for a
/// virtual server of <c>zc up</c>. DHCPDISCOVER as PXE firmware (options 60, 93, 97), TFTP download of the boot file
/// the offer names, DHCP again as iPXE (user class <c>iPXE</c>), the HTTP script it is given (following
/// <c>chain</c>, obeying <c>sleep</c>), then the script's kernel and initrd, each checked against the sha256 in the
/// image's manifest.json beside them. Then the "kernel" starts: the caller runs the node agent with the script's
/// command line (zc.control, zc.token, zc.name). Each step is one line on stdout, prefixed <c>firmware:</c>.
/// </summary>
internal static class Firmware
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(60) };

    public static async Task<FirmwareBoot> BootAsync(string ifname, Action<string> log, Action<BootEvent> report, CancellationToken ct)
    {
        if (!File.Exists($"/sys/class/net/{ifname}/address") || !MacAddress.TryParse((await File.ReadAllTextAsync($"/sys/class/net/{ifname}/address", ct).ConfigureAwait(false)).Trim(), out var mac))
        {
            throw new InvalidOperationException($"firmware: no network interface {ifname}");
        }

        Linux.InterfaceUp(ifname);
        var machineId = new Guid([.. "zcfw"u8, .. mac.ToString().Select(c => (byte)c).Take(12)]);

        // PXE firmware (BIOS, architecture 0): an address and a boot file to fetch by TFTP.
        var pxe = await Task.Run(() => DhcpClient.Acquire(ifname, mac, null, TimeSpan.FromMinutes(5), new PxeIdentity(0, machineId)), ct).ConfigureAwait(false);
        var prefix = 32 - (int)uint.TrailingZeroCount(pxe.Mask == 0 ? 1 : pxe.Mask);
        log($"firmware: dhcp {Ipv4.FromUInt32(pxe.Address)}/{prefix} from {Ipv4.FromUInt32(pxe.Server)}, boot file {pxe.BootFile ?? "(none)"} on {Ipv4.FromUInt32(pxe.NextServer)}");
        report(new BootEvent(BootPhase.Dhcp, DateTime.UtcNow, Address: Ipv4.FromUInt32(pxe.Address).ToString(), Detail: pxe.BootFile));
        if (pxe.BootFile is null || pxe.NextServer == 0)
        {
            throw new InvalidOperationException($"firmware: the DHCP offer from {Ipv4.FromUInt32(pxe.Server)} names no boot file and TFTP server: is netboot running?");
        }

        Linux.SetAddress(ifname, pxe.Address, pxe.Mask);
        var loader = await TftpGetAsync(new IPEndPoint(Ipv4.FromUInt32(pxe.NextServer), 69), pxe.BootFile, ct).ConfigureAwait(false);
        log($"firmware: tftp {pxe.BootFile} {loader.Length} bytes from {Ipv4.FromUInt32(pxe.NextServer)}");
        report(new BootEvent(BootPhase.Tftp, DateTime.UtcNow, Detail: $"{pxe.BootFile} {loader.Length} bytes"));

        // The loader is iPXE: it asks again, saying so, and is given its script's URL.
        var ipxe = await Task.Run(() => DhcpClient.Acquire(ifname, mac, null, TimeSpan.FromMinutes(2), new PxeIdentity(0, machineId, "iPXE")), ct).ConfigureAwait(false);
        if (ipxe.BootFile is not { } script || !Uri.TryCreate(script, UriKind.Absolute, out var url) || url.Scheme != "http")
        {
            throw new InvalidOperationException($"firmware: the DHCP answer to iPXE names no HTTP script (got {ipxe.BootFile ?? "nothing"})");
        }

        log($"firmware: ipxe dhcp {Ipv4.FromUInt32(ipxe.Address)}, script {url}");
        report(new BootEvent(BootPhase.Ipxe, DateTime.UtcNow, Address: Ipv4.FromUInt32(ipxe.Address).ToString(), Detail: url.ToString()));
        for (var hops = 0; hops < 20; hops++)
        {
            var text = await Http.GetStringAsync(url, ct).ConfigureAwait(false);
            string? kernel = null, initrd = null, cmdline = null;
            Uri? chain = null;
            foreach (var raw in text.Split('\n'))
            {
                var line = raw.Trim();
                var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (words.Length == 0 || line.StartsWith('#'))
                {
                    continue;
                }

                switch (words[0])
                {
                    case "echo":
                        log($"firmware: script says: {line[4..].Trim()}");
                        break;
                    case "sleep" when words.Length > 1 && int.TryParse(words[1], System.Globalization.CultureInfo.InvariantCulture, out var seconds):
                        await Task.Delay(TimeSpan.FromSeconds(Math.Clamp(seconds, 0, 300)), ct).ConfigureAwait(false);
                        break;
                    case "kernel" when words.Length > 1:
                        kernel = words[1];
                        cmdline = string.Join(' ', words.Skip(2));
                        break;
                    case "initrd" when words.Length > 1:
                        initrd = words[1];
                        break;
                    case "chain" when kernel is null:
                        chain = new Uri(url, words.Last());
                        break;
                }

                if (words[0] == "boot" || chain is not null)
                {
                    break;
                }
            }

            if (kernel is not null && initrd is not null)
            {
                var kernelUrl = new Uri(url, kernel);
                var initrdUrl = new Uri(url, initrd);
                var parsed = KernelCommandLine.Parse(cmdline ?? "");
                var (kernelBytes, initrdBytes, root) = await FetchVerifiedAsync(kernelUrl, initrdUrl, parsed, ct).ConfigureAwait(false);
                log($"firmware: http {kernelUrl} {kernelBytes} bytes and {initrdUrl} {initrdBytes.Length} bytes, signed by the cluster, sha256 as in the signed manifest.json");
                report(new BootEvent(BootPhase.Http, DateTime.UtcNow, Detail: $"{kernelBytes + initrdBytes.Length} bytes"));
                return new FirmwareBoot(ifname, mac, ipxe.Address, prefix, parsed, kernelUrl.ToString(), initrdUrl.ToString(), cmdline ?? "", initrdBytes, root);
            }

            url = chain ?? throw new InvalidOperationException($"firmware: the script at {url} neither boots a kernel nor chains on");
        }

        throw new InvalidOperationException("firmware: more than 20 chained scripts");
    }

    /// <summary>
    /// Checks the node image's manifest.json against its signature (manifest.sig beside it) and the cluster's root, pinned by
    /// the script's zc.ca= and fetched from its zc.control= members, then downloads the kernel and initrd and compares their
    /// sha256 with the signed manifest. Returns the kernel's size, the initrd (the agent runs the zc-node inside it) and the
    /// root (PEM), which matched the pin, for the agent.
    /// </summary>
    private static async Task<(long, byte[], string)> FetchVerifiedAsync(Uri kernel, Uri initrd, KernelCommandLine cmdline, CancellationToken ct)
    {
        var manifestBytes = await Http.GetByteArrayAsync(new Uri(kernel, "manifest.json"), ct).ConfigureAwait(false);
        using var sigResponse = await Http.GetAsync(new Uri(kernel, "manifest.sig"), ct).ConfigureAwait(false);
        if (sigResponse.StatusCode == HttpStatusCode.NotFound)
        {
            throw new InvalidOperationException($"firmware: the node image at {new Uri(kernel, ".")} is not signed (no manifest.sig beside its manifest.json: netboot serves a local build, not the catalogue's); not booting it");
        }

        sigResponse.EnsureSuccessStatusCode();
        var signature = Convert.FromBase64String((await sigResponse.Content.ReadAsStringAsync(ct).ConfigureAwait(false)).Trim());
        if (cmdline["ca"] is not { Length: > 0 } pin)
        {
            throw new InvalidOperationException("firmware: the boot script's command line has no zc.ca= (the cluster root's fingerprint) to check the node image's signature with");
        }

        // The root: beside the manifest (netboot serves the one its agent trusts; public, and checked against the pin
        // here), else from a control-plane member over TLS.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var trust = ClusterTrust.Pinned(pin);
        using var rootResponse = await Http.GetAsync(new Uri(kernel, "cluster-root.crt"), ct).ConfigureAwait(false);
        var accepted = rootResponse.IsSuccessStatusCode && trust.Accept(await rootResponse.Content.ReadAsStringAsync(ct).ConfigureAwait(false));
        if (!accepted && !await trust.LearnRootAsync(AgentSettings.List(cmdline["control"]), ct).ConfigureAwait(false))
        {
            throw new InvalidOperationException($"firmware: no control-plane member served the cluster root {pin[..16]}… to check the node image's signature with");
        }

        var learned = clock.Elapsed.TotalMilliseconds;
        var digest = ImageManifest.DigestOf(manifestBytes);
        if (ImageSigning.Problem(manifestBytes, signature, trust.Root!, $"firmware: the node image {digest}") is { } unsigned)
        {
            throw new InvalidOperationException(unsigned);
        }

        var verified = clock.Elapsed.TotalMilliseconds - learned;
        Console.WriteLine($"firmware: the node image {digest} is signed by the cluster (root in {learned:0} ms, signature checked in {verified:0} ms)");
        var manifest = ImageManifest.Parse(manifestBytes, out var problem) ?? throw new InvalidOperationException($"firmware: the node image {digest}: {problem}");
        async Task<byte[]?> OneAsync(Uri file, bool keep)
        {
            var name = file.Segments[^1];
            using var response = await Http.GetAsync(file, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            response.EnsureSuccessStatusCode();
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var kept = keep ? new MemoryStream((int)Math.Min(manifest.File(name)?.Size ?? 0, 1L << 30)) : null;
            var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                var buffer = new byte[81920];
                long total = 0;
                int n;
                while ((n = await stream.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                {
                    sha.AppendData(buffer, 0, n);
                    kept?.Write(buffer, 0, n);
                    total += n;
                }

                var got = Convert.ToHexStringLower(sha.GetHashAndReset());
                if (manifest.File(name) is not { } want || want.Sha256 != got)
                {
                    throw new InvalidOperationException($"firmware: {file}: sha256 {got} does not match the signed manifest {digest} ({manifest.File(name)?.Sha256 ?? "not listed"}); not booting it");
                }

                return kept?.ToArray() ?? BitConverter.GetBytes(total);
            }
        }

        var kernelSize = BitConverter.ToInt64(await OneAsync(kernel, keep: false).ConfigureAwait(false));
        return (kernelSize, (await OneAsync(initrd, keep: true).ConfigureAwait(false))!, trust.Root!.ExportCertificatePem() + "\n");
    }

    /// <summary>A TFTP read (RFC 1350) with blksize and tsize (RFC 2348/2349), retrying each packet up to 5 times; packets through <see cref="TftpCodec"/>.</summary>
    internal static async Task<byte[]> TftpGetAsync(IPEndPoint server, string file, CancellationToken ct)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Any, 0));
        const int blockSize = 1456;
        var buffer = new byte[blockSize + TftpCodec.HeaderLength + 64];
        var send = new byte[512];
        var sendLength = TftpCodec.WriteRequest(send, TftpOpcode.ReadRequest, file, "octet", [new("blksize", blockSize.ToString(System.Globalization.CultureInfo.InvariantCulture)), new("tsize", "0")]);
        var data = new MemoryStream();
        EndPoint peer = server;
        var size = 512;
        ushort expected = 1;
        var tries = 0;
        while (true)
        {
            await socket.SendToAsync(send.AsMemory(0, sendLength), peer, ct).ConfigureAwait(false);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(1));
            SocketReceiveFromResult got;
            try
            {
                got = await socket.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0), timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                if (++tries > 5)
                {
                    throw new TimeoutException($"firmware: tftp {file} from {server}: no answer after 5 tries");
                }

                continue;
            }

            tries = 0;
            peer = got.RemoteEndPoint; // the transfer continues from the server's own port
            var packet = buffer.AsSpan(0, got.ReceivedBytes);
            if (TftpCodec.TryParseOptionAck(packet, out var options))
            {
                foreach (var (name, value) in options)
                {
                    if (name.Equals("blksize", StringComparison.OrdinalIgnoreCase) && int.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out var granted))
                    {
                        size = granted;
                    }
                }

                sendLength = TftpCodec.WriteAck(send, 0);
            }
            else if (TftpCodec.TryParseData(packet, out var block, out var payload))
            {
                if (block == expected)
                {
                    data.Write(payload);
                    expected++;
                }

                sendLength = TftpCodec.WriteAck(send, block);
                if (block == (ushort)(expected - 1) && payload.Length < size)
                {
                    await socket.SendToAsync(send.AsMemory(0, sendLength), peer, ct).ConfigureAwait(false);
                    return data.ToArray();
                }
            }
            else if (TftpCodec.TryParseError(packet, out var code, out var message))
            {
                throw new InvalidOperationException($"firmware: tftp {file} from {server}: {message} ({code})");
            }
        }
    }
}
