using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Node.Runtime;

/// <summary>
/// Runs what the scheduler placed on this node: it reads the node's placements (<c>GET /v1/instances?node=</c> from a
/// control-plane member, the next one when a member fails) when the heartbeat's answer says they changed (its
/// placements token), and every 10 s otherwise (every second when the member gives no token), starts what is
/// new, stops what is no longer placed (also what a node that was Down still ran: the control plane placed it
/// elsewhere), and writes each instance's state to <c>/zc/instance-state/&lt;node&gt;/&lt;id&gt;</c> when it changes.
/// </summary>
/// <summary>What infrastructure images need from their node: its provisioning interface, the netboot root, the join token.</summary>
/// <summary>
/// What the infrastructure instances of this node are given: the provisioning interface, netboot's root, the node's
/// bearer key, and the files of the node's client certificate (written by the agent at its join and each renewal).
/// </summary>
internal sealed record NodeContext(string? Interface, string? NetbootRoot, Func<string?> Credential, (string Certificate, string Key)? CertificateFiles = null);

internal sealed class InstanceAgent(ControlEndpoints endpoints, string node, string? address, Images images, Vm vm, string dataDirectory, NodeContext context, ILogger log, ImageCache? cache = null, Action? reportsChanged = null, Func<string?>? placementsToken = null)
{
    /// <summary>The placements last read, the token they were read under, and when (Environment.TickCount64).</summary>
    private IReadOnlyList<InstanceDto>? _placed;
    private string? _placedToken;
    private long _placedAt;

    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The heartbeat's answer carried a new placements token: read them now, not at the next round.</summary>
    public void PlacementsChanged() => _wake.TrySetResult();

    /// <summary>How long a placement whose image could not be had waits before the agent tries again (refused: its bytes or signature; else: not there yet).</summary>
    private static readonly TimeSpan RefusedRetry = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan UnavailableRetry = TimeSpan.FromSeconds(3);

    private readonly Dictionary<string, ProcessInstance> _running = new(StringComparer.Ordinal);

    /// <summary>The image version each running instance runs from the cache (never evicted while it runs).</summary>
    private readonly Dictionary<string, string> _digests = new(StringComparer.Ordinal);

    /// <summary>When each placement whose image failed may be tried again.</summary>
    private readonly Dictionary<string, long> _retryAt = new(StringComparer.Ordinal); // Environment.TickCount64 (monotonic) when to try again

    private int _round;

    private bool _catalogueRead;

    private NetbootFiles? _netbootFiles;

    /// <summary>What netboot instances here serve: the catalogue's node image, or the local build until there is one.</summary>
    private NetbootFiles Netboot => _netbootFiles ??= new NetbootFiles(Path.Combine(dataDirectory, "netboot-root"), context.NetbootRoot, cache, () => endpoints.Trust?.Root?.ExportCertificatePem() + "\n", log);

    /// <summary>The image versions in use here: never evicted from the cache.</summary>
    private HashSet<string> InUse() => [.. _digests.Values];

