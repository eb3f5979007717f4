using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using ZeroCloud.Cli.Up;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Config;

namespace ZeroCloud.Cli;

/// <summary>
/// <c>zc up</c>: the whole cloud on this machine, the way it comes up on a rack. A lab network (bridge + namespaces),
/// a seed node (a one-member control plane that applies cluster.yaml, and an agent that runs what is placed on it:
/// dhcp, netboot, ...), then N virtual bare servers that boot over the lab network like real firmware does
/// (<c>zc-node --firmware</c>: PXE DHCP, TFTP, iPXE DHCP, HTTP script, kernel and initrd) and join. It waits until
/// every node is Ready and every service is at its replicas. <c>zc down</c> removes all of it.
/// </summary>
internal static class UpCommand
{
    private const string SeedName = BringUpMonitor.SeedName;

    public static IEnumerable<Command> Build()
    {
        var file = new Option<string>("--file", "-f") { Description = "The cluster.yaml to bring up.", DefaultValueFactory = _ => "cluster.yaml", HelpName = "path" };
        var nodes = new Option<int?>("--nodes", "-n") { Description = "How many virtual bare servers to power on (default: the known nodes of cluster.yaml, at least 3).", HelpName = "N" };
        var vm = new Option<int>("--vm") { Description = "How many of the servers are QEMU machines (the last ones; UEFI and BIOS in turn, known machines with a BMC first) that PXE-boot the node image with real firmware; the others are emulated (zc-node doing the firmware's work).", HelpName = "N" };
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for every node Ready and every service at its replicas.", DefaultValueFactory = _ => 600 };
        var inLab = new Option<bool>("--in-lab") { Hidden = true };
        var up = new Command("up", "Bring up the cluster on this machine: a lab network, a seed node and N virtual bare servers that PXE-boot and join.") { file, nodes, vm, timeout, inLab };
        up.SetAction((parse, ct) => parse.GetValue(inLab)
            ? InLabAsync(parse.GetValue(file)!, parse.GetValue(timeout), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, ct)
            : UpAsync(parse.GetValue(file)!, parse.GetValue(nodes), parse.GetValue(vm), parse.GetValue(timeout), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, ct));
        yield return up;
        yield return DownCommand.Build();
        yield return LabCommand.Build();
    }

