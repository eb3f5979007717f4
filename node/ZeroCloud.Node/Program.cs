using System.CommandLine;
using System.Net;
using System.Runtime.InteropServices;
using ZeroCloud.Init;
using ZeroCloud.Model.Api;
using ZeroCloud.Node;

// zc-node: PID 1 of the node image, or a process on an existing Linux host; one agent either way (Agent.RunAsync).
if (SystemInit.IsPid1)
{
    return SystemInit.Run("node", NodeAgent.RunAsync);
}

var root = AgentCommand.Create();
var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    foreach (var error in parse.Errors)
    {
        Console.Error.WriteLine($"zc-node: {error.Message}");
    }

    return 2;
}

return await parse.InvokeAsync().ConfigureAwait(false);

namespace ZeroCloud.Node
{
    /// <summary>zc-node's command line as a process: the agent's options, and the three ways in (--firmware, --cmdline, plain).</summary>
    internal static class AgentCommand
    {
        /// <summary>The join token from --token, else --token-file, else $ZC_TOKEN; null when none is given.</summary>
        internal static string? TokenFrom(string? token, string? file, List<string> problems)
        {
            if (token is not null && file is not null)
            {
                problems.Add("give --token or --token-file, not both");
                return null;
            }

            if (file is not null)
            {
                var read = ZeroCloud.Model.SecretFile.Read(file, out var problem);
                if (problem is not null)
                {
                    problems.Add($"--token-file {problem}");
                }

                return read;
            }

            return token ?? (Environment.GetEnvironmentVariable("ZC_TOKEN") is { Length: > 0 } fromEnv ? fromEnv.Trim() : null);
        }

