using System.Collections.Concurrent;
using System.Text.Json;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Node.Runtime;

/// <summary>
/// Runs what the scheduler placed on this node: every second it reads the node's placements
/// (<c>GET /v1/instances?node=</c> from a control-plane member, the next one when a member fails), starts what is
/// new, stops what is no longer placed (also what a node that was Down still ran: the control plane placed it
/// elsewhere), and writes each instance's state to <c>/zc/instance-state/&lt;node&gt;/&lt;id&gt;</c> when it changes.
/// </summary>
internal sealed class InstanceAgent(ControlEndpoints endpoints, string node, string? address, Images images, Vm vm, string dataDirectory, Action<string> log)
{
    private readonly Dictionary<string, ProcessInstance> _running = new(StringComparer.Ordinal);
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
                    var placed = (await client.InstancesAsync(node, ct).ConfigureAwait(false)).Instances.Select(v => v.Instance).ToList();
                    await ReconcileAsync(placed).ConfigureAwait(false);
                    await ReportAsync(client, placed, ct).ConfigureAwait(false);
                }
                catch (ControlApiException ex) when (!ct.IsCancellationRequested)
                {
                    log($"instances via {client.Server}: {ex.Message}");
                    endpoints.Failed(client);
                }

                await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
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
                if (!wanted.ContainsKey(Path.GetFileName(folder)))
                {
                    log($"removing the data of {Path.GetFileName(folder)} (no longer placed here)");
                    Directory.Delete(folder, recursive: true);
                }
            }
        }

        foreach (var (id, instance) in _running.ToList())
        {
            if (!wanted.TryGetValue(id, out var want) || !Same(want, instance.Instance))
            {
                log($"stopping {id} ({(want is null ? "no longer placed here" : "its placement changed")})");
                _running.Remove(id);
                _dirty.TryRemove(id, out _);
                await instance.DisposeAsync().ConfigureAwait(false);
                if (want is null)
                {
                    try
                    {
                        Directory.Delete(Path.Combine(dataDirectory, "instances", id), recursive: true);
                    }
                    catch (DirectoryNotFoundException)
                    {
                        // never started
                    }
                }
            }
        }

        foreach (var p in placed.Where(p => !_running.ContainsKey(p.Id)))
        {
            var (launch, problem) = LaunchOf(p);
            if (launch is null)
            {
                if (_refused.Add(p.Id + "\n" + p.SpecRevision))
                {
                    log(problem!);
                    _dirty[p.Id] = new InstanceStateDto(p.Id, node, "Failed", false, 0, DateTime.UtcNow, problem);
                }

                continue;
            }

            log($"starting {p.Id} ({p.Image}, {launch.Driver} driver)");
            _running[p.Id] = new ProcessInstance(p, launch, dataDirectory, s => _dirty[s.Id] = s);
        }
    }

    /// <summary>
    /// Which driver runs a placement: <c>vm</c> when it asks for one (spec.boot.runtime: vm), or for auto when this
    /// node runs VMs and has the image as a bootable image; <c>process</c> otherwise (the control plane's voters always).
    /// </summary>
    private (Launch? Launch, string? Problem) LaunchOf(InstanceDto p)
    {
        var vmImage = p.Runtime == "process" ? null : vm.Resolve(p.Image);
        if (p.Runtime == "vm" || (p.Runtime is null && vmImage is not null && vm.Accelerator is not null))
        {
            if (vm.Accelerator is null)
            {
                return (null, $"image {p.Image}: spec.boot.runtime is vm and this node cannot run VMs (no probe guest reached init)");
            }

            if (vmImage is null)
            {
                return (null, $"image {p.Image}: no bootable image for it on this node (looked for <name>/vmlinuz and initrd.img in the --vm-images folders)");
            }

            if (vm.Allocate() is not { } link)
            {
                return (null, $"image {p.Image}: 254 VMs already run on this node");
            }

            var (file, arguments) = vm.Command(p, vmImage, link);
            return (new Launch(file, arguments, link.Guest, "vm", ct => link.ConfigureAsync(TimeSpan.FromSeconds(10), ct), link), null);
        }

        if (images.Resolve(p.Image, out var problem) is not { } command)
        {
            return (null, problem);
        }

        var (binary, prefix) = WithNodeArguments(p, command);
        return (new Launch(binary, [.. prefix, .. p.Args ?? []], address ?? "127.0.0.1", "process"), null);
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
    /// The control image is a Raft voter of this cluster: it needs this node's address, its name, where its data goes,
    /// and the members to ask to join (the ones the agent knows). Other images run with the spec's arguments.
    /// </summary>
    private (string File, string[] Prefix) WithNodeArguments(InstanceDto p, (string File, string[] Prefix) command)
    {
        if (p.Image != "builtin/control")
        {
            return command;
        }

        var port = p.Ports is { Count: > 0 } ports ? ports[0] : 7070;
        return (command.File, [.. command.Prefix, "serve", "control", "--data", Path.Combine(dataDirectory, "instances", p.Id, "data"), "--listen", $"{address ?? "127.0.0.1"}:{port}", "--name", node, "--peers", string.Join(',', endpoints.All)]);
    }

    private static bool Same(InstanceDto a, InstanceDto b) =>
        a.Image == b.Image && a.SpecRevision == b.SpecRevision && a.CpuMillis == b.CpuMillis && a.MemoryBytes == b.MemoryBytes && a.Runtime == b.Runtime;
}