    private static async Task<int> UpAsync(string path, int? count, int vms, int timeout, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        // Nothing is touched before the file is valid.
        if (!ConfigFile.TryLoad(path, stderr, out var result))
        {
            return ZcCommand.UsageError;
        }

        if (!result.IsValid)
        {
            foreach (var d in result.Diagnostics)
            {
                stderr.WriteLine(d);
            }

            stderr.WriteLine($"zc up: {path} is not valid; nothing was started");
            return ZcCommand.Failed;
        }

        var config = result.Config!;
        if (!config.Spec.Services.Any(x => x.Image == "builtin/storage"))
        {
            stderr.WriteLine($"zc up: {path} has no service with image builtin/storage: every server but the seed gets the images it runs from the cluster's store (add one, e.g. - {{ name: storage, image: builtin/storage, replicas: 1 }})");
            return ZcCommand.Failed;
        }


        if (Environment.UserName != "root")
        {
            stderr.WriteLine("zc up: it builds network namespaces and a bridge: run it as root");
            return ZcCommand.UsageError;
        }

        var cluster = config.Metadata.Name;
        if (Lab.Load(cluster) is { } running)
        {
            if (await Lab.NamespaceExistsAsync(running.SeedNamespace).ConfigureAwait(false))
            {
                stderr.WriteLine($"zc up: the lab of cluster {cluster} is already running ({running.Servers.Count} servers, since {running.Started:u}); look at it with zc get nodes, remove it with zc down");
                return ZcCommand.Failed;
            }

            await Lab.RemoveAsync(cluster).ConfigureAwait(false); // left over from an interrupted run
        }

        var directory = Lab.DirectoryOf(cluster);
        if (LabPlan.Make(config, count, vms, directory, Lab.Prefix(cluster), out var problem, out var usage) is not { } plan)
        {
            stderr.WriteLine($"zc up: {problem}");
            return usage ? ZcCommand.UsageError : ZcCommand.Failed;
        }

        if (plan.Servers.Any(x => x.IsVm) && MissingForVms(plan) is { } missing)
        {
            stderr.WriteLine($"zc up: --vm {vms}: {missing}");
            return ZcCommand.Failed;
        }

        // The binaries the lab runs: built once, reused after.
        var clock = Stopwatch.StartNew();
        if (!await Artifacts.EnsureAsync(stdout, stderr).ConfigureAwait(false))
        {
            return ZcCommand.Failed;
        }

        Directory.CreateDirectory(directory);
        var network = config.Spec.Network;
        var (seed, seedNamespace, list, servers) = (plan.SeedAddress, plan.SeedNamespace, plan.Servers, plan.Servers.Count);
        var state = plan.ToState($"{Lab.Prefix(cluster)}-sw", DateTime.UtcNow);
        Lab.Save(state);
        stdout.WriteLine($"zc up: cluster {cluster}: lab network {network.Subnet} (bridge + {servers + 1} namespaces), seed {seed} on {network.Interface}, {servers} virtual bare servers"
            + (vms > 0 ? $" ({vms} of them QEMU machines: {string.Join(", ", list.Where(x => x.IsVm).Select(x => $"{x.Id} {x.Firmware!.ToUpperInvariant()}{(x.Bmc is { } b ? $" with a BMC at https://{(b.EndsWith(":443", StringComparison.Ordinal) ? b[..^4] : b)}/redfish/v1" : "")}"))})" : ""));
        try
        {
            await Lab.CreateAsync(cluster, seedNamespace, network.Interface, list, _ => { }).ConfigureAwait(false);
            var (code, output) = await Lab.RunAsync("ip", ["-n", seedNamespace, "addr", "add", $"{seed}/{network.Subnet.PrefixLength}", "dev", network.Interface]).ConfigureAwait(false);
            if (code != 0)
            {
                throw new InvalidOperationException(output);
            }
        }
        catch (InvalidOperationException ex)
        {
            stderr.WriteLine($"zc up: building the lab network failed: {ex.Message}; removing what was made");
            await Lab.RemoveAsync(cluster).ConfigureAwait(false);
            return ZcCommand.Failed;
        }

        stdout.WriteLine($"zc up: lab network ready in {clock.Elapsed.TotalSeconds:0.0} s");
        stdout.Flush();

        // The rest runs inside the seed's namespace, where the cluster's addresses are.
        var psi = new ProcessStartInfo("ip") { UseShellExecute = false };
        foreach (var a in (string[])["netns", "exec", seedNamespace, .. Artifacts.SelfCommand(), "up", "--in-lab", "-f", Path.GetFullPath(path), "--timeout", timeout.ToString(CultureInfo.InvariantCulture)])
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["ZC_UP_STARTED"] = DateTime.UtcNow.Subtract(clock.Elapsed).ToString("O", CultureInfo.InvariantCulture);
        using var inner = Process.Start(psi)!;
        await inner.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        return inner.ExitCode;
    }