        public static RootCommand Create()
        {
            var join = new Option<string[]>("--join") { Description = "Boot-service endpoints to say hello to first (http://…; comma-separated or repeated).", AllowMultipleArgumentsPerToken = true, HelpName = "url" };
            var control = new Option<string[]>("--control") { Description = "Control-plane member APIs: heartbeat there and run the instances placed on this node until stopped.", AllowMultipleArgumentsPerToken = true, HelpName = "url" };
            var token = new Option<string>("--token") { Description = "The join token (id.secret). Other users can read a process's arguments: prefer --token-file or $ZC_TOKEN.", HelpName = "token" };
            var tokenFile = new Option<string>("--token-file") { Description = "A file whose first line is the join token (keep it 0600).", HelpName = "file" };
            var caFile = new Option<string>("--ca-file") { Description = "The cluster's root certificate (PEM): the control plane's must chain to it (https:// --control).", HelpName = "file" };
            var name = new Option<string>("--name") { Description = "The node's name (default: the host name).", HelpName = "name" };
            var labels = new Option<string[]>("--label") { Description = "A label for node selectors (repeatable).", HelpName = "key=value" };
            var address = new Option<string>("--address") { Description = "The address this node's instances are reached at (default: the first up interface's IPv4 address).", HelpName = "ip" };
            var data = new Option<string>("--data") { Description = "Where instances keep their data.", HelpName = "dir" };
            var images = new Option<string[]>("--images") { Description = "Folders with process images, zc-<name>[.dll] for builtin/<name> (default: beside zc-node).", HelpName = "dir" };
            var image = new Option<string[]>("--image") { Description = "An image's binary, e.g. builtin/hello=/opt/zc/zc-hello (repeatable).", HelpName = "name=path" };
            var vmImages = new Option<string[]>("--vm-images") { Description = "Folders with bootable images <name>/{vmlinuz,initrd.img} (zc image build) for the vm runtime, used when a probe guest boots here (KVM, else TCG).", HelpName = "dir" };
            var imageCache = new Option<int?>("--image-cache") { Description = $"MiB the image cache (<data>/images: images pulled from the cluster's store, verified and unpacked) may hold (default {AgentSettings.DefaultImageCacheBytes >> 20}).", HelpName = "MiB" };
            var netbootRoot = new Option<string>("--netboot-root") { Description = "What netboot instances placed here serve (the node image).", HelpName = "dir" };
            var firmware = new Option<string>("--firmware") { Description = "First boot like a bare server over this interface (PXE DHCP, TFTP, iPXE DHCP, HTTP script, kernel and initrd checked against their sha256), then run the agent with the script's kernel command line, as the node image would.", HelpName = "ifname" };
            var events = new Option<string>("--events") { Description = "Append the boot's phases to this file as JSON lines (powered on, dhcp, tftp, ipxe, http, booted, joined, failed): what zc up follows.", HelpName = "file" };
            var cmdline = new Option<string>("--cmdline") { Description = "Run the node image's way in as a process: the zc.* parameters from this file (a kernel command line) instead of options.", HelpName = "file" };
            var seed = new Option<string>("--seed") { Description = "Start the cluster from this cluster.yaml: a one-member control plane (zc-control beside zc-node) in <data>/control, then this node's agent with dhcp, netboot and storage from the binaries beside it; the images under <netboot root>/images go into the store once it runs.", HelpName = "cluster.yaml" };
            var blockDevices = new Option<string[]>("--block-devices") { Description = "The only block devices this agent may see and claim as its data disk (spec.nodes.disks), comma-separated or repeated; 'none' for none (default: every disk of the machine).", AllowMultipleArgumentsPerToken = true, HelpName = "device" };
            var root = new RootCommand("zc-node — the ZeroCloud node agent: PID 1 of the node image, or a process on a Linux host. As PID 1 it reads zc.control=, zc.token=, zc.name=, zc.join= from the kernel command line.");
            foreach (var option in new Option[] { join, control, token, tokenFile, caFile, name, labels, address, data, images, image, vmImages, imageCache, netbootRoot, firmware, cmdline, events, blockDevices, seed })
            {
                root.Options.Add(option);
            }

            root.SetAction(async (parse, ct) =>
            {
                var log = LineLogger.StandardError;
                var problems = new List<string>();
                var settings = new AgentSettings
                {
                    Join = Urls(parse.GetValue(join), "--join", problems),
                    Control = Urls(parse.GetValue(control), "--control", problems),
                    Token = TokenFrom(parse.GetValue(token), parse.GetValue(tokenFile), problems),
                    Trust = TrustFrom(parse.GetValue(caFile), problems),
                    Name = parse.GetValue(name),
                    Labels = Pairs(parse.GetValue(labels), "--label", "key=value", problems),
                    Address = parse.GetValue(address),
                    Data = parse.GetValue(data) is { } d ? Path.GetFullPath(d) : null,
                    ImageFolders = [.. (parse.GetValue(images) ?? []).Select(Path.GetFullPath)],
                    ImagePaths = Pairs(parse.GetValue(image), "--image", "image=path to an existing binary (e.g. builtin/hello=/opt/zc/zc-hello)", problems, value => File.Exists(value), Path.GetFullPath),
                    VmImageFolders = [.. (parse.GetValue(vmImages) ?? []).Select(Path.GetFullPath)],
                    NetbootRoot = parse.GetValue(netbootRoot) is { } r ? Path.GetFullPath(r) : null,
                    ImageCacheBytes = parse.GetValue(imageCache) is { } mib ? (long)mib << 20 : AgentSettings.DefaultImageCacheBytes,
                    Events = parse.GetValue(events) is { } e ? BootEvents.ToFile(Path.GetFullPath(e)) : null,
                    BlockDevices = parse.GetValue(blockDevices) is { } devices ? Devices(devices, problems) : null,
                };
                if (parse.GetValue(imageCache) is < 64)
                {
                    problems.Add($"--image-cache {parse.GetValue(imageCache)}: at least 64 MiB (an image is unpacked there)");
                }

                if (settings.Address is { } a && !IPAddress.TryParse(a, out _))
                {
                    problems.Add($"--address {a}: not an IP address");
                }

                var firmwareNic = parse.GetValue(firmware);
                var cmdlineFile = parse.GetValue(cmdline);
                var seedFile = parse.GetValue(seed);
                if (seedFile is not null && (firmwareNic is not null || cmdlineFile is not null || settings.Join.Count > 0 || settings.Control.Count > 0 || settings.Token is not null))
                {
                    problems.Add("--seed starts a new cluster here: it takes no --firmware, --cmdline, --join, --control or join token (it makes its own)");
                }
                else if (seedFile is not null)
                {
                    // the seed is checked and started below
                }
                else if (firmwareNic is not null && cmdlineFile is not null)
                {
                    problems.Add("give --firmware (boot over the network) or --cmdline (a kernel command line from a file), not both");
                }
                else if (firmwareNic is null && cmdlineFile is null && settings.Join.Count == 0 && settings.Control.Count == 0)
                {
                    problems.Add("--join <endpoint> or --control <member> is required when not running as PID 1 (or --firmware <ifname>, --cmdline <file>)");
                }

                if (problems.Count > 0)
                {
                    foreach (var problem in problems)
                    {
                        await Console.Error.WriteLineAsync($"zc-node: {problem}").ConfigureAwait(false);
                    }

                    return 2;
                }

                using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
                using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
                {
                    c.Cancel = true;
                    stop.Cancel();
                });
                if (seedFile is not null)
                {
                    return await Seed.RunAsync(seedFile, settings, log, stop.Token).ConfigureAwait(false);
                }

                if (cmdlineFile is not null)
                {
                    string text;
                    try
                    {
                        text = await File.ReadAllTextAsync(cmdlineFile, ct).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                    {
                        await Console.Error.WriteLineAsync($"zc-node: --cmdline {cmdlineFile}: {ex.Message}").ConfigureAwait(false);
                        return 2;
                    }

                    return await NodeAgent.RunAsync(KernelCommandLine.Parse(text), settings.Address, null, null, new Dictionary<string, double>(), s => Overlay(s, settings), log, stop.Token).ConfigureAwait(false);
                }

                if (firmwareNic is not null)
                {
                    settings.Events?.Invoke(new BootEvent(BootPhase.PoweredOn, DateTime.UtcNow));
                    if (await BootAsync(firmwareNic, settings.Events ?? (_ => { }), stop.Token).ConfigureAwait(false) is not { } boot)
                    {
                        return 0;
                    }

                    var booted = Ipv4(boot.Address);
                    Console.WriteLine($"firmware: booting {boot.CommandLine["name"] ?? settings.Name} ({boot.Mac}) as {booted}/{boot.Prefix}");
                    settings.Events?.Invoke(new BootEvent(BootPhase.Booted, DateTime.UtcNow, Address: booted, Name: boot.CommandLine["name"] ?? settings.Name));
                    return RunBooted(boot, settings.Address ?? booted, settings.Data ?? Path.Combine(Path.GetTempPath(), $"zc-node-{boot.Mac.ToCompactString()}"));
                }

                return await Agent.RunAsync(settings, log, stop.Token).ConfigureAwait(false);
            });
            return root;
        }

