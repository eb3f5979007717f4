using System.Globalization;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Config;

namespace ZeroCloud.Orleans.Scheduling;

/// <summary>What the planner decided: placements to remove and to add, and services it could not complete.</summary>
public sealed record Plan(IReadOnlyList<InstanceDto> Remove, IReadOnlyList<InstanceDto> Add, IReadOnlyList<string> Unplaced)
{
    public bool IsEmpty => Remove.Count == 0 && Add.Count == 0;

    public string Summary => $"{Add.Count} to place, {Remove.Count} to remove" + (Unplaced.Count > 0 ? $"; {string.Join("; ", Unplaced)}" : "");
}

/// <summary>
/// The placement function: applied spec + nodes + current placements → the changes. Pure and deterministic (the same
/// inputs give the same plan: everything is visited in ordinal name order), so it can be tested on its own and two
/// planners given the same store contents agree.
/// <list type="bullet">
/// <item>Placements stay where they are unless their node is Down or gone, their service is gone, or what they run
/// (image, resources, ports, arguments, environment, health check) or where they may run (node selector) changed.</item>
/// <item>New placements go to Ready nodes that match the service's node selector (labels from the agent, overridden by
/// <c>nodes.known</c>) and have the CPU (millicores, 1000 per core) and memory free; memory and CPU are never
/// over-committed.</item>
/// <item>Among those, <c>spread: node</c> prefers the node with the fewest replicas of the service (so two replicas share
/// a node only when no other node has room); then the node with the most free memory; then the name.</item>
/// <item>Instance ids are <c>&lt;service&gt;-&lt;n&gt;</c> with the lowest free n; surplus replicas go highest n first.</item>
/// <item>An instance its agent reports Failed after <see cref="RestartBudget"/> restarts is placed on another node
/// (its node is avoided for that service in that plan).</item>
/// </list>
/// </summary>
public static class Planner
{
    /// <summary>The service that runs Raft voters when the control plane manages itself.</summary>
    public const string ControlService = "control";

    public const int ControlPort = 7070;