    /// <summary>Inside the seed's namespace: start the seed node and the servers, then watch until done.</summary>
    private static async Task<int> InLabAsync(string path, int timeout, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var result = ClusterConfigLoader.LoadFile(path, path);
        var config = result.Config!;
        var cluster = config.Metadata.Name;
        var state = Lab.Load(cluster) ?? throw new InvalidOperationException($"no lab state for {cluster}");
        var started = Environment.GetEnvironmentVariable("ZC_UP_STARTED") is { } s ? DateTime.Parse(s, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind) : DateTime.UtcNow;
        var seedDir = Path.Combine(state.Directory, SeedName);
        Directory.CreateDirectory(seedDir);
        // The seed makes the cluster's CA; zc up trusts its root once the member wrote it.
        var caFile = Path.Combine(seedDir, "control", "pki", "root.crt");
        ControlClient? client = null;

        // The seed: a one-member control plane named after the seed node, so that the cluster grows its own voters.
        // It runs from a copy in the seed's folder: a single-file .NET app loads its assemblies from its own file by path,
        // lazily, so a build folder moved or rebuilt under it broke the first request that needed a new one (seen: the
        // heartbeat of a node, FileNotFoundException for System.Net.Http.Json, after UpTests moved the build folder away).
        var member = Path.Combine(seedDir, "zc-control");
        File.Copy(Artifacts.Binary("control"), member, overwrite: true);
        await Lab.StartDetachedAsync(state.SeedNamespace, Path.Combine(seedDir, "control.log"), member, ["--data", Path.Combine(seedDir, "control"), "--listen", $"{state.SeedAddress}:7070", "--name", SeedName, "--bootstrap"]).ConfigureAwait(false);
        string? token = null;
        var deadline = Stopwatch.StartNew();
        while (token is null)
        {
            try
            {
                // The admin credential the bootstrapped member made: the operator's, in the lab's credentials file.
                var adminFile = Path.Combine(seedDir, "control", "admin-credential");
                if (client is null && File.Exists(adminFile) && File.Exists(caFile) && ZeroCloud.Model.SecretFile.Read(adminFile, out _) is { } admin)
                {
                    var trust = ZeroCloud.Model.Pki.ClusterTrust.FromFile(caFile);
                    client = new ControlClient(new Uri(state.Api), trust.Client(TimeSpan.FromSeconds(30))) { Token = admin, RetryRefusalsFor = TimeSpan.FromSeconds(10) };
                    new CredentialsFile(cluster, state.Api, admin, Roles.Admin, trust.Root!.ExportCertificatePem()).Write(Lab.CredentialsPath(cluster));
                }

                if (client is null)
                {
                    throw new ControlApiException(0, ErrorCodes.Unreachable, "the seed has not written its admin credential and CA yet");
                }

                var tokens = await client.TokensAsync(ct).ConfigureAwait(false);
                token = tokens.Tokens.Count > 0 ? $"{tokens.Tokens[0].Id}.{tokens.Tokens[0].Secret}" : null;
            }
            catch (ControlApiException)
            {
                // starting
            }

            if (deadline.Elapsed > TimeSpan.FromSeconds(60))
            {
                stderr.WriteLine($"zc up: the seed's control plane did not answer at {state.Api} within 60 s; its log: {Path.Combine(seedDir, "control.log")}");
                return ZcCommand.Failed;
            }

            await Task.Delay(200, ct).ConfigureAwait(false);
        }

        ArgumentNullException.ThrowIfNull(client);
        await client.ApplyAsync(await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false), Path.GetFileName(path), ct).ConfigureAwait(false);
        var tokenFile = Path.Combine(seedDir, "join-token");
        ZeroCloud.Model.SecretFile.Write(tokenFile, token);
        stdout.WriteLine($"zc up: control plane up at {state.Api}, cluster.yaml applied, join token {token[..token.IndexOf('.', StringComparison.Ordinal)]}.… in {tokenFile}, admin credentials in {Lab.CredentialsPath(cluster)} ({UpView.Since(started)})");

        // The seed sees none of this machine's disks (spec.nodes.disks must never match one of the host's).
        string[] agentArgs = [.. Artifacts.ImageMappings(), "--netboot-root", Artifacts.NetbootRoot];
        await Lab.StartDetachedAsync(state.SeedNamespace, Path.Combine(seedDir, "node.log"), Artifacts.NodeBinary, ["--control", state.Api, "--ca-file", caFile, "--token-file", tokenFile, "--name", SeedName, "--address", state.SeedAddress, "--data", Path.Combine(seedDir, "node"), "--block-devices", "none", .. agentArgs]).ConfigureAwait(false);

        // Wait for the seed's dhcp and netboot before powering the servers on, as an operator would.
        while (true)
        {
            var services = (await client.ServicesAsync(ct).ConfigureAwait(false)).Services;
            if (services.Where(x => x.Image is "builtin/dhcp" or "builtin/netboot" or "builtin/storage").All(x => x.Running > 0))
            {
                break;
            }

            if (deadline.Elapsed > TimeSpan.FromSeconds(120))
            {
                stderr.WriteLine($"zc up: dhcp, netboot and storage did not start on the seed within 120 s; the agent's log: {Path.Combine(seedDir, "node.log")}");
                await WhySeedServicesWaitAsync(client, Path.Combine(seedDir, "node.log"), stderr, ct).ConfigureAwait(false);
                return ZcCommand.Failed;
            }

            await Task.Delay(250, ct).ConfigureAwait(false);
        }

        stdout.WriteLine($"zc up: dhcp, netboot and storage running on the seed ({UpView.Since(started)})");
        // Every image before the first server: a server that joined before an image was in the catalogue would learn of
        // it only at its next read of the catalogue (10 s).
        if (!await PushImagesAsync(client, state, Path.Combine(seedDir, "control", "admin-credential"), caFile, Artifacts.ImageNames, stdout, stderr, ct).ConfigureAwait(false))
        {
            return ZcCommand.Failed;
        }

        stdout.WriteLine($"zc up: images pushed and signed, netboot serves the signed node image; powering on {state.Servers.Count} servers ({UpView.Since(started)})");
        PrepareRom(state);
        await PrepareBmcCredentialsAsync(client, config, state, stdout, ct).ConfigureAwait(false);