        /// <summary>--block-devices: device paths (/dev/…), or 'none'.</summary>
        internal static List<string> Devices(string[] values, List<string> problems)
        {
            var devices = values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
            if (devices is ["none"])
            {
                return [];
            }

            foreach (var device in devices.Where(d => !d.StartsWith("/dev/", StringComparison.Ordinal) || d.Length <= 5))
            {
                problems.Add($"--block-devices {device}: not a device path (/dev/…), nor 'none'");
            }

            return devices;
        }

        /// <summary>The cluster's root from --ca-file; null without one, with the problem added when it cannot be read.</summary>
        internal static ZeroCloud.Model.Pki.ClusterTrust? TrustFrom(string? file, List<string> problems)
        {
            if (file is null)
            {
                return null;
            }

            var trust = ZeroCloud.Model.Pki.ClusterTrust.TryFromFile(file, out var problem);
            if (trust is null)
            {
                problems.Add($"--ca-file {problem}");
            }

            return trust;
        }

        /// <summary>Options given on the command line win over the kernel command line's (a test or a lab adds folders).</summary>
        internal static AgentSettings Overlay(AgentSettings fromCmdline, AgentSettings options) => fromCmdline with
        {
            Control = options.Control.Count > 0 ? options.Control : fromCmdline.Control,
            Join = options.Join.Count > 0 ? options.Join : fromCmdline.Join,
            Token = options.Token ?? fromCmdline.Token,
            Trust = options.Trust ?? fromCmdline.Trust,
            Name = options.Name ?? fromCmdline.Name,
            Labels = options.Labels.Count > 0 ? options.Labels : fromCmdline.Labels,
            Data = options.Data ?? fromCmdline.Data,
            ImageFolders = options.ImageFolders.Count > 0 ? options.ImageFolders : fromCmdline.ImageFolders,
            ImagePaths = options.ImagePaths.Count > 0 ? options.ImagePaths : fromCmdline.ImagePaths,
            VmImageFolders = options.VmImageFolders.Count > 0 ? options.VmImageFolders : fromCmdline.VmImageFolders,
            NetbootRoot = options.NetbootRoot ?? fromCmdline.NetbootRoot,
            BlockDevices = options.BlockDevices ?? fromCmdline.BlockDevices,
            ImageCacheBytes = options.ImageCacheBytes,
            Events = options.Events ?? fromCmdline.Events,
        };