    private bool RunsNetboot => _running.Values.Any(r => ImageReference.Parse(r.Instance.Image)?.Name == "netboot");
    private readonly ConcurrentDictionary<string, InstanceStateDto> _dirty = new(StringComparer.Ordinal);
    private readonly HashSet<string> _refused = new(StringComparer.Ordinal);
    public async Task RunAsync(CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var client = endpoints.Current;
                try
                {
                    // The placements are read when the heartbeat's token changed (or there is none), and every 10 s:
                    // a hundred nodes listing theirs every second kept a member busy for nothing.
                    var token = placementsToken?.Invoke();
                    if (_placed is null || token is null || token != _placedToken || Environment.TickCount64 - _placedAt >= (long)PlacementsToken.RelistEvery.TotalMilliseconds)
                    {
                        var answer = await client.InstancesAsync(node, ct).ConfigureAwait(false);
                        if (answer.Revision < _lastRevision)
                        {
                            // An answer older than one already acted on (a member that lost its data, a confused one):
                            // nothing is started, stopped or deleted on its strength.
                            if (_refused.Add($"stale\n{answer.Revision}"))
                            {
                                log.LogWarning("placements via {Server} are at revision {Revision}, older than {Seen} already seen: ignored", client.Server, answer.Revision, _lastRevision);
                            }

                            endpoints.Failed(client);
                            await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
                            continue;
                        }

                        _lastRevision = answer.Revision;
                        _placed = [.. answer.Instances.Select(v => v.Instance)];
                        _placedToken = token;
                        _placedAt = Environment.TickCount64;
                    }

                    var placed = Acceptable(_placed);

                    // The catalogue every 10 s; every 2 s while a netboot here still serves an unsigned local node image;
                    // every round until it was read once. After the placements: a node that could not read those (not
                    // joined yet) would be refused the catalogue too.
                    if (cache is not null && (!_catalogueRead || _round++ % (RunsNetboot && !Netboot.FromCatalogue ? 2 : 10) == 0))
                    {
                        try
                        {
                            var before = cache.Available();
                            await cache.RefreshAsync(ct).ConfigureAwait(false);
                            _catalogueRead = true;
                            if (!before.SequenceEqual(cache.Available()))
                            {
                                // The scheduler learns what this node can run with the next beat: send it now.
                                reportsChanged?.Invoke();
                            }
                        }
                        catch (ImageRefusedException ex)
                        {
                            log.LogWarning("{Problem}", ex.Message);
                        }
                    }

                    await ReconcileAsync(placed).ConfigureAwait(false);
                    if (RunsNetboot && await Netboot.RefreshAsync(InUse(), ct).ConfigureAwait(false) is { } problem)
                    {
                        log.LogWarning("netboot: {Problem}", problem);
                    }

                    await ReportAsync(client, placed, ct).ConfigureAwait(false);
                }
                catch (ControlApiException ex) when (!ct.IsCancellationRequested)
                {
                    log.LogWarning("instances via {Server}: {Problem}", client.Server, ex.Message);
                    endpoints.Failed(client);
                    _placedToken = null;
                }

                var wake = _wake.Task;
                await Task.WhenAny(Task.Delay(TimeSpan.FromSeconds(1), ct), wake).ConfigureAwait(false);
                ct.ThrowIfCancellationRequested();
                if (wake.IsCompleted)
                {
                    _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // stopping
        }
        finally
        {
            foreach (var instance in _running.Values)
            {
                await instance.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private bool _swept;

    /// <summary>The revision of the newest placements answer acted on.</summary>
    private long _lastRevision;

    /// <summary>Which cluster this node belongs to: the SHA-256 of its root certificate (a store wiped and made again has another).</summary>
    private string ClusterId => endpoints.Trust?.Root?.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256) ?? "";

    private const string MarkerFile = "placement.json";

    /// <summary>
    /// Whether the data of instance folder <paramref name="folder"/>, not in the placements answered at
    /// <paramref name="revision"/>, may go: only when its marker says it was placed by this cluster at an older
    /// revision (its placement was removed since). No marker, another cluster, a revision not older: it stays.
    /// </summary>
    internal static bool MayDelete(string folder, string clusterId, long revision, out string why)
    {
        var marker = Path.Combine(folder, MarkerFile);
        PlacementMarker? seen = null;
        try
        {
            seen = File.Exists(marker) ? JsonSerializer.Deserialize(File.ReadAllText(marker), NodeJsonContext.Default.PlacementMarker) : null;
        }
        catch (Exception ex) when (ex is JsonException or IOException)
        {
            why = $"its {MarkerFile} is unreadable ({ex.Message})";
            return false;
        }

        (var ok, why) = seen switch
        {
            null => (false, $"it has no {MarkerFile}: nothing says which cluster placed it when"),
            { Cluster: var c } when c != clusterId || clusterId.Length == 0 => (false, "it was placed by another cluster (its root differs)"),
            { Revision: var r } when r >= revision => (false, $"it was placed at revision {r}, and the placements answered are at {revision}, not newer"),
            _ => (true, $"placed at revision {seen.Revision}, no longer placed at {revision}"),
        };
        return ok;
    }

    /// <summary>Records in the instance's folder which cluster placed it and at which revision it was seen placed.</summary>
    private void Mark(string id)
    {
        var folder = Path.Combine(dataDirectory, "instances", id);
        try
        {
            Directory.CreateDirectory(folder);
            File.WriteAllText(Path.Combine(folder, MarkerFile), JsonSerializer.Serialize(new PlacementMarker(ClusterId, _lastRevision), NodeJsonContext.Default.PlacementMarker));
        }
        catch (IOException ex)
        {
            log.LogWarning("instance {Id}: could not record its placement marker: {Problem}", id, ex.Message);
        }
    }

    /// <summary>
    /// The placements this agent will act on: each checked again here (<see cref="Inputs.Instance"/>: names that are
    /// safe as paths, images, argument and environment rules) and meant for this node, whoever answered the request.
    /// A refused placement is logged once and left alone: nothing is run, deleted or reported for it.
    /// </summary>
    internal List<InstanceDto> Acceptable(IEnumerable<InstanceDto> placements)
    {
        var accepted = new List<InstanceDto>();
        foreach (var p in placements)
        {
            var problems = Inputs.Instance(p);
            if (problems.Count == 0 && p.Node != node)
            {
                problems = [$"it is for node \"{p.Node}\", this is \"{node}\""];
            }

            if (problems.Count == 0)
            {
                accepted.Add(p);
            }
            else if (_refused.Add("invalid\n" + p.Id + "\n" + p.SpecRevision))
            {
                log.LogWarning("placement {Id} refused: {Problems}", p.Id, string.Join("; ", problems));
            }
        }

        return accepted;
    }

    private async Task ReconcileAsync(List<InstanceDto> placed)
    {
        var wanted = placed.ToDictionary(p => p.Id, StringComparer.Ordinal);
        if (!_swept)
        {
            // What this node ran before it stopped and is no longer placed here: its data goes (a Raft member's
            // identity included: that member was removed, and a voter placed here later must start fresh).
            _swept = true;
            foreach (var folder in Directory.Exists(Path.Combine(dataDirectory, "instances")) ? Directory.GetDirectories(Path.Combine(dataDirectory, "instances")) : [])
            {
                if (wanted.ContainsKey(Path.GetFileName(folder)))
                {
                    continue;
                }

                if (MayDelete(folder, ClusterId, _lastRevision, out var why))
                {
                    log.LogInformation("removing the data of {Id} ({Why})", Path.GetFileName(folder), why);
                    Directory.Delete(folder, recursive: true);
                }
                else
                {
                    log.LogWarning("keeping the data of {Id}, which is not placed here: {Why}", Path.GetFileName(folder), why);
                }
            }
        }

        var (stop, start) = Decide(placed, _running.ToDictionary(r => r.Key, r => r.Value.Instance, StringComparer.Ordinal));
        foreach (var (id, gone) in stop)
        {
            var instance = _running[id];
            log.LogInformation("stopping {Id} ({Why})", id, gone ? "no longer placed here" : "its placement changed");
            _running.Remove(id);
            _digests.Remove(id);
            _dirty.TryRemove(id, out _);
            await instance.DisposeAsync().ConfigureAwait(false);
            var folder = Path.Combine(dataDirectory, "instances", id);
            if (gone && Directory.Exists(folder))
            {
                if (MayDelete(folder, ClusterId, _lastRevision, out var why))
                {
                    Directory.Delete(folder, recursive: true);
                }
                else
                {
                    log.LogWarning("keeping the data of {Id}: {Why}", id, why);
                }
            }
        }

        foreach (var p in start)
        {
            if (_retryAt.TryGetValue(p.Id, out var at) && Environment.TickCount64 < at)
            {
                continue;
            }

            var (launch, problem, digest) = await LaunchOfAsync(p).ConfigureAwait(false);
            if (launch is null)
            {
                if (_refused.Add(p.Id + "\n" + p.SpecRevision + "\n" + problem))
                {
                    log.LogWarning("{Problem}", problem);
                    _dirty[p.Id] = new InstanceStateDto(p.Id, node, InstanceState.Failed, false, 0, DateTime.UtcNow, problem);
                }

                continue;
            }

            _retryAt.Remove(p.Id);
            if (digest is not null)
            {
                _digests[p.Id] = digest;
            }

            Mark(p.Id);
            log.LogInformation("starting {Id} ({Image}, {Driver} driver)", p.Id, p.Image, launch.Driver);
            _running[p.Id] = new ProcessInstance(p, launch, dataDirectory, s => _dirty[s.Id] = s);
        }
    }

    /// <summary>
    /// Which driver runs a placement: <c>vm</c> when it asks for one (spec.boot.runtime: vm), or for auto when this
    /// node runs VMs with KVM and has the image as a bootable image; <c>process</c> otherwise (the control plane's
    /// voters always, and auto where VMs would be emulated: a service under TCG boots in seconds and runs several times
    /// slower than the same binary as a process).
    /// </summary>
    private async Task<(Launch? Launch, string? Problem, string? Digest)> LaunchOfAsync(InstanceDto p)
    {
        var vmImage = p.Runtime == "process" ? null : vm.Resolve(p.Image);
        var fromCatalogue = cache is not null && cache.Available().Contains(p.Image);
        var driver = DriverFor(p.Runtime, vmImage is not null || (fromCatalogue && vm.Accelerator is not null), vm.Accelerator is not null, vm.Accelerator == "tcg", p.Image, out var refused);
        if (driver is null)
        {
            return (null, refused, null);
        }

        // Not on this node (the seed's own build, --image mappings): from the catalogue and the store, verified.
        CachedImage? pulled = null;
        if (cache is not null && (driver == "vm" ? vmImage is null : images.Resolve(p.Image, out _) is null))
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
                pulled = await cache.PrepareAsync(p.Image, driver == "vm", InUse(), timeout.Token).ConfigureAwait(false);
                vmImage = driver == "vm" ? new VmImage(pulled.Kernel, pulled.Initrd) : null;
            }
            catch (Exception ex) when (ex is ImageRefusedException or OperationCanceledException or IOException)
            {
                var transient = ex is not ImageRefusedException { Transient: false };
                _retryAt[p.Id] = Environment.TickCount64 + (long)(transient ? UnavailableRetry : RefusedRetry).TotalMilliseconds;
                return (null, ex is OperationCanceledException ? $"image {p.Image}: fetching it took more than 5 minutes" : ex.Message, null);
            }
        }

        if (driver == "vm")
        {
            if (vm.Allocate() is not { } link)
            {
                return (null, $"image {p.Image}: 254 VMs already run on this node", null);
            }

            string file;
            string[] arguments;
            try
            {
                (file, arguments) = vm.Command(p, vmImage!, link);
            }
            catch (ArgumentException ex)
            {
                link.Dispose();
                return (null, $"{p.Id}: {ex.Message}", null);
            }

            return (new Launch(file, arguments, link.Guest, "vm", ct => link.ConfigureAsync(TimeSpan.FromSeconds(10), ct), link), null, pulled?.Digest);
        }

        (string File, string[] Prefix) command;
        if (pulled is not null)
        {
            command = (pulled.Binary, []);
        }
        else if (images.Resolve(p.Image, out var problem) is { } local)
        {
            command = local;
        }
        else
        {
            return (null, problem, null);
        }

        if (ImageReference.Parse(p.Image)?.Name == "netboot" && await Netboot.RefreshAsync(InUse(), CancellationToken.None).ConfigureAwait(false) is { } none)
        {
            return (null, $"{p.Id}: {none}", null);
        }

        var (binary, prefix) = await WithNodeArgumentsAsync(p, command, pulled).ConfigureAwait(false);
        return (new Launch(binary, [.. prefix, .. p.Args ?? []], address ?? "127.0.0.1", "process"), null, pulled?.Digest);
    }

