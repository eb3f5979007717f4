using ZeroCloud.Lab;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Config;

namespace ZeroCloud.Cli.Up;

/// <summary>
/// Follows a bring-up: each round it reads every server's boot events, asks the control plane for nodes, services and
/// members, marks servers whose processes are gone as lost, and decides whether the cluster is up (every node in,
/// the voters there, every service at its replicas and healthy) or cannot get there (every server is in and the
/// scheduler still cannot place something, for 15 s).
/// </summary>
internal sealed class BringUpMonitor(ControlClient client, ClusterConfig config, LabState state)
{
    /// <summary>Each virtual server's zc-node writes its boot phases here as JSON lines (<see cref="BootEvent"/>).</summary>
    public const string EventsFile = "events.jsonl";

    public const string SeedName = "seed";

    private DateTime _lastPowerCheck = DateTime.UtcNow;
    private DateTime? _stuckSince;
    private readonly HashSet<string> _qemuSeen = new(StringComparer.Ordinal);
    private readonly HashSet<string> _emptyOnce = new(StringComparer.Ordinal);

    private static bool IsQemu(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").StartsWith("qemu-system", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false; // gone meanwhile
        }
    }

    public List<ServerView> Servers { get; } = [.. state.Servers.Select(s => new ServerView(s))];

    public IReadOnlyList<NodeDto> Nodes { get; private set; } = [];

    public IReadOnlyList<ServiceDto> Services { get; private set; } = [];

    public IReadOnlyList<MemberDto> Members { get; private set; } = [];

    public IReadOnlyList<string> Unplaced { get; private set; } = [];

    public ClusterConfig Config => config;

    public LabState State => state;

    /// <summary>Every server is in and the scheduler has not placed everything for 15 s: more waiting will not help.</summary>
    public bool Hopeless => _stuckSince is { } since && DateTime.UtcNow - since > TimeSpan.FromSeconds(15);

    public int Passed(ServerPhase phase) => Servers.Count(v => v.Reached(phase));

    public int Lost => Servers.Count(v => v.IsLost);

    public int Voters => Members.Count(m => m.Status == MemberStatus.Available);

    /// <summary>One round; true when the cluster is up.</summary>
    public async Task<bool> StepAsync(CancellationToken ct)
    {
        foreach (var v in Servers)
        {
            Follow(v);
        }

        try
        {
            Nodes = (await client.NodesAsync(ct).ConfigureAwait(false)).Nodes;
            var answer = await client.ServicesAsync(ct).ConfigureAwait(false);
            Services = answer.Services;
            Unplaced = answer.Scheduler?.Unplaced ?? [];
            Members = (await client.MembersAsync(ct).ConfigureAwait(false)).Members;
        }
        catch (ControlApiException)
        {
            // the control plane is busy or changing leader: next time
        }

        foreach (var v in Servers)
        {
            v.Apply(Nodes.FirstOrDefault(n => n.Name == v.Name)?.Status);
        }

        if (DateTime.UtcNow - _lastPowerCheck > TimeSpan.FromSeconds(3))
        {
            _lastPowerCheck = DateTime.UtcNow;
            foreach (var v in Servers.Where(v => !v.IsIn))
            {
                var pids = await Netns.PidsAsync(v.Server.Namespace).ConfigureAwait(false);
                // Off when two looks 3 s apart find nobody: one empty look was seen once in a 100-server zc up at a
                // server that went on to join (a scan of /proc that missed it, at its firmware's exec of the agent).
                if (pids.Count == 0 && !_emptyOnce.Add(v.Server.Id))
                {
                    v.SwitchedOff();
                }
                else if (pids.Count > 0)
                {
                    _emptyOnce.Remove(v.Server.Id);
                }

                if (pids.Count > 0 && v.Server.IsVm)
                {
                    // A QEMU machine's namespace keeps its machine process (and BMC) when QEMU exits: the machine is
                    // off once the QEMU seen before is gone.
                    if (pids.Any(IsQemu))
                    {
                        _qemuSeen.Add(v.Server.Id);
                    }
                    else if (_qemuSeen.Contains(v.Server.Id))
                    {
                        v.SwitchedOff($"its QEMU exited (switched off, or it died) at {v.PhaseText}");
                    }
                }
            }
        }

        var allIn = Servers.All(v => v.IsIn);
        _stuckSince = allIn && Unplaced.Count > 0 ? _stuckSince ?? DateTime.UtcNow : null;
        var voters = Math.Min(config.Spec.ControlPlane.Replicas, Nodes.Count(n => n.Status == NodeStatus.Ready));
        return Nodes.Any(n => n.Name == SeedName && n.Status == NodeStatus.Ready)
            && allIn
            && Members.Count == voters && Members.All(m => m.Status == MemberStatus.Available)
            && Services.Count > 0
            && Services.All(x => x.Running >= x.Desired && x.Healthy >= x.Desired)
            && (Lost == 0 || Services.All(x => x.Placed == x.Desired));
    }

    public async Task<IReadOnlyList<InstanceView>> InstancesAsync(CancellationToken ct)
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

    /// <summary>A server's structured boot events, and the last line of its log for the humans.</summary>
    private static void Follow(ServerView v)
    {
        if (v.IsIn)
        {
            return;
        }

        v.LastLine = Tail(Path.Combine(v.Server.Directory, "node.log"))?.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? v.LastLine;
        foreach (var e in BootEvent.ReadAll(Tail(Path.Combine(v.Server.Directory, EventsFile)) ?? ""))
        {
            v.Apply(e);
        }
    }

    private static string? Tail(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return new StreamReader(stream).ReadToEnd();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