    /// <summary>
    /// The voters the control plane wants as instances: <c>controlPlane.replicas</c> less the members that run outside
    /// any instance on a node (<paramref name="staticVoters"/>: the seed), on distinct nodes that host no member yet.
    /// </summary>
    public static ServiceSpec ControlSpec(ClusterConfig spec, int staticVoters) => new(
        ControlService,
        "builtin/control",
        Math.Max(0, spec.Spec.ControlPlane.Replicas - staticVoters),
        new ResourceSpec(250, 256L << 20),
        SpreadPolicy.Node,
        [ControlPort],
        new HealthCheckSpec(null, ControlPort, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1), 3),
        System.Collections.Immutable.ImmutableSortedDictionary<string, string>.Empty,
        System.Collections.Immutable.ImmutableSortedDictionary<string, string>.Empty,
        [],
        System.Collections.Immutable.ImmutableSortedDictionary<string, string>.Empty);

    /// <summary>
    /// The images that hold the cluster's keys or steer other machines: the control plane (Raft log, the CA's key),
    /// DHCP and netboot (they decide what booting machines run), storage (every image's bytes). They run only on
    /// trusted nodes; any other image is a workload.
    /// </summary>
    public static bool IsInfrastructure(string image) => image is "builtin/control" or "builtin/dhcp" or "builtin/netboot" or "builtin/storage";

    /// <summary>
    /// The nodes that may run infrastructure. A MAC is not an identity: under <c>nodes.enroll: auto</c> anyone on the
    /// provisioning LAN can enroll a machine, so only these are trusted: a node listed under <c>nodes.known</c> by the
    /// name and MAC it joined with, a node an operator approved (<c>zc node approve</c>, for the MAC it had then),
    /// and a node whose Raft member an operator started outside the cluster's placements (<paramref name="started"/>:
    /// the seed).
    /// </summary>
    public static IReadOnlySet<string> Trusted(ClusterConfig spec, IEnumerable<NodeDto> nodes, IEnumerable<ApprovalDto> approvals, IEnumerable<string> started)
    {
        var known = spec.Spec.Nodes.Known.ToDictionary(k => k.Name, k => k.Mac, StringComparer.Ordinal);
        var approved = approvals.GroupBy(a => a.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last().Mac, StringComparer.Ordinal);
        var trusted = new HashSet<string>(started, StringComparer.Ordinal);
        foreach (var n in nodes)
        {
            if (n.Mac is null || !ZeroCloud.Model.Net.MacAddress.TryParse(n.Mac, out var mac))
            {
                continue;
            }

            if ((known.TryGetValue(n.Name, out var k) && k == mac)
                || (approved.TryGetValue(n.Name, out var a) && ZeroCloud.Model.Net.MacAddress.TryParse(a, out var am) && am == mac))
            {
                trusted.Add(n.Name);
            }
        }

        return trusted;
    }

    /// <summary>
    /// The addresses to reserve now (a node keeps its address across reboots, so a voter on it keeps its Raft identity):
    /// one per trusted node (<see cref="Trusted"/>) that reported its MAC and an address of the subnet and has no
    /// reservation yet. Never for a MAC with a static one (<c>nodes.known[].ip</c>), never an address reserved for
    /// another MAC, statically or at its enrollment. Untrusted nodes get none: anyone on the LAN could otherwise use up
    /// the range with made-up MACs.
    /// </summary>
    public static List<ReservationDto> NewReservations(ClusterConfig spec, IEnumerable<NodeDto> nodes, IReadOnlySet<string> trusted, IReadOnlyList<ReservationDto> existing, DateTime now)
    {
        var subnet = spec.Spec.Network.Subnet;
        var staticMacs = spec.Spec.Nodes.Known.Where(k => k.Ip is not null).Select(k => k.Mac).ToHashSet();
        var taken = spec.Spec.Nodes.Known.Where(k => k.Ip is not null).Select(k => k.Ip!.ToString())
            .Concat(existing.Select(r => r.Address)).ToHashSet(StringComparer.Ordinal);
        var reservedMacs = existing.Select(r => ZeroCloud.Model.Net.MacAddress.TryParse(r.Mac, out var m) ? m : default).ToHashSet();
        var made = new List<ReservationDto>();
        foreach (var node in nodes.Where(n => trusted.Contains(n.Name)).OrderBy(n => n.Name, StringComparer.Ordinal))
        {
            if (node.Mac is null || !ZeroCloud.Model.Net.MacAddress.TryParse(node.Mac, out var mac) || staticMacs.Contains(mac) || reservedMacs.Contains(mac)
                || node.Address is null || !System.Net.IPAddress.TryParse(node.Address, out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork
                || !subnet.IsHostAddress(ZeroCloud.Model.Net.Ipv4.ToUInt32(ip)) || (spec.Spec.Network.Gateway is { } gw && gw.Equals(ip)) || !taken.Add(ip.ToString()))
            {
                continue;
            }

            reservedMacs.Add(mac);
            made.Add(new ReservationDto(mac.ToString(), ip.ToString(), node.Name, now));
        }

        return made;
    }

    /// <summary>An instance Failed after this many restarts on its node is placed elsewhere.</summary>
    public const int RestartBudget = 5;

    /// <summary>Whether an agent's report says the instance used up its restarts on its node.</summary>
    public static bool OverBudget(InstanceStateDto? state) => state is { State: InstanceState.Failed } && state.Restarts >= RestartBudget;

    /// <summary>
    /// <paramref name="trusted"/>: the nodes that may run infrastructure (<see cref="Trusted"/>); null: every node may.
    /// <paramref name="staticVoterNodes"/>: null when the control plane runs outside the cluster's nodes (nothing of
    /// it is placed); else the nodes whose Raft member runs outside an instance (the seed), and the plan also places
    /// <see cref="ControlSpec"/> voters, strictly one per node, never beside a static one.
    /// </summary>
    public static Plan Compute(
        ClusterConfig spec,
        long specRevision,
        IReadOnlyList<NodeDto> nodes,
        IReadOnlyList<InstanceDto> placements,
        IReadOnlySet<string>? staticVoterNodes = null,
        IReadOnlyList<InstanceStateDto>? states = null,
        string? keepVoterOn = null,
        IReadOnlySet<string>? trusted = null)
    {
        // Placements that failed beyond their restart budget go, and their service avoids that node this round.
        var stateOf = (states ?? []).ToDictionary(st => (st.Node, st.Id));
        var avoid = placements.Where(p => OverBudget(stateOf.GetValueOrDefault((p.Node, p.Id)))).Select(p => (p.Service, p.Node)).ToHashSet();
        var known = spec.Spec.Nodes.Known.ToDictionary(k => k.Name, k => k.Labels, StringComparer.Ordinal);
        var runtime = spec.Spec.Boot.Runtime;
        var byName = nodes.ToDictionary(n => n.Name, StringComparer.Ordinal);
        var all = spec.Spec.Services;
        if (staticVoterNodes is not null && all.All(s => s.Name != ControlService))
        {
            var staticReady = staticVoterNodes.Count(n => byName.TryGetValue(n, out var node) && node.Status != NodeStatus.Down);
            all = all.Add(ControlSpec(spec, staticReady));
        }

        var services = all.ToDictionary(s => s.Name, StringComparer.Ordinal);
        var free = new SortedDictionary<string, (long Cpu, long Memory)>(StringComparer.Ordinal);
        foreach (var n in nodes.Where(n => n.Status == NodeStatus.Ready).OrderBy(n => n.Name, StringComparer.Ordinal))
        {
            free[n.Name] = (n.Cpus * 1000L, n.MemoryBytes);
        }

        var remove = new List<InstanceDto>();
        var kept = new List<InstanceDto>();
        var portsInUse = new Dictionary<string, HashSet<int>>(StringComparer.Ordinal);
        foreach (var p in placements.OrderBy(p => p.Node, StringComparer.Ordinal).ThenBy(p => p.Id, StringComparer.Ordinal))
        {
            var stays = services.TryGetValue(p.Service, out var service)
                && !avoid.Contains((p.Service, p.Node))
                && byName.TryGetValue(p.Node, out var node)
                && node.Status != NodeStatus.Down
                && Eligible(service, node, known, runtime, trusted)
                && Same(p, Template(service, p.Id, p.Node, p.SpecRevision, runtime));
            (stays ? kept : remove).Add(p);
            if (stays)
            {
                Use(portsInUse, p.Node, HostPorts(p.Image, p.Ports));
            }

            if (stays && free.TryGetValue(p.Node, out var f))
            {
                free[p.Node] = (f.Cpu - p.CpuMillis, f.Memory - p.MemoryBytes);
            }
        }

        var add = new List<InstanceDto>();
        var unplaced = new List<string>();
        foreach (var service in all.OrderBy(s => s.Name, StringComparer.Ordinal))
        {
            var ports = HostPorts(service.Image, service.Ports);
            var mine = kept.Where(p => p.Service == service.Name).OrderBy(p => Ordinal(p.Id)).ToList();
            // Fewer voters: the one on keepVoterOn (the member the scheduler itself talks through) goes last, so that
            // removing members never cuts the scheduler off from the control plane in the middle of it.
            var keepOrder = service.Name == ControlService && keepVoterOn is not null
                ? [.. mine.OrderBy(p => p.Node == keepVoterOn ? 0 : 1).ThenBy(p => Ordinal(p.Id))]
                : mine;
            foreach (var surplus in keepOrder.Skip(service.Replicas).ToList())
            {
                kept.Remove(surplus);
                remove.Add(surplus);
                mine.Remove(surplus);
                portsInUse.GetValueOrDefault(surplus.Node)?.ExceptWith(HostPorts(surplus.Image, surplus.Ports));
                if (free.TryGetValue(surplus.Node, out var f))
                {
                    free[surplus.Node] = (f.Cpu + surplus.CpuMillis, f.Memory + surplus.MemoryBytes);
                }
            }

            // A voter's log must survive a reboot: while any Ready node keeps its data on a disk, none goes to a node
            // that keeps it in RAM (one that does not say is taken at its word, as an older agent on a host). A voter
            // placed on a RAM node before any disk node was Ready moves to one, one voter per plan.
            var diskOnly = service.Name == ControlService && nodes.Any(n => n.Status == NodeStatus.Ready && n.Persistent == true);
            if (diskOnly && staticVoterNodes is not null
                && mine.FirstOrDefault(p => byName[p.Node].Persistent == false) is { } inRam
                && free.Keys.Any(n => byName[n].Persistent != false && !staticVoterNodes.Contains(n) && mine.All(p => p.Node != n)
                    && Eligible(service, byName[n], known, runtime, trusted) && !avoid.Contains((service.Name, n))))
            {
                kept.Remove(inRam);
                mine.Remove(inRam);
                remove.Add(inRam);
                if (free.TryGetValue(inRam.Node, out var f))
                {
                    free[inRam.Node] = (f.Cpu + inRam.CpuMillis, f.Memory + inRam.MemoryBytes);
                }
            }

            var used = mine.Select(p => Ordinal(p.Id)).ToHashSet();
            var perNode = mine.GroupBy(p => p.Node).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
            var missing = service.Replicas - mine.Count;
            for (var i = 0; i < missing; i++)
            {
                var candidates = free
                    .Where(kv => Eligible(service, byName[kv.Key], known, runtime, trusted))
                    .Where(kv => !diskOnly || byName[kv.Key].Persistent != false)
                    .Where(kv => service.Name != ControlService || staticVoterNodes is null || (!staticVoterNodes.Contains(kv.Key) && perNode.GetValueOrDefault(kv.Key) == 0))
                    .Where(kv => !avoid.Contains((service.Name, kv.Key)))
                    .Where(kv => !Collides(portsInUse, kv.Key, ports))
                    .ToList();
                var fits = candidates.Where(kv => kv.Value.Cpu >= service.Resources.CpuMillis && kv.Value.Memory >= service.Resources.MemoryBytes).ToList();
                if (fits.Count == 0)
                {
                    unplaced.Add(candidates.Count == 0 && service.Name == ControlService && staticVoterNodes is not null
                        ? $"{service.Name}: {missing - i} of {service.Replicas} voters unplaced: every Ready {(diskOnly ? "node with a data disk" : "node")} has a voter already (one per node){(diskOnly ? "; nodes with their data in RAM get none" : "")}"
                        : candidates.Count == 0
                        ? $"{service.Name}: {missing - i} of {service.Replicas} replicas unplaced: no Ready {(IsInfrastructure(service.Image) && trusted is not null ? "trusted (known or approved) " : "")}node{(service.NodeSelector.Count > 0 ? " matches its nodeSelector" : "")}{(RuntimeOf(service, runtime) == "vm" ? " runs vm (spec.boot.runtime)" : "")}{(nodes.Any(n => n.Status == NodeStatus.Ready && !HasImage(n, service.Image)) ? $" has image {service.Image}" : "")}{(ports.Count > 0 ? $" has port {string.Join(", ", ports)} free" : "")}"
                        : $"{service.Name}: {missing - i} of {service.Replicas} replicas unplaced: no Ready node has {service.Resources.CpuMillis}m CPU and {service.Resources.MemoryBytes >> 20}Mi memory free");
                    break;
                }

                // A VM goes to a node that runs VMs with KVM before one that emulates them (TCG: seconds to boot,
                // several times slower to run), whatever its free memory.
                var best = fits
                    .OrderBy(kv => service.Spread == SpreadPolicy.Node ? perNode.GetValueOrDefault(kv.Key) : 0)
                    .ThenBy(kv => RuntimeOf(service, runtime) == "vm" && byName[kv.Key].Accelerator == "tcg" ? 1 : 0)
                    .ThenByDescending(kv => kv.Value.Memory)
                    .ThenBy(kv => kv.Key, StringComparer.Ordinal)
                    .First();
                var ordinal = 0;
                while (used.Contains(ordinal))
                {
                    ordinal++;
                }

                used.Add(ordinal);
                var placed = Template(service, $"{service.Name}-{ordinal.ToString(CultureInfo.InvariantCulture)}", best.Key, specRevision, runtime);
                add.Add(placed);
                mine.Add(placed);
                Use(portsInUse, best.Key, HostPorts(placed.Image, placed.Ports));
                perNode[best.Key] = perNode.GetValueOrDefault(best.Key) + 1;
                free[best.Key] = (best.Value.Cpu - placed.CpuMillis, best.Value.Memory - placed.MemoryBytes);
            }

            if (service.Spread == SpreadPolicy.Node)
            {
                Respread(service, mine, perNode, free, n => Eligible(service, byName[n], known, runtime, trusted) && !Collides(portsInUse, n, ports), remove, add, specRevision, runtime);
            }
        }

        return new Plan(remove, add, unplaced);
    }

    /// <summary>
    /// <c>spread: node</c> once nodes joined after the replicas were placed: while a node holds two or more replicas and
    /// a Ready node that matches holds none and has room, the highest-numbered replica on the most crowded node moves
    /// there (same id, new node). One move per replica per plan; nothing moves when spreading is already as wide as it can be.
    /// </summary>
    private static void Respread(
        ServiceSpec service,
        List<InstanceDto> mine,
        Dictionary<string, int> perNode,
        SortedDictionary<string, (long Cpu, long Memory)> free,
        Func<string, bool> matches,
        List<InstanceDto> remove,
        List<InstanceDto> add,
        long specRevision,
        RuntimeKind runtime)
    {
        while (true)
        {
            var crowded = perNode.Where(kv => kv.Value >= 2).OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key).FirstOrDefault();
            if (crowded is null)
            {
                return;
            }

            var empty = free
                .Where(kv => perNode.GetValueOrDefault(kv.Key) == 0 && matches(kv.Key) && kv.Value.Cpu >= service.Resources.CpuMillis && kv.Value.Memory >= service.Resources.MemoryBytes)
                .OrderByDescending(kv => kv.Value.Memory)
                .ThenBy(kv => kv.Key, StringComparer.Ordinal)
                .Select(kv => kv.Key)
                .FirstOrDefault();
            if (empty is null)
            {
                return;
            }

            var moving = mine.Where(p => p.Node == crowded).OrderByDescending(p => Ordinal(p.Id)).First();
            if (!add.Remove(moving))
            {
                remove.Add(moving);
            }

            var moved = Template(service, moving.Id, empty, specRevision, runtime);
            mine.Remove(moving);
            mine.Add(moved);
            add.Add(moved);
            perNode[crowded]--;
            perNode[empty] = 1;
            if (free.TryGetValue(crowded, out var c))
            {
                free[crowded] = (c.Cpu + moving.CpuMillis, c.Memory + moving.MemoryBytes);
            }

            var e = free[empty];
            free[empty] = (e.Cpu - moved.CpuMillis, e.Memory - moved.MemoryBytes);
        }
    }

    /// <summary>
    /// The ports an instance takes on its node (processes share the node's network): the spec's, and those the
    /// infrastructure images always serve on (dhcp 67, netboot 69 and its HTTP port). Two instances that share one never
    /// go to the same node, as Kubernetes does with host ports.
    /// </summary>
    public static IReadOnlySet<int> HostPorts(string image, IEnumerable<int>? ports)
    {
        var set = new SortedSet<int>(ports ?? []);
        switch (image)
        {
            case "builtin/dhcp":
                set.Add(67);
                break;
            case "builtin/netboot":
                set.Add(69);
                set.Add(NetbootHttpPort);
                break;
            case "builtin/storage" when ports is null || !ports.Any():
                set.Add(StoragePort);
                break;
        }

        return set;
    }

    /// <summary>The HTTP port of netboot instances (8080 is the example workload's).</summary>
    public const int NetbootHttpPort = 8880;

    /// <summary>The port storage instances serve on when the spec names none (one per node).</summary>
    public const int StoragePort = 8890;

    private static void Use(Dictionary<string, HashSet<int>> inUse, string node, IReadOnlySet<int> ports)
    {
        if (!inUse.TryGetValue(node, out var set))
        {
            inUse[node] = set = [];
        }

        set.UnionWith(ports);
    }

    private static bool Collides(Dictionary<string, HashSet<int>> inUse, string node, IReadOnlySet<int> ports) =>
        inUse.TryGetValue(node, out var set) && set.Overlaps(ports);

    /// <summary>The placement a service asks for, on a node.</summary>
    public static InstanceDto Template(ServiceSpec s, string id, string node, long specRevision, RuntimeKind runtime = RuntimeKind.Auto) => new(
        id,
        s.Name,
        node,
        s.Image,
        s.Resources.CpuMillis,
        s.Resources.MemoryBytes,
        specRevision,
        s.Ports.Length > 0 ? [.. s.Ports] : null,
        s.Args.Length > 0 ? [.. s.Args] : null,
        s.Env.Count > 0 ? s.Env : null,
        s.Health is { } h ? new HealthDto(h.HttpPath, h.Port, h.Interval.TotalSeconds, h.Timeout.TotalSeconds, h.FailureThreshold) : null,
        RuntimeOf(s, runtime));

    /// <summary>
    /// The runtime a service's instances must use: the control plane's voters are always processes (they serve on the
    /// node's own address); others follow spec.boot.runtime, null for auto.
    /// </summary>
    public static string? RuntimeOf(ServiceSpec s, RuntimeKind runtime) => s.Name == ControlService ? "process" : runtime switch
    {
        RuntimeKind.Vm => "vm",
        RuntimeKind.Process => "process",
        _ => null,
    };

    private static bool Same(InstanceDto a, InstanceDto b) =>
        a.Image == b.Image
        && a.CpuMillis == b.CpuMillis
        && a.MemoryBytes == b.MemoryBytes
        && (a.Ports ?? []).SequenceEqual(b.Ports ?? [])
        && (a.Args ?? []).SequenceEqual(b.Args ?? [])
        && (a.Env ?? new Dictionary<string, string>()).OrderBy(kv => kv.Key, StringComparer.Ordinal).SequenceEqual((b.Env ?? new Dictionary<string, string>()).OrderBy(kv => kv.Key, StringComparer.Ordinal))
        && a.Health == b.Health
        && a.Runtime == b.Runtime;

    private static int Ordinal(string id) =>
        id.LastIndexOf('-') is var dash and >= 0 && int.TryParse(id.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : int.MaxValue;

    private static IReadOnlyDictionary<string, string> Labels(NodeDto node, Dictionary<string, System.Collections.Immutable.ImmutableSortedDictionary<string, string>> known)
    {
        if (!known.TryGetValue(node.Name, out var fromSpec) || fromSpec.Count == 0)
        {
            return node.Labels ?? new Dictionary<string, string>();
        }

        var merged = new Dictionary<string, string>(node.Labels ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        foreach (var (k, v) in fromSpec)
        {
            merged[k] = v;
        }

        return merged;
    }

    /// <summary>
    /// The service's nodeSelector matches the node's labels, a service that must run as a VM goes only to nodes that
    /// run VMs, and the node can run its image (a node that reports its images names it; one that does not is
    /// taken at its word).
    /// </summary>
    private static bool Eligible(ServiceSpec service, NodeDto node, Dictionary<string, System.Collections.Immutable.ImmutableSortedDictionary<string, string>> known, RuntimeKind runtime, IReadOnlySet<string>? trusted) =>
        (trusted is null || !IsInfrastructure(service.Image) || trusted.Contains(node.Name))
        && Matches(service, Labels(node, known)) && (RuntimeOf(service, runtime) != "vm" || (node.Runtimes ?? []).Contains("vm")) && HasImage(node, service.Image);

    private static bool HasImage(NodeDto node, string image) => node.Images is null || node.Images.Contains(image);

    private static bool Matches(ServiceSpec service, IReadOnlyDictionary<string, string> labels) =>
        service.NodeSelector.All(kv => labels.TryGetValue(kv.Key, out var v) && v == kv.Value);
}