    private async Task ReportAsync(ControlClient client, List<InstanceDto> placed, CancellationToken ct)
    {
        var ids = placed.Select(p => p.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var (id, state) in _dirty.ToList())
        {
            if (!ids.Contains(id))
            {
                _dirty.TryRemove(id, out _);
                continue;
            }

            // Only while the placement exists: a state written after the scheduler removed it would be left behind.
            var txn = new TxnRequest(
                [new CompareDto(StoreKeys.Instance(node, id), "version", ">", Number: 0)],
                [new OpDto("put", StoreKeys.InstanceState(node, id), JsonSerializer.Serialize(state, ControlJsonContext.Default.InstanceStateDto))],
                []);
            await client.TxnAsync(txn, ct).ConfigureAwait(false);
            _dirty.TryRemove(new KeyValuePair<string, InstanceStateDto>(id, state));
        }
    }

    /// <summary>
    /// The infrastructure images need their node: the control image is a Raft voter of this cluster (this node's
    /// address, its name, where its data goes, the members to ask to join); dhcp serves on the node's interface with
    /// its leases in the control plane and sends machines to a netboot instance; netboot serves the node image and puts
    /// the control plane and the join token on booted nodes' command line. Both read the applied cluster.yaml. Other
    /// images run with the spec's arguments.
    /// </summary>
    private async Task<(string File, string[] Prefix)> WithNodeArgumentsAsync(InstanceDto p, (string File, string[] Prefix) command, CachedImage? pulled)
    {
        var here = address ?? "127.0.0.1";
        // The builtin images by name, whichever version runs (builtin/<name>, <name>@sha256:…).
        switch (ImageReference.Parse(p.Image)?.Name)
        {
            case "control":
                {
                    // The voter asks for its member certificate and to be added as this node (its certificate, else
                    // its key): the scheduler's voter placement on this node is what lets it join.
                    var port = p.Ports is { Count: > 0 } ports ? ports[0] : 7070;
                    // The control image's binary takes the member's options; a mapping to the zc CLI runs `zc serve control`.
                    string[] serve = Path.GetFileNameWithoutExtension(command.Prefix.LastOrDefault() ?? command.File) == "zc" ? ["serve", "control"] : [];
                    return (command.File, [.. command.Prefix, .. serve, "--data", Path.Combine(dataDirectory, "instances", p.Id, "data"), "--listen", $"{here}:{port}", "--name", node, "--peers", string.Join(',', endpoints.All), .. ServiceCredential(), .. CaFile()]);
                }

            case "dhcp":
                {
                    var spec = await SpecFileAsync().ConfigureAwait(false);
                    var boot = await NetbootAddressAsync().ConfigureAwait(false) ?? here;
                    return (command.File, [.. command.Prefix, "-f", spec, .. Interface(), "--store", endpoints.Current.Server.ToString().TrimEnd('/'), .. ServiceCredential(), .. CaFile(), "--next-server", boot, "--http-base", $"http://{boot}:{NetbootHttpPort}"]);
                }

            case "netboot":
                {
                    var spec = await SpecFileAsync().ConfigureAwait(false);
                    // The netboot image carries the iPXE binaries; a local build uses the distro's.
                    string[] root = ["--root", Netboot.Root, .. pulled is null ? (string[])[] : ["--ipxe-dir", Path.Combine(pulled.Root, "usr", "lib", "ipxe")]];
                    return (command.File, [.. command.Prefix, "-f", spec, .. Interface(), .. root, "--http-port", NetbootHttpPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "--control", .. endpoints.All, .. ServiceCredential(), .. CaFile()]);
                }

            case "storage" when context.CertificateFiles is var (certificate, key) && File.Exists(certificate) && File.Exists(key) && endpoints.Trust is not null:
                {
                    // Its chunks live in the node's data folder, not the instance's: a storage instance placed here
                    // again (or restarted) finds what the node held, and the store repairs or collects from there.
                    var port = p.Ports is { Count: > 0 } ports ? ports[0] : StoragePort;
                    return (command.File, [.. command.Prefix, "--node", node, "--data", Path.Combine(dataDirectory, "storage"), "--listen", $"{here}:{port}", "--control", .. endpoints.All, "--cert-file", certificate, "--key-file", key, .. CaFile()]);
                }

            default:
                return command;
        }
    }

