using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Config;
using ZeroCloud.Model.Net;

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
    private const string SeedName = "seed";

    public static IEnumerable<Command> Build()
    {
        var file = new Option<string>("--file", "-f") { Description = "The cluster.yaml to bring up.", DefaultValueFactory = _ => "cluster.yaml", HelpName = "path" };
        var nodes = new Option<int?>("--nodes", "-n") { Description = "How many virtual bare servers to power on (default: the known nodes of cluster.yaml, at least 3).", HelpName = "N" };
        var runtime = new Option<string>("--runtime") { Description = "What the virtual servers are: process (zc-node booting over the lab network; the default) or vm (not built yet).", DefaultValueFactory = _ => "process" };
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for every node Ready and every service at its replicas.", DefaultValueFactory = _ => 600 };
        var inLab = new Option<bool>("--in-lab") { Hidden = true };
        var up = new Command("up", "Bring up the cluster on this machine: a lab network, a seed node and N virtual bare servers that PXE-boot and join.") { file, nodes, runtime, timeout, inLab };
        up.SetAction((parse, ct) => parse.GetValue(inLab)
            ? InLabAsync(parse.GetValue(file)!, parse.GetValue(timeout), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, ct)
            : UpAsync(parse.GetValue(file)!, parse.GetValue(nodes), parse.GetValue(runtime)!, parse.GetValue(timeout), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, ct));
        yield return up;

        var downFile = new Option<string>("--file", "-f") { Description = "The cluster.yaml whose lab to remove (default: every lab zc up made here).", HelpName = "path" };
        var down = new Command("down", "Remove what zc up made: processes, namespaces, bridge, files. Safe to run twice.") { downFile };
        down.SetAction((parse, ct) => DownAsync(parse.GetValue(downFile), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        yield return down;
    }

    private static async Task<int> UpAsync(string path, int? count, string runtime, int timeout, TextWriter stdout, TextWriter stderr, CancellationToken ct)
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
        if (runtime != "process")
        {
            stderr.WriteLine(runtime == "vm"
                ? "zc up: --runtime vm (virtual servers as QEMU machines with iPXE firmware) is not built yet; use --runtime process"
                : $"zc up: --runtime {runtime}: write process or vm");
            return ZcCommand.UsageError;
        }

        if (Environment.UserName != "root")
        {
            stderr.WriteLine("zc up: it builds network namespaces and a bridge: run it as root");
            return ZcCommand.UsageError;
        }

        var cluster = config.Metadata.Name;
        var seedNamespace = $"{Lab.Prefix(cluster)}-seed";
        if (Lab.Load(cluster) is { } running)
        {
            if (await Lab.NamespaceExistsAsync(running.SeedNamespace).ConfigureAwait(false))
            {
                stderr.WriteLine($"zc up: the lab of cluster {cluster} is already running ({running.Servers.Count} servers, since {running.Started:u}); look at it with zc get nodes, remove it with zc down");
                return ZcCommand.Failed;
            }

            await Lab.RemoveAsync(cluster).ConfigureAwait(false); // left over from an interrupted run
        }

        var network = config.Spec.Network;
        if (network.Dhcp.Mode != DhcpMode.Full || network.Dhcp.Range is not { } dhcpRange)
        {
            stderr.WriteLine("zc up: the lab has no other DHCP server: spec.network.dhcp.mode must be full, with a range");
            return ZcCommand.Failed;
        }

        var servers = count ?? Math.Max(3, config.Spec.Nodes.Known.Length);
        var capacity = dhcpRange.EndValue - dhcpRange.StartValue + 1;
        if (servers < 1 || servers > 999 || servers > capacity)
        {
            stderr.WriteLine($"zc up: --nodes {servers}: between 1 and {Math.Min(999, capacity)} (the DHCP range {dhcpRange} holds {capacity} addresses)");
            return ZcCommand.UsageError;
        }

        var seed = SeedAddress(config);
        if (seed is null)
        {
            stderr.WriteLine($"zc up: no address in {network.Subnet} is free for the seed node (outside the gateway, the DHCP range and the known nodes' addresses)");
            return ZcCommand.Failed;
        }

        // The binaries the lab runs: built once, reused after.
        var clock = Stopwatch.StartNew();
        if (!await Artifacts.EnsureAsync(stdout, stderr).ConfigureAwait(false))
        {
            return ZcCommand.Failed;
        }

        var directory = Lab.DirectoryOf(cluster);
        Directory.CreateDirectory(directory);
        var known = config.Spec.Nodes.Known;
        var list = Enumerable.Range(1, servers).Select(i =>
        {
            var id = $"s{i:000}";
            var mac = i <= known.Length ? known[i - 1].Mac.ToString() : $"52:54:00:7a:{i >> 8:x2}:{i & 0xFF:x2}";
            return new LabServer(id, $"{Lab.Prefix(cluster)}-{id}", mac, Path.Combine(directory, id));
        }).ToList();
        var state = new LabState(cluster, directory, seedNamespace, seed, $"http://{seed}:7070", [$"{Lab.Prefix(cluster)}-sw", seedNamespace, .. list.Select(s => s.Namespace)], list, DateTime.UtcNow);
        Lab.Save(state);
        stdout.WriteLine($"zc up: cluster {cluster}: lab network {network.Subnet} (bridge + {servers + 1} namespaces), seed {seed} on {network.Interface}, {servers} virtual bare servers");
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

    /// <summary>The first address of the subnet that is not the gateway, in the DHCP range, or a known node's.</summary>
    private static string? SeedAddress(ClusterConfig config)
    {
        var n = config.Spec.Network;
        var taken = new HashSet<uint>(config.Spec.Nodes.Known.Where(k => k.Ip is not null).Select(k => Ipv4.ToUInt32(k.Ip!)));
        if (n.Gateway is not null)
        {
            taken.Add(Ipv4.ToUInt32(n.Gateway));
        }

        for (var a = n.Subnet.NetworkValue + 1; a < n.Subnet.BroadcastValue; a++)
        {
            if (!taken.Contains(a) && (n.Dhcp.Range is not { } r || a < r.StartValue || a > r.EndValue))
            {
                return Ipv4.FromUInt32(a).ToString();
            }
        }

        return null;
    }

    private sealed class ServerView(LabServer server)
    {
        public LabServer Server { get; } = server;

        public string Phase { get; set; } = "powered on";

        public string? Name { get; set; }

        public string? Address { get; set; }

        public string? Problem { get; set; }

        public string LastLine { get; set; } = "";
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
        using var client = new ControlClient(new Uri(state.Api));

        // The seed: a one-member control plane named after the seed node, so that the cluster grows its own voters.
        await Lab.StartDetachedAsync(state.SeedNamespace, Path.Combine(seedDir, "control.log"), Artifacts.SelfCommand()[0], [.. Artifacts.SelfCommand().Skip(1), "serve", "control", "--data", Path.Combine(seedDir, "control"), "--listen", $"{state.SeedAddress}:7070", "--name", SeedName, "--bootstrap"]).ConfigureAwait(false);
        string? token = null;
        var deadline = Stopwatch.StartNew();
        while (token is null)
        {
            try
            {
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

        await client.ApplyAsync(await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false), Path.GetFileName(path), ct).ConfigureAwait(false);
        stdout.WriteLine($"zc up: control plane up at {state.Api}, cluster.yaml applied, join token {token} ({Since(started)})");

        string[] agentArgs = [.. Artifacts.ImageMappings(), "--netboot-root", Artifacts.NetbootRoot];
        await Lab.StartDetachedAsync(state.SeedNamespace, Path.Combine(seedDir, "node.log"), Artifacts.NodeBinary, ["--control", state.Api, "--token", token, "--name", SeedName, "--address", state.SeedAddress, "--data", Path.Combine(seedDir, "node"), .. agentArgs]).ConfigureAwait(false);

        // Wait for the seed's dhcp and netboot before powering the servers on, as an operator would.
        while (true)
        {
            var services = (await client.ServicesAsync(ct).ConfigureAwait(false)).Services;
            if (services.Where(x => x.Image is "builtin/dhcp" or "builtin/netboot").All(x => x.Running > 0))
            {
                break;
            }

            if (deadline.Elapsed > TimeSpan.FromSeconds(120))
            {
                stderr.WriteLine($"zc up: dhcp and netboot did not start on the seed within 120 s; the agent's log: {Path.Combine(seedDir, "node.log")}");
                return ZcCommand.Failed;
            }

            await Task.Delay(250, ct).ConfigureAwait(false);
        }

        stdout.WriteLine($"zc up: dhcp and netboot running on the seed; powering on {state.Servers.Count} servers ({Since(started)})");
        foreach (var server in state.Servers)
        {
            Directory.CreateDirectory(server.Directory);
            await Lab.StartDetachedAsync(server.Namespace, Path.Combine(server.Directory, "node.log"), Artifacts.NodeBinary, ["--firmware", "eth0", "--events", Path.Combine(server.Directory, EventsFile), "--data", Path.Combine(server.Directory, "node"), .. agentArgs]).ConfigureAwait(false);
        }

        return await WatchAsync(client, config, state, started, TimeSpan.FromSeconds(timeout), stdout, stderr, ct).ConfigureAwait(false);
    }

    private static string Since(DateTime started) => $"{(DateTime.UtcNow - started).TotalSeconds:0.0} s";

    private static async Task<int> WatchAsync(ControlClient client, ClusterConfig config, LabState state, DateTime started, TimeSpan timeout, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var views = state.Servers.Select(s => new ServerView(s)).ToList();
        var interactive = !Console.IsOutputRedirected && stdout == Console.Out;
        IReadOnlyList<NodeDto> nodes = [];
        IReadOnlyList<ServiceDto> services = [];
        IReadOnlyList<MemberDto> members = [];
        IReadOnlyList<string> unplaced = [];
        DateTime? stuckSince = null;
        var lastPrint = DateTime.MinValue;
        var lastPowerCheck = DateTime.UtcNow;
        bool done;
        var table = new Table().Border(TableBorder.Rounded).AddColumns("phase", "servers");

        async Task<bool> StepAsync()
        {
            foreach (var v in views)
            {
                ReadPhase(v);
            }

            try
            {
                nodes = (await client.NodesAsync(ct).ConfigureAwait(false)).Nodes;
                var answer = await client.ServicesAsync(ct).ConfigureAwait(false);
                services = answer.Services;
                unplaced = answer.Scheduler?.Unplaced ?? [];
                members = (await client.MembersAsync(ct).ConfigureAwait(false)).Members;
            }
            catch (ControlApiException)
            {
                // the control plane is busy or changing leader: next time
            }

            var ready = nodes.Where(n => n.Status == NodeStatus.Ready).Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var v in views.Where(v => v.Name is not null))
            {
                var node = nodes.FirstOrDefault(n => n.Name == v.Name);
                v.Phase = node?.Status switch
                {
                    NodeStatus.Ready => "Ready",
                    NodeStatus.Down => "lost (Down)",
                    NodeStatus.Suspect => "Suspect",
                    _ => v.Phase,
                };
            }

            // A server whose processes are all gone before it joined was switched off (or crashed): lost too.
            if (DateTime.UtcNow - lastPowerCheck > TimeSpan.FromSeconds(3))
            {
                lastPowerCheck = DateTime.UtcNow;
                foreach (var v in views.Where(v => v.Phase is not ("Ready" or "lost (Down)" or "lost (off)")))
                {
                    if ((await Lab.RunAsync("ip", ["netns", "pids", v.Server.Namespace]).ConfigureAwait(false)).Output.Trim().Length == 0)
                    {
                        v.Problem ??= $"its processes are gone (was at {v.Phase})";
                        v.Phase = "lost (off)";
                    }
                }
            }

            var lost = views.Count(v => v.Phase.StartsWith("lost", StringComparison.Ordinal));

            // Every server is in and the scheduler still cannot place something: more waiting will not help.
            var allIn = views.All(v => v.Phase is "Ready" || v.Phase.StartsWith("lost", StringComparison.Ordinal));
            stuckSince = allIn && unplaced.Count > 0 ? stuckSince ?? DateTime.UtcNow : null;
            var voters = Math.Min(config.Spec.ControlPlane.Replicas, nodes.Count(n => n.Status == NodeStatus.Ready));
            return ready.Contains(SeedName)
                && views.All(v => v.Phase is "Ready" || v.Phase.StartsWith("lost", StringComparison.Ordinal))
                && members.Count == voters && members.All(m => m.Status == MemberStatus.Available)
                && services.Count > 0
                && services.All(x => x.Running >= x.Desired && x.Healthy >= x.Desired)
                && (lost == 0 || services.All(x => x.Placed == x.Desired));
        }

        void Fill(Table t)
        {
            t.Rows.Clear();
            foreach (var (phase, label) in new[] { ("powered on", "powered on"), ("dhcp", "DHCP (PXE)"), ("tftp", "TFTP"), ("ipxe", "DHCP (iPXE)"), ("http", "HTTP"), ("booted", "booted"), ("joined", "joined"), ("Ready", "Ready"), ("lost", "lost") })
            {
                t.AddRow(label, Passed(views, phase).ToString(CultureInfo.InvariantCulture));
            }

            t.AddRow("voters", $"{members.Count(m => m.Status == MemberStatus.Available)}/{config.Spec.ControlPlane.Replicas}");
            t.AddRow("services", string.Join(", ", services.Select(x => $"{x.Name} {x.Running}/{x.Desired}")));
            t.Caption($"{Since(started)} since zc up");
        }

        bool Hopeless() => stuckSince is { } since && DateTime.UtcNow - since > TimeSpan.FromSeconds(15);

        var clock = Stopwatch.StartNew();
        if (interactive)
        {
            done = false;
            await AnsiConsole.Live(table).StartAsync(async live =>
            {
                while (!(done = await StepAsync().ConfigureAwait(false)) && clock.Elapsed < timeout && !Hopeless())
                {
                    Fill(table);
                    live.Refresh();
                    await Task.Delay(500, ct).ConfigureAwait(false);
                }

                Fill(table);
                live.Refresh();
            }).ConfigureAwait(false);
        }
        else
        {
            while (!(done = await StepAsync().ConfigureAwait(false)) && clock.Elapsed < timeout && !Hopeless())
            {
                if (DateTime.UtcNow - lastPrint > TimeSpan.FromSeconds(5))
                {
                    lastPrint = DateTime.UtcNow;
                    stdout.WriteLine($"zc up: {Since(started)}: dhcp {Passed(views, "dhcp")}, tftp {Passed(views, "tftp")}, http {Passed(views, "http")}, booted {Passed(views, "booted")}, joined {Passed(views, "joined")}, Ready {Passed(views, "Ready")}/{views.Count}, lost {Passed(views, "lost")}; voters {members.Count(m => m.Status == MemberStatus.Available)}/{config.Spec.ControlPlane.Replicas}; services {string.Join(", ", services.Select(x => $"{x.Name} {x.Running}/{x.Desired}"))}");
                }

                await Task.Delay(500, ct).ConfigureAwait(false);
            }
        }

        Summary(views, nodes, services, state, await SafeInstancesAsync(client, ct).ConfigureAwait(false), stdout);
        if (done)
        {
            var lost = views.Where(v => v.Phase.StartsWith("lost", StringComparison.Ordinal)).ToList();
            stdout.WriteLine($"zc up: cluster {config.Metadata.Name} is up: {nodes.Count(n => n.Status == NodeStatus.Ready)} nodes Ready, every service at its replicas, in {Since(started)}" +
                (lost.Count > 0 ? $"; lost on the way: {string.Join(", ", lost.Select(l => $"{l.Server.Id} ({l.Name ?? l.Server.Mac}, {l.Phase}{(l.Problem is null ? "" : ": " + l.Problem)})"))}; the cluster healed around {(lost.Count == 1 ? "it" : "them")}" : ""));
            stdout.WriteLine("zc up: look at it with ./zc get nodes|services|instances and ./zc status; remove it with ./zc down");
            return ZcCommand.Ok;
        }

        stderr.WriteLine(Hopeless()
            ? $"zc up: every server is in, and the scheduler cannot place everything ({Since(started)}):"
            : $"zc up: not done after {timeout.TotalSeconds:0} s:");
        foreach (var reason in unplaced)
        {
            stderr.WriteLine($"  {reason}");
        }

        foreach (var v in views.Where(v => v.Phase != "Ready"))
        {
            stderr.WriteLine($"  {v.Server.Id} ({v.Server.Mac}{(v.Name is null ? "" : ", " + v.Name)}): stuck at {v.Phase}{(v.Problem is null ? "" : ": " + v.Problem)}; last line: {v.LastLine} (log {Path.Combine(v.Server.Directory, "node.log")})");
        }

        foreach (var x in services.Where(x => x.Running < x.Desired || x.Healthy < x.Desired))
        {
            stderr.WriteLine($"  service {x.Name}: {x.Running} of {x.Desired} running, {x.Healthy} healthy");
        }

        stderr.WriteLine("zc up: the lab is left running to look at (zc get ...); remove it with zc down");
        return ZcCommand.Failed;
    }

    private static async Task<IReadOnlyList<InstanceView>> SafeInstancesAsync(ControlClient client, CancellationToken ct)
    {
        try
        {
            return (await client.InstancesAsync(null, ct).ConfigureAwait(false)).Instances;
        }
        catch (ControlApiException)
        {
            return [];
        }
    }

    private static readonly string[] Order = ["powered on", "dhcp", "tftp", "ipxe", "http", "booted", "joined", "Ready"];

    /// <summary>Servers that reached <paramref name="phase"/> or went past it.</summary>
    private static int Passed(List<ServerView> views, string phase) =>
        phase == "lost" ? views.Count(v => v.Phase.StartsWith("lost", StringComparison.Ordinal)) : views.Count(v => Array.IndexOf(Order, v.Phase) >= Array.IndexOf(Order, phase));

    /// <summary>Each virtual server's zc-node writes its boot phases here as JSON lines (<see cref="BootEvent"/>).</summary>
    private const string EventsFile = "events.jsonl";

    /// <summary>How far a server got: the structured events its firmware and agent wrote; the last line of its log for the humans.</summary>
    private static void ReadPhase(ServerView v)
    {
        if (v.Phase is "Ready" || v.Phase.StartsWith("lost", StringComparison.Ordinal))
        {
            return;
        }

        v.LastLine = LastLine(Path.Combine(v.Server.Directory, "node.log")) ?? v.LastLine;
        string text;
        try
        {
            using var stream = new FileStream(Path.Combine(v.Server.Directory, EventsFile), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            text = new StreamReader(stream).ReadToEnd();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return;
        }

        foreach (var e in BootEvent.ReadAll(text))
        {
            switch (e.Phase)
            {
                case BootPhase.Failed:
                    v.Problem = e.Detail;
                    break;
                case BootPhase.Dhcp:
                    v.Address = e.Address;
                    v.Phase = Max(v.Phase, "dhcp");
                    break;
                case BootPhase.Tftp:
                    v.Phase = Max(v.Phase, "tftp");
                    break;
                case BootPhase.Ipxe:
                    v.Phase = Max(v.Phase, "ipxe");
                    break;
                case BootPhase.Http:
                    v.Phase = Max(v.Phase, "http");
                    break;
                case BootPhase.Booted:
                    v.Name = e.Name;
                    v.Phase = Max(v.Phase, "booted");
                    break;
                case BootPhase.Joined:
                    v.Phase = Max(v.Phase, "joined");
                    break;
            }
        }
    }

    private static string? LastLine(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return new StreamReader(stream).ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string Max(string a, string b) => Array.IndexOf(Order, a) >= Array.IndexOf(Order, b) ? a : b;

    private static void Summary(List<ServerView> views, IReadOnlyList<NodeDto> nodes, IReadOnlyList<ServiceDto> services, LabState state, IReadOnlyList<InstanceView> instances, TextWriter stdout)
    {
        var macOf = views.Where(v => v.Name is not null).ToDictionary(v => v.Name!, v => v.Server.Mac, StringComparer.Ordinal);
        var voters = instances.Where(i => i.Instance.Service == "control").Select(i => i.Instance.Node).ToHashSet(StringComparer.Ordinal);
        stdout.WriteLine($"{"NODE",-20} {"MAC",-17} {"IP",-15} {"STATUS",-8} {"ROLE",-14} INSTANCES");
        foreach (var n in nodes.OrderBy(n => n.Name == SeedName ? "" : n.Name, StringComparer.Ordinal))
        {
            var role = n.Name == SeedName ? "seed, voter" : voters.Contains(n.Name) ? "voter" : "worker";
            var mine = instances.Where(i => i.Instance.Node == n.Name).Select(i => i.Instance.Id).Order(StringComparer.Ordinal);
            stdout.WriteLine($"{n.Name,-20} {(n.Name == SeedName ? "-" : macOf.GetValueOrDefault(n.Name, "?")),-17} {n.Address ?? "-",-15} {n.Status,-8} {role,-14} {string.Join(" ", mine)}");
        }

        stdout.WriteLine();
        stdout.WriteLine($"{"SERVICE",-12} {"DESIRED",7} {"RUNNING",7} {"HEALTHY",7}");
        foreach (var x in services)
        {
            stdout.WriteLine($"{x.Name,-12} {x.Desired,7} {x.Running,7} {x.Healthy,7}");
        }

        stdout.WriteLine();
        stdout.WriteLine($"API: {state.Api} inside the lab (namespace {state.SeedNamespace}); ./zc get and ./zc status find it by themselves");
    }

    private static async Task<int> DownAsync(string? path, TextWriter stdout, TextWriter stderr)
    {
        if (Environment.UserName != "root")
        {
            stderr.WriteLine("zc down: it removes network namespaces: run it as root");
            return ZcCommand.UsageError;
        }

        List<string> clusters;
        if (path is not null)
        {
            if (!ConfigFile.TryLoad(path, stderr, out var result))
            {
                return ZcCommand.UsageError;
            }

            if (result.Config is null)
            {
                foreach (var d in result.Diagnostics)
                {
                    stderr.WriteLine(d);
                }

                return ZcCommand.Failed;
            }

            clusters = [result.Config.Metadata.Name];
        }
        else
        {
            clusters = [.. Lab.All().Select(l => l.Cluster)];
        }

        if (clusters.Count == 0)
        {
            stdout.WriteLine("zc down: no lab to remove");
            return ZcCommand.Ok;
        }

        foreach (var cluster in clusters)
        {
            var (processes, namespaces) = await Lab.RemoveAsync(cluster).ConfigureAwait(false);
            stdout.WriteLine(namespaces == 0 && processes == 0
                ? $"zc down: cluster {cluster}: nothing left to remove"
                : $"zc down: cluster {cluster}: stopped {processes} processes, removed {namespaces} namespaces and {Lab.DirectoryOf(cluster)}");
        }

        return ZcCommand.Ok;
    }
}