        // All at once, as an operator switches a rack on (a few at a time here: each start is a fork of ip netns exec,
        // a shell and its mounts, about 0.3 s on a busy 2-core machine, which one after another spread 100 servers'
        // power-on over 30 s).
        await Parallel.ForEachAsync(state.Servers, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = ct }, async (server, _) =>
        {
            try
            {
                await PowerOnAsync(state, server).ConfigureAwait(false);
            }
            catch (InvalidOperationException ex)
            {
                // A server switched off (or killed) while it is being powered on is a lost server, not a failed zc up:
                // the monitor finds no process in its namespace and reports it with the rest.
                lock (stderr)
                {
                    stderr.WriteLine($"zc up: {server.Id} did not power on ({ex.Message.Trim()}); going on without it");
                }
            }
        }).ConfigureAwait(false);

        return await WatchAsync(client, config, state, started, TimeSpan.FromSeconds(timeout), stdout, stderr, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// How a virtual server starts: in its own mount namespace (ip netns exec gives it one), the lab's folder, the
    /// repository (with its build folder), /var/lib/zerocloud and the host's TLS trust store (/etc/ssl: a machine booted
    /// from the node image has none, and loading the host's 140 roots cost each server's firmware and agent about 50 ms of
    /// CPU apiece) are covered by empty tmpfs mounts, with only the server's own folder put back; then the firmware (a copy of zc-node, the server's "ROM") runs. Whatever the server runs after
    /// that comes over the network. Arguments: its folder, the lab's folder, the ROM's folder, the repository, then the
    /// firmware's options.
    /// </summary>
    private const string ServerScript = """
        set -e
        self="$1"; lab="$2"; rom="$3"; repo="$4"; shift 4
        mount --make-rprivate /
        mount -t tmpfs -o size=1m,mode=0755 zc-stage /mnt
        mkdir /mnt/self /mnt/rom
        mount --bind "$self" /mnt/self
        mount --bind -o ro "$rom" /mnt/rom
        mount -t tmpfs -o size=1m,mode=0755 zc-lab "$lab"
        mkdir -p "$self"
        mount --move /mnt/self "$self"
        mount -t tmpfs -o size=1m,mode=0755 zc-repo "$repo"
        mkdir -p /var/lib/zerocloud
        mount -t tmpfs -o mode=0700 zc-data /var/lib/zerocloud
        if [ -d /etc/ssl ]; then mount -t tmpfs -o size=1m,mode=0755 zc-no-ca /etc/ssl; fi
        exec /mnt/rom/zc-node "$@"
        """;

    /// <summary>
    /// Why the seed's dhcp, netboot or storage is not running: whether the seed node joined, each placement's state and
    /// detail as its agent reported it, and the last lines of the agent's log.
    /// </summary>
    private static async Task WhySeedServicesWaitAsync(ControlClient client, string nodeLog, TextWriter stderr, CancellationToken ct)
    {
        try
        {
            var nodes = (await client.NodesAsync(ct).ConfigureAwait(false)).Nodes;
            stderr.WriteLine(nodes.FirstOrDefault(n => n.Name == SeedName) is { } seed
                ? $"zc up:   node {SeedName}: {seed.Status} since {seed.Since:HH:mm:ss} UTC, images {string.Join(", ", seed.Images ?? [])}"
                : $"zc up:   node {SeedName} has not joined (no heartbeat reached the control plane)");
            var instances = (await client.InstancesAsync(null, ct).ConfigureAwait(false)).Instances;
            foreach (var service in (await client.ServicesAsync(ct).ConfigureAwait(false)).Services.Where(x => x.Image is "builtin/dhcp" or "builtin/netboot" or "builtin/storage"))
            {
                var mine = instances.Where(i => i.Instance.Service == service.Name).ToList();
                stderr.WriteLine($"zc up:   {service.Name}: {service.Placed} placed, {service.Running} running"
                    + string.Concat(mine.Select(i => $"; {i.Instance.Id} on {i.Instance.Node} {i.State?.State.ToString() ?? "Pending"}{(i.State?.Detail is { } d ? $" ({d})" : "")}")));
            }
        }
        catch (ControlApiException ex)
        {
            stderr.WriteLine($"zc up:   the control plane did not answer: {ex.Message}");
        }

        try
        {
            using var stream = new FileStream(nodeLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            var lines = new StreamReader(stream).ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            stderr.WriteLine($"zc up:   the last {Math.Min(20, lines.Length)} lines of {nodeLog}:");
            foreach (var line in lines.TakeLast(20))
            {
                stderr.WriteLine("    " + line);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"zc up:   {nodeLog}: {ex.Message}");
        }
    }

    /// <summary>The virtual servers' firmware: a copy of the build's zc-node in the lab's folder (the servers see no build folder).</summary>
    private static void PrepareRom(LabState state)
    {
        Directory.CreateDirectory(Rom(state));
        File.Copy(Artifacts.NodeBinary, Path.Combine(Rom(state), "zc-node"), overwrite: true);
    }

    private static string Rom(LabState state) => Path.Combine(state.Directory, "rom");

    /// <summary>
    /// Powers a virtual server on: its firmware starts in its namespace, seeing only its own folder (<see cref="ServerScript"/>)
    /// and no block device (the host's disks are never a virtual server's).
    /// </summary>
    /// <summary>What QEMU machines need that this machine lacks (QEMU; OVMF for a UEFI one), or null.</summary>
    private static string? MissingForVms(LabPlan plan)
    {
        if (!OciLoad.OnPath("qemu-system-x86_64"))
        {
            return "qemu-system-x86_64 is not installed (scripts/setup installs qemu-system-x86)";
        }

        if (!File.Exists("/usr/lib/ipxe/qemu/pxe-virtio.rom") || !File.Exists("/usr/lib/ipxe/qemu/efi-virtio.rom"))
        {
            return "QEMU's iPXE ROMs for virtio NICs are missing (/usr/lib/ipxe/qemu; package ipxe-qemu)";
        }

        return plan.Servers.Any(x => x.Firmware == "uefi") && LabVm.Ovmf() is null ? "a UEFI machine needs OVMF (package ovmf; scripts/setup installs it)" : null;
    }

    /// <summary>
    /// Lab BMC credentials for each QEMU machine with a BMC: the secret cluster.yaml names for it when the cluster
    /// already holds one, else a new user:password stored as that secret, so that the cluster's power jobs and the lab's
    /// BMC agree. Written 0600 to the machine's folder for its <c>zc lab machine</c>.
    /// </summary>
    private static async Task PrepareBmcCredentialsAsync(ControlClient client, ClusterConfig config, LabState state, TextWriter stdout, CancellationToken ct)
    {
        foreach (var server in state.Servers.Where(x => x.Bmc is not null))
        {
            var secret = config.Spec.Nodes.Known.First(k => k.Mac.ToString() == server.Mac).Bmc!.Credentials;
            byte[] value;
            if ((await client.SecretsAsync(ct).ConfigureAwait(false)).Secrets.Any(x => x.Name == secret))
            {
                value = await client.SecretAsync(secret, ct).ConfigureAwait(false);
            }
            else
            {
                value = System.Text.Encoding.UTF8.GetBytes($"zc-lab:{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12))}");
                await client.SetSecretAsync(secret, value, null, ct).ConfigureAwait(false);
                stdout.WriteLine($"zc up: secret {secret} holds the lab BMCs' credentials (zc secret get {secret})");
            }

            Directory.CreateDirectory(server.Directory);
            ZeroCloud.Model.SecretFile.Write(Path.Combine(server.Directory, "bmc-credentials"), System.Text.Encoding.UTF8.GetString(value));
        }
    }

    internal static Task PowerOnAsync(LabState state, LabServer server)
    {
        Directory.CreateDirectory(server.Directory);
        if (server.IsVm)
        {
            string[] bmc = server.Bmc is { } at ? ["--bmc", at, "--bmc-credentials", Path.Combine(server.Directory, "bmc-credentials")] : [];
            return Lab.StartDetachedAsync(server.Namespace, Path.Combine(server.Directory, "node.log"), Artifacts.SelfCommand()[0], [.. Artifacts.SelfCommand().Skip(1), "lab", "machine", "--name", server.Id, "--mac", server.Mac, "--firmware", server.Firmware!, "--dir", server.Directory, "--prefix", server.BmcPrefix.ToString(CultureInfo.InvariantCulture), .. bmc]);
        }

        return Lab.StartDetachedAsync(server.Namespace, Path.Combine(server.Directory, "node.log"), "/bin/sh", ["-c", ServerScript, "zc-server", server.Directory, state.Directory, Rom(state), ImageCommand.RepositoryRoot()!, "--firmware", "eth0", "--events", Path.Combine(server.Directory, BringUpMonitor.EventsFile), "--data", Path.Combine(server.Directory, "node"), "--block-devices", "none"]);
    }

    /// <summary>
    /// Bootstrapping the first images: the seed built them; once its storage instance runs they go into the store and
    /// the catalogue (signed by the control plane), and the seed's netboot serves the catalogue's node image.
    /// </summary>
    private static async Task<bool> PushImagesAsync(ControlClient client, LabState state, string adminFile, string caFile, IReadOnlyList<string> names, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var trust = ZeroCloud.Model.Pki.ClusterTrust.FromFile(caFile);
        using var http = trust.Client(TimeSpan.FromMinutes(5));
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ZeroCloud.Model.SecretFile.Read(adminFile, out _));
        var storage = new Uri($"https://{state.SeedAddress}:8890");
        foreach (var image in names)
        {
            // The seed is busy while servers boot (the control plane may ask the store to come back later): a push that
            // failed is tried again, a few times.
            for (var attempt = 1; ; attempt++)
            {
                string problem;
                try
                {
                    var code = await ClusterCommands.PushOneAsync(http, storage, client, Artifacts.ImageFolder(image), image, stdout, stderr, ct).ConfigureAwait(false);
                    if (code == ZcCommand.Ok)
                    {
                        break;
                    }

                    problem = $"exit {code}";
                }
                catch (Exception ex) when (ex is HttpRequestException or ControlApiException)
                {
                    problem = ex.Message;
                }

                if (attempt == 5)
                {
                    stderr.WriteLine($"zc up: pushing the {image} image to the seed's store failed 5 times (last: {problem})");
                    return false;
                }

                stderr.WriteLine($"zc up: pushing the {image} image failed ({problem}); again in {attempt} s");
                await Task.Delay(TimeSpan.FromSeconds(attempt), ct).ConfigureAwait(false);
            }
        }

        if (!names.Contains("node"))
        {
            return true;
        }

        // The servers' firmware boots only a signed node image: wait until the seed's netboot serves the catalogue's.
        using var plain = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var signature = new Uri($"http://{state.SeedAddress}:8880/images/node/manifest.sig");
        for (var clock = System.Diagnostics.Stopwatch.StartNew(); clock.Elapsed < TimeSpan.FromSeconds(60); await Task.Delay(200, ct).ConfigureAwait(false))
        {
            try
            {
                using var response = await plain.GetAsync(signature, ct).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    return true;
                }
            }
            catch (HttpRequestException)
            {
                // starting
            }
        }

        stderr.WriteLine($"zc up: the seed's netboot did not serve the signed node image ({signature}) within 60 s; the agent's log: {Path.Combine(state.Directory, SeedName, "node.log")}");
        return false;
    }

    private static async Task<int> WatchAsync(ControlClient client, ClusterConfig config, LabState state, DateTime started, TimeSpan timeout, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var monitor = new BringUpMonitor(client, config, state);
        var interactive = !Console.IsOutputRedirected && stdout == Console.Out;
        var lastPrint = DateTime.MinValue;
        var clock = Stopwatch.StartNew();
        var done = false;
        if (interactive)
        {
            var table = new Table().Border(TableBorder.Rounded).AddColumns("phase", "servers");
            await AnsiConsole.Live(table).StartAsync(async live =>
            {
                while (!(done = await monitor.StepAsync(ct).ConfigureAwait(false)) && clock.Elapsed < timeout && !monitor.Hopeless)
                {
                    UpView.Fill(table, monitor, started);
                    live.Refresh();
                    await Task.Delay(500, ct).ConfigureAwait(false);
                }

                UpView.Fill(table, monitor, started);
                live.Refresh();
            }).ConfigureAwait(false);
        }
        else
        {
            while (!(done = await monitor.StepAsync(ct).ConfigureAwait(false)) && clock.Elapsed < timeout && !monitor.Hopeless)
            {
                if (DateTime.UtcNow - lastPrint > TimeSpan.FromSeconds(5))
                {
                    lastPrint = DateTime.UtcNow;
                    stdout.WriteLine(UpView.ProgressLine(monitor, started));
                }

                await Task.Delay(500, ct).ConfigureAwait(false);
            }
        }

        UpView.Summary(monitor, await monitor.InstancesAsync(ct).ConfigureAwait(false), stdout);
        if (done)
        {
            UpView.Up(monitor, started, stdout);
            return ZcCommand.Ok;
        }

        UpView.NotUp(monitor, started, timeout, stderr);
        return ZcCommand.Failed;
    }
}