    /// <summary>Where storage instances serve when the spec names no port (the scheduler counts it as taken: Planner.StoragePort).</summary>
    private const int StoragePort = 8890;

    /// <summary>
    /// How dhcp, netboot and voters speak to the control plane: with the node's client certificate once the agent has one (its
    /// files; the services re-read them when the agent renews it), else with the node's key.
    /// </summary>
    private string[] ServiceCredential() =>
        context.CertificateFiles is var (certificate, key) && File.Exists(certificate) && File.Exists(key)
            ? ["--cert-file", certificate, "--key-file", key]
            : CredentialFile();

    /// <summary>The node's credential for an infrastructure instance: in a 0600 file, never in its argument list; none while the node has none.</summary>
    private string[] CredentialFile()
    {
        if (context.Credential() is not { } credential)
        {
            return [];
        }

        var file = Path.Combine(dataDirectory, "node-credential");
        ZeroCloud.Model.SecretFile.Write(file, credential);
        return ["--token-file", file];
    }

    /// <summary>The cluster's root for an infrastructure instance (it checks the control plane with it; netboot pins it on the machines it boots); none over plain HTTP.</summary>
    private string[] CaFile()
    {
        if (endpoints.Trust?.Root is not { } root)
        {
            return [];
        }

        var file = Path.Combine(dataDirectory, "cluster-ca.crt");
        File.WriteAllText(file, root.ExportCertificatePem() + "\n");
        return ["--ca-file", file];
    }