        /// <summary>
        /// The "kernel" starts: the zc-node inside the initrd the firmware fetched and verified (never the one that did the
        /// firmware's work) replaces this process (execv), with the script's kernel command line from a file and this
        /// process's other options. Returns only when that cannot be done (exit 1, saying why).
        /// </summary>
        private static int RunBooted(FirmwareBoot boot, string address, string data)
        {
            // As PID 1 does on a real machine (SystemInit): the booted agent and what it starts get the most descriptors.
            Linux.RaiseDescriptorLimit();
            var folder = Path.Combine(data, "boot");
            Directory.CreateDirectory(folder);
            var agent = Path.Combine(folder, "init");
            try
            {
                File.Delete(agent);
                if (!Runtime.InitrdReader.Extract(new MemoryStream(boot.InitrdBytes), "init", folder, 512L << 20))
                {
                    Console.Error.WriteLine($"firmware: the node image's initrd ({boot.Initrd}) has no /init to start");
                    return 1;
                }
            }
            catch (Exception ex) when (ex is InvalidDataException or IOException)
            {
                Console.Error.WriteLine($"firmware: unpacking /init of {boot.Initrd}: {ex.Message}");
                return 1;
            }

            // The root the firmware fetched and matched against the pin: the agent need not ask for it again.
            var root = Path.Combine(folder, "cluster-root.crt");
            File.WriteAllText(root, boot.RootPem);
            var cmdline = Path.Combine(folder, "cmdline");
            ZeroCloud.Model.SecretFile.Write(cmdline, boot.CommandLineText); // it holds the enrollment ticket
            var options = Environment.GetCommandLineArgs().Skip(1).ToList();
            for (var i = 0; i < options.Count; i++)
            {
                if (options[i] is "--firmware" or "--address" or "--data" or "--ca-file" && i + 1 < options.Count)
                {
                    options.RemoveRange(i--, 2);
                }
                else if (((string[])["--firmware=", "--address=", "--data=", "--ca-file="]).Any(o => options[i].StartsWith(o, StringComparison.Ordinal)))
                {
                    options.RemoveAt(i--);
                }
            }

            string?[] argv = [agent, "--cmdline", cmdline, "--ca-file", root, "--address", address, "--data", data, .. options, null];
            Console.WriteLine($"firmware: starting {agent} from the node image: {string.Join(' ', argv[1..^1])}");
            Console.Out.Flush();
            Runtime.Native.Execv(agent, argv);
            Console.Error.WriteLine($"firmware: starting {agent} failed: errno {Marshal.GetLastPInvokeError()}");
            return 1;
        }

        /// <summary>Like a PXE ROM: a failed boot is tried again (after 5 s), until it boots or the machine is switched off.</summary>
        private static async Task<FirmwareBoot?> BootAsync(string nic, Action<BootEvent> report, CancellationToken stop)
        {
            for (var attempt = 1; !stop.IsCancellationRequested; attempt++)
            {
                try
                {
                    var boot = await Firmware.BootAsync(nic, Console.WriteLine, report, stop).ConfigureAwait(false);
                    if (boot.CommandLine["control"] is null)
                    {
                        throw new InvalidOperationException("firmware: the boot script's command line has no zc.control= (it comes from zc serve netboot --control)");
                    }

                    return boot;
                }
                catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or IOException or HttpRequestException or System.Net.Sockets.SocketException)
                {
                    var why = ex.Message.StartsWith("firmware: ", StringComparison.Ordinal) ? ex.Message["firmware: ".Length..] : ex.Message;
                    Console.WriteLine($"firmware: failed: {why} (attempt {attempt}; booting again in 5 s)");
                    report(new BootEvent(BootPhase.Failed, DateTime.UtcNow, Detail: $"{why} (attempt {attempt})"));
                    try
                    {
                        await Task.Delay(TimeSpan.FromSeconds(5), stop).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        return null;
                    }
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return null;
                }
            }

            return null;
        }

        private static string Ipv4(uint address) => ZeroCloud.Model.Net.Ipv4.FromUInt32(address).ToString();

        private static List<string> Urls(string[]? values, string option, List<string> problems)
        {
            var urls = (values ?? []).SelectMany(AgentSettings.List).ToList();
            problems.AddRange(urls.Where(u => !AgentSettings.IsHttpUrl(u)).Select(u => $"{option} {u}: not an http:// URL"));
            return urls;
        }

        private static Dictionary<string, string> Pairs(string[]? values, string option, string shape, List<string> problems, Func<string, bool>? valid = null, Func<string, string>? normalise = null)
        {
            var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var value in values ?? [])
            {
                var pair = value.Split('=', 2);
                if (pair.Length != 2 || pair[0].Length == 0 || (valid is not null && !valid(pair[1])))
                {
                    problems.Add($"{option} {value}: write {shape}");
                    continue;
                }

                pairs[pair[0]] = normalise is null ? pair[1] : normalise(pair[1]);
            }

            return pairs;
        }
    }
}
