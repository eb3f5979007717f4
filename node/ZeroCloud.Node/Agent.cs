using System.Net.NetworkInformation;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Api;
using ZeroCloud.Node.Runtime;

namespace ZeroCloud.Node;

/// <summary>
/// The node agent, one composition root for every way it starts (PID 1 of the node image, a process on a host, an
/// emulated bare server after its firmware booted): hello to the join endpoints when there are any, then heartbeats
/// to the control plane and the instance runtime side by side until it is stopped. A node reports the runtimes it
/// proved: <c>process</c> always, <c>vm</c> once a probe guest reached init.
/// </summary>
internal static class Agent
{
    /// <summary>Runs until <paramref name="stop"/> fires (exit 0) or the control plane refuses this node (exit 1).</summary>
    public static async Task<int> RunAsync(AgentSettings settings, ILogger log, CancellationToken stop)
    {
        var inventory = Inventory.Collect(settings.BlockDevices);
        var name = settings.Name ?? inventory.Hostname;
        var firstNic = inventory.Nics.FirstOrDefault(n => n.State == "up") ?? (inventory.Nics.Count > 0 ? inventory.Nics[0] : null);
        var mac = settings.Mac ?? firstNic?.Mac;
        var address = settings.Address ?? FirstAddress();
        if (settings.Join.Count > 0)
        {
            var hello = new NodeHello(mac ?? "", name, settings.Token, address, inventory, new Dictionary<string, double>(settings.Timings));
            try
            {
                var url = await Hello.SendAsync(settings.Join, hello, TimeSpan.FromMinutes(10), log, stop).ConfigureAwait(false);
                log.LogInformation("hello accepted by {Url} as {Name} ({Mac}) with {Cpus} CPUs, {Memory} MiB, {Nics} NICs, {Disks} disks", url, name, mac, inventory.Cpus, inventory.MemoryBytes >> 20, inventory.Nics.Count, inventory.Disks.Count);
            }
            catch (Exception ex) when (ex is TimeoutException or UnauthorizedAccessException)
            {
                log.LogError("{Problem}", ex.Message);
                return 1;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return 0;
            }
        }

        if (settings.Control.Count == 0)
        {
            return 0;
        }

        var images = new Images(settings.ImagePaths, settings.ImageFolders.Count > 0 ? settings.ImageFolders : [AppContext.BaseDirectory]);
        var data = settings.Data ?? Path.Combine(Path.GetTempPath(), $"zc-node-{name}");
        Directory.CreateDirectory(data);
        var vm = new Vm(settings.VmImageFolders, Path.Combine(data, "vm-boot"));

        // A data disk formatted before holds the node's key and its instances' data: mounted before anything is read.
        var disk = new Disks.DataDisk(settings.BlockDevices, data, name, settings.Trust?.Fingerprint, log);
        disk.MountExisting();

        // The members an earlier run learned come after the command line's: a restarted agent whose only named
        // member is gone still finds the control plane.
        var known = new KnownMembers(data, log);
        var control = settings.Control.Concat(known.Read()).Distinct(StringComparer.Ordinal).ToList();
        if (control.Count > settings.Control.Count)
        {
            log.LogInformation("control-plane members: {Count} from the command line, {Kept} more kept in {File}", settings.Control.Count, control.Count - settings.Control.Count, known.Path);
        }

        // A node that enrolled with its ticket before keeps its key (0600) and uses it after a restart: the ticket
        // is single use.
        var keyFile = Path.Combine(data, "node-key");
        var credential = settings.Token;
        if (credential?.StartsWith("ticket:", StringComparison.Ordinal) == true && File.Exists(keyFile) && ZeroCloud.Model.SecretFile.Read(keyFile, out _) is { } saved && saved.StartsWith($"node:{name}.", StringComparison.Ordinal))
        {
            credential = saved;
            log.LogInformation("using the node key {Name} enrolled with before ({File}), not the new ticket", name, keyFile);
        }

        // A root pinned by its fingerprint (zc.ca=) is fetched from the control plane first and kept only if it matches.
        if (settings.Trust is { Root: null } pinned)
        {
            try
            {
                for (var wait = TimeSpan.FromSeconds(1); !await pinned.LearnRootAsync(control, stop).ConfigureAwait(false); wait = TimeSpan.FromSeconds(Math.Min(10, wait.TotalSeconds * 2)))
                {
                    log.LogWarning("no control-plane member served the cluster root {Fingerprint}… yet; retrying in {Seconds} s", pinned.Fingerprint[..16], wait.TotalSeconds);
                    await Task.Delay(wait, stop).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return 0;
            }
        }

        // The node's key pair for its client certificate is made in memory; only CSRs leave it.
        using var certificate = settings.Trust is null ? null : new ZeroCloud.Model.Pki.NodeCertificate(name, TimeProvider.System);
        using var endpoints = new ControlEndpoints(control, credential, TimeSpan.FromSeconds(5), settings.Trust, certificate);
        // Its certificate in files too, for the services it starts (rewritten at each renewal; the key 0600).
        var certificateFiles = (Certificate: Path.Combine(data, "node.crt"), Key: Path.Combine(data, "node-cert.key"));
        // Images not on this node come from the catalogue and the store (TLS with the node's certificate only).
        using var storageHttp = settings.Trust?.Client(TimeSpan.FromMinutes(5), () => certificate?.Current);
        var cache = storageHttp is null ? null : new ImageCache(Path.Combine(data, "images"), settings.ImageCacheBytes, new ControlImageSources(endpoints, name), storageHttp, () => endpoints.Trust?.Root, log);
        var heartbeat = new Heartbeat(
            endpoints,
            name,
            () => new HeartbeatRequest(inventory.Cpus, inventory.MemoryBytes, address, settings.Labels.Count > 0 ? settings.Labels : null, Runtimes(vm), mac, [.. images.Available().Union(vm.Available()).Union(cache?.Available() ?? []).Order(StringComparer.Ordinal)], Agent: Identity.Value, Persistent: disk.Persistent, Disk: disk.Summary, Disks: disk.Lines, Accelerator: vm.Accelerator),
            log,
            status => settings.Events?.Invoke(new BootEvent(BootPhase.Joined, DateTime.UtcNow, Address: address, Name: name, Detail: status.ToString())),
            key => ZeroCloud.Model.SecretFile.Write(keyFile, key),
            leaf => ZeroCloud.Model.Pki.CertificateFiles.Write(leaf, certificateFiles.Certificate, certificateFiles.Key, certificate?.IntermediatesPem ?? ""));
        var provisioning = address is null ? null : NetworkInterface.GetAllNetworkInterfaces()
            .FirstOrDefault(n => n.GetIPProperties().UnicastAddresses.Any(a => a.Address.ToString() == address))?.Name;
        var agent = new InstanceAgent(endpoints, name, address, images, vm, data, new NodeContext(provisioning, settings.NetbootRoot, () => endpoints.Credential, certificate is null ? null : certificateFiles), log, cache, heartbeat.Nudge, () => heartbeat.Last?.Placements);
        heartbeat.PlacementsChanged = agent.PlacementsChanged;
        heartbeat.MembersLearned = known.Learned;

        using var refused = CancellationTokenSource.CreateLinkedTokenSource(stop);

        // With bootable images, find out whether VMs boot here before running anything (auto placements prefer VMs);
        // heartbeats start at once and report "vm" from the first beat after the probe guest reached init.
        var running = Task.Run(
            async () =>
            {
                // The disk the applied spec names is claimed after the join (the answer carries spec.nodes.disks) and
                // before any instance runs, so that their data is on it from the start.
                if (!disk.Mounted && await heartbeat.FirstAnswer.WaitAsync(refused.Token).ConfigureAwait(false) is { Disks: { Count: > 0 } selectors })
                {
                    await disk.ClaimAsync(selectors, refused.Token).ConfigureAwait(false);
                    heartbeat.Nudge();
                }

                known.Settled();

                if (vm.HasImages)
                {
                    log.LogInformation("{Probe}", await vm.DetectAsync(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(60), refused.Token).ConfigureAwait(false));
                }

                await agent.RunAsync(refused.Token).ConfigureAwait(false);
            },
            CancellationToken.None);
        try
        {
            await heartbeat.RunAsync(refused.Token).ConfigureAwait(false);
        }
        catch (UnauthorizedAccessException ex)
        {
            log.LogError("{Problem}", ex.Message);
            await refused.CancelAsync().ConfigureAwait(false);
            await running.ConfigureAwait(false);
            return 1;
        }

        await running.ConfigureAwait(false);
        return 0;
    }

    /// <summary>
    /// Which agent this is, as the heartbeat reports it (<c>zc get nodes -o wide</c>): its version and the SHA-256 of its
    /// own executable, so that a node shows which binary it runs (a server runs the zc-node of the node image it booted).
    /// </summary>
    internal static readonly Lazy<string> Identity = new(() =>
    {
        var version = typeof(Agent).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false).OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion ?? "unknown";
        try
        {
            // NativeAOT: the executable; run with dotnet: the agent's assembly, not the host.
            var process = Environment.ProcessPath ?? "/proc/self/exe";
            using var self = File.OpenRead(Path.GetFileName(process) == "dotnet" ? Path.Combine(AppContext.BaseDirectory, "zc-node.dll") : process);
            return $"{version} sha256:{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(self))}";
        }
        catch (IOException)
        {
            return version;
        }
    });

    /// <summary>What this node can run: processes always, VMs once a probe guest reached init here.</summary>
    internal static IReadOnlyList<string> Runtimes(Vm vm) => vm.Accelerator is null ? ["process"] : ["process", "vm"];

    /// <summary>The first IPv4 address of an interface that is up (not loopback): where this node's instances are reached.</summary>
    internal static string? FirstAddress() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork)?.ToString();
}