    /// <summary>netboot instances serve HTTP here (the scheduler counts it as taken: Planner.NetbootHttpPort); 8080 is the example workload's.</summary>
    private const int NetbootHttpPort = 8880;

    private string[] Interface() => context.Interface is { } nic ? ["--interface", nic] : [];

    /// <summary>The applied cluster.yaml, written to the node's data folder for the services that read it.</summary>
    private async Task<string> SpecFileAsync()
    {
        var spec = await endpoints.Current.GetAsync(StoreKeys.Spec).ConfigureAwait(false) ?? throw new ControlApiException(404, "not_found", "no cluster.yaml applied yet");
        var path = Path.Combine(dataDirectory, "cluster.yaml");
        await File.WriteAllTextAsync(path, spec.Value).ConfigureAwait(false);
        return path;
    }

    /// <summary>Where machines fetch boot files: this node when it runs netboot, else the node of the first netboot instance.</summary>
    private async Task<string?> NetbootAddressAsync()
    {
        var client = endpoints.Current;
        var netboot = (await client.InstancesAsync().ConfigureAwait(false)).Instances.Select(v => v.Instance).Where(i => i.Service == "netboot" || i.Image == "builtin/netboot").OrderBy(i => i.Id, StringComparer.Ordinal).ToList();
        if (netboot.Count == 0 || netboot.Any(i => i.Node == node))
        {
            return null;
        }

        return (await client.NodesAsync().ConfigureAwait(false)).Nodes.FirstOrDefault(n => n.Name == netboot[0].Node)?.Address;
    }

    /// <summary>
    /// The agent's decision each round, pure: which running instances stop (gone: no longer placed here, so their
    /// data goes too; else their placement changed and they start again as placed) and which placements start.
    /// </summary>
    internal static (List<(string Id, bool Gone)> Stop, List<InstanceDto> Start) Decide(IReadOnlyList<InstanceDto> placed, IReadOnlyDictionary<string, InstanceDto> running)
    {
        var wanted = placed.ToDictionary(p => p.Id, StringComparer.Ordinal);
        var stop = new List<(string, bool)>();
        foreach (var (id, instance) in running.OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            if (!wanted.TryGetValue(id, out var want))
            {
                stop.Add((id, true));
            }
            else if (!Same(want, instance))
            {
                stop.Add((id, false));
            }
        }

        var stopped = stop.Select(s => s.Item1).ToHashSet(StringComparer.Ordinal);
        return (stop, [.. placed.Where(p => !running.ContainsKey(p.Id) || stopped.Contains(p.Id))]);
    }

    /// <summary>
    /// Which driver runs a placement: <c>vm</c> when it asks for one, or for auto (no runtime) when this node runs VMs
    /// and has a bootable image for it; <c>process</c> otherwise. Null with the reason when it asks for a VM this node cannot give.
    /// </summary>
    internal static string? DriverFor(string? runtime, bool hasBootableImage, bool runsVms, bool emulated, string image, out string? problem)
    {
        problem = null;
        if (runtime == "vm" || (runtime is null && hasBootableImage && runsVms && !emulated))
        {
            if (!runsVms)
            {
                problem = $"image {image}: spec.boot.runtime is vm and this node cannot run VMs (no probe guest reached init)";
                return null;
            }

            if (!hasBootableImage)
            {
                problem = $"image {image}: no bootable image for it on this node (looked for <name>/vmlinuz and initrd.img in the --vm-images folders)";
                return null;
            }

            return "vm";
        }

        return "process";
    }

    private static bool Same(InstanceDto a, InstanceDto b) =>
        a.Image == b.Image && a.SpecRevision == b.SpecRevision && a.CpuMillis == b.CpuMillis && a.MemoryBytes == b.MemoryBytes && a.Runtime == b.Runtime;
}

/// <summary>
/// <c>instances/&lt;id&gt;/placement.json</c>: the cluster that placed the instance (its root's SHA-256) and the revision
/// of the placements answer that listed it when it was started. The sweep deletes an instance's data only on an
/// answer from that cluster at a newer revision that no longer lists it.
/// </summary>
internal sealed record PlacementMarker(
    [property: System.Text.Json.Serialization.JsonPropertyName("cluster")] string Cluster,
    [property: System.Text.Json.Serialization.JsonPropertyName("revision")] long Revision);

[System.Text.Json.Serialization.JsonSerializable(typeof(PlacementMarker))]
internal sealed partial class NodeJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
