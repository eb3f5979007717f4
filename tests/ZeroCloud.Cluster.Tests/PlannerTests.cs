using CsCheck;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Config;
using ZeroCloud.Orleans.Scheduling;

namespace ZeroCloud.Cluster.Tests;

/// <summary>The placement function on its own: fit, spread, selectors, evacuation, changes, determinism.</summary>
public class PlannerTests
{
    private static ClusterConfig Spec(string services, string known = "")
    {
        var yaml = $"""
            apiVersion: zerocloud.io/v1
            kind: Cluster
            metadata: {"{ name: t }"}
            spec:
              network: {"{ subnet: 10.0.0.0/24, gateway: 10.0.0.1 }"}
            {known}
              services:
            {services}
            """;
        var result = ClusterConfigLoader.Load(yaml, "t.yaml");
        Assert.True(result.IsValid, string.Join("\n", result.Diagnostics));
        return result.Config!;
    }

    private static NodeDto Node(string name, int cpus = 4, long memoryMi = 4096, NodeStatus status = NodeStatus.Ready, Dictionary<string, string>? labels = null) =>
        new(name, status, DateTime.UnixEpoch, cpus, memoryMi << 20, "10.0.0.9", labels, ["process"], 1);

    private static List<InstanceDto> Apply(IEnumerable<InstanceDto> placed, Plan plan) =>
        [.. placed.Where(p => !plan.Remove.Contains(p)).Concat(plan.Add)];

    [Fact]
    public void A_vm_runtime_places_only_on_nodes_that_run_vms_and_a_change_of_runtime_replaces_the_instances()
    {
        var services = """
                - { name: web, image: builtin/hello, replicas: 2, resources: { cpu: 100m, memory: 32Mi } }
            """;
        var vm = Spec(services, "  boot: { runtime: vm }");
        var vmNode = Node("b") with { Runtimes = ["process", "vm"] };
        var nodes = new[] { Node("a", memoryMi: 65536), vmNode };
        var plan = Planner.Compute(vm, 3, nodes, []);
        Assert.All(plan.Add, p => Assert.Equal(("b", "vm"), (p.Node, p.Runtime)));

        // No node runs VMs: unplaced, and the reason says so.
        var none = Planner.Compute(vm, 3, [Node("a")], []);
        Assert.Empty(none.Add);
        Assert.Contains(none.Unplaced, u => u.Contains("no Ready node runs vm (spec.boot.runtime)", StringComparison.Ordinal));

        // A node whose VMs are emulated (TCG) gets them only when no node with KVM has room, however much memory it has.
        var emulated = Node("c", memoryMi: 65536) with { Runtimes = ["process", "vm"], Accelerator = "tcg" };
        var kvm = vmNode with { Accelerator = "kvm" };
        var spread = Spec("""
                - { name: web, image: builtin/hello, replicas: 2, spread: node, resources: { cpu: 100m, memory: 32Mi } }
            """, "  boot: { runtime: vm }");
        Assert.All(Planner.Compute(vm, 3, [emulated, kvm], []).Add, p => Assert.Equal("b", p.Node));
        Assert.Equal(["b", "c"], Planner.Compute(spread, 3, [emulated, kvm], []).Add.Select(p => p.Node).Order(StringComparer.Ordinal));
        Assert.All(Planner.Compute(vm, 3, [emulated], []).Add, p => Assert.Equal(("c", "vm"), (p.Node, p.Runtime)));

        // auto leaves the choice to the node (no runtime in the placement); switching to it replaces the VMs.
        var auto = Spec(services);
        var again = Planner.Compute(auto, 4, nodes, plan.Add);
        Assert.Equal(2, again.Remove.Count);
        Assert.All(again.Add, p => Assert.Null(p.Runtime));
    }

    [Fact]
    public void A_node_that_reports_its_images_gets_only_work_it_has_the_image_for_and_the_reason_says_so()
    {
        var spec = Spec("""
                - { name: web, image: builtin/hello, replicas: 2, resources: { cpu: 100m, memory: 32Mi } }
            """);
        var bare = Node("pxe") with { Images = [] };
        var full = Node("a") with { Images = ["builtin/dhcp", "builtin/hello"] };
        var old = Node("b");

        var plan = Planner.Compute(spec, 3, [bare, full, old], []);

        Assert.Equal(["a", "b"], plan.Add.Select(p => p.Node).Order(StringComparer.Ordinal));
        var none = Planner.Compute(spec, 3, [bare], []);
        Assert.Empty(none.Add);
        Assert.Contains(none.Unplaced, u => u.Contains("no Ready node has image builtin/hello", StringComparison.Ordinal));

        // A placement on a node that stops reporting the image is moved.
        var moved = Planner.Compute(spec, 3, [bare with { Name = "a" }, old], plan.Add);
        Assert.Contains(moved.Remove, p => p.Node == "a");
    }

    [Fact]
    public void Spread_node_puts_one_replica_per_node_while_nodes_have_room_then_doubles_up()
    {
        var spec = Spec("""
                - { name: web, image: builtin/hello, replicas: 5, spread: node, resources: { cpu: 100m, memory: 32Mi } }
            """);
        var nodes = new[] { Node("a"), Node("b"), Node("c") };
        var plan = Planner.Compute(spec, 7, nodes, []);
        Assert.Empty(plan.Remove);
        Assert.Equal(["web-0", "web-1", "web-2", "web-3", "web-4"], plan.Add.Select(p => p.Id));
        Assert.Equal(3, plan.Add.Take(3).Select(p => p.Node).Distinct().Count());
        Assert.All(plan.Add.GroupBy(p => p.Node), g => Assert.InRange(g.Count(), 1, 2));
        Assert.All(plan.Add, p => Assert.Equal(7, p.SpecRevision));

        // Applied, the same inputs plan nothing more.
        Assert.True(Planner.Compute(spec, 7, nodes, plan.Add).IsEmpty);

        // Uneven nodes: spread still goes wide; without it, the roomiest node takes them all.
        var uneven = new[] { Node("big", memoryMi: 16384), Node("small1", memoryMi: 1024), Node("small2", memoryMi: 1024) };
        Assert.Equal(3, Planner.Compute(spec, 7, uneven, []).Add.Take(3).Select(p => p.Node).Distinct().Count());
        var packed = Spec("""
                - { name: web, image: builtin/hello, replicas: 3, resources: { cpu: 100m, memory: 32Mi } }
            """);
        Assert.All(Planner.Compute(packed, 7, uneven, []).Add, p => Assert.Equal("big", p.Node));
    }

    [Fact]
    public void Spread_replicas_placed_before_other_nodes_joined_move_to_them_once_they_are_ready()
    {
        var spec = Spec("""
                - { name: web, image: builtin/hello, replicas: 3, spread: node }
            """);
        var packed = Planner.Compute(spec, 1, [Node("a")], []).Add;
        Assert.All(packed, p => Assert.Equal("a", p.Node));

        var joined = Planner.Compute(spec, 1, [Node("a"), Node("b"), Node("c")], packed);
        var after = Apply(packed, joined);
        Assert.Equal(["a", "b", "c"], after.Select(p => p.Node).Order());
        Assert.Equal(["web-0", "web-1", "web-2"], after.Select(p => p.Id).Order());
        Assert.Equal(2, joined.Remove.Count);
        Assert.True(Planner.Compute(spec, 1, [Node("a"), Node("b"), Node("c")], after).IsEmpty);
    }

    [Fact]
    public void Voters_are_placed_one_per_node_never_beside_the_seed_and_only_when_members_are_nodes()
    {
        var spec = Spec("""
                - { name: web, image: builtin/hello, replicas: 1 }
            """);
        var nodes = new[] { Node("seed"), Node("a"), Node("b"), Node("c") };
        var external = Planner.Compute(spec, 1, nodes, [], staticVoterNodes: null);
        Assert.DoesNotContain(external.Add, p => p.Service == Planner.ControlService);

        var plan = Planner.Compute(spec, 1, nodes, [], new HashSet<string> { "seed" });
        var voters = plan.Add.Where(p => p.Service == Planner.ControlService).ToList();
        Assert.Equal(2, voters.Count);
        Assert.Equal(2, voters.Select(p => p.Node).Distinct().Count());
        Assert.DoesNotContain(voters, p => p.Node == "seed");
        Assert.All(voters, p => Assert.Equal(("builtin/control", "7070"), (p.Image, string.Join(",", p.Ports ?? []))));

        // The seed's node is Down: three voters are wanted from instances, on three other nodes; with only two
        // other nodes, the third is reported unplaced rather than doubled up.
        var seedDown = new[] { Node("seed", status: NodeStatus.Down), Node("a"), Node("b") };
        var after = Planner.Compute(spec, 1, seedDown, voters, new HashSet<string>());
        Assert.DoesNotContain(after.Add, p => p.Service == Planner.ControlService);
        Assert.Contains(after.Unplaced, u => u.StartsWith("control: 1 of 3", StringComparison.Ordinal));
    }

    [Fact]
    public void Voters_go_to_nodes_with_a_data_disk_while_any_has_one_and_to_ram_nodes_only_when_none_has()
    {
        var spec = Spec("""
                - { name: web, image: builtin/hello, replicas: 1 }
            """);
        NodeDto Ram(string n) => Node(n) with { Persistent = false, Disk = "none: no device matches spec.nodes.disks" };
        NodeDto Disk(string n) => Node(n) with { Persistent = true, Disk = "vdb: 100 GiB ext4 \"zerocloud\" at /var/lib/zerocloud" };

        // a and b keep their data in RAM (and sort first, with more memory); c has a disk: one voter there, the other unplaced.
        var plan = Planner.Compute(spec, 1, [Disk("seed"), Ram("a") with { MemoryBytes = 8L << 30 }, Ram("b"), Disk("c")], [], new HashSet<string> { "seed" });
        var voters = plan.Add.Where(p => p.Service == Planner.ControlService).ToList();
        Assert.Equal(["c"], voters.Select(p => p.Node));
        Assert.Contains(plan.Unplaced, u => u.Contains("nodes with their data in RAM get none", StringComparison.Ordinal));

        // No node has a disk: RAM nodes are all there is.
        var none = Planner.Compute(spec, 1, [Ram("seed"), Ram("a"), Ram("b")], [], new HashSet<string> { "seed" });
        Assert.Equal(["a", "b"], none.Add.Where(p => p.Service == Planner.ControlService).Select(p => p.Node).Order());

        // A voter placed on a RAM node before a disk node was Ready moves there; the freed id is used again.
        var early = Planner.Compute(spec, 1, [Node("seed"), Ram("a")], [], new HashSet<string> { "seed" }).Add.Where(p => p.Service == Planner.ControlService).ToList();
        Assert.Equal(["a"], early.Select(p => p.Node));
        var moved = Planner.Compute(spec, 1, [Node("seed"), Ram("a"), Disk("c")], early, new HashSet<string> { "seed" });
        Assert.Equal(["a"], moved.Remove.Select(p => p.Node));
        Assert.Equal(["c"], moved.Add.Where(p => p.Service == Planner.ControlService).Select(p => p.Node));

        // An agent that does not say (null) is taken at its word.
        var old = Planner.Compute(spec, 1, [Disk("seed"), Node("a"), Node("b")], [], new HashSet<string> { "seed" });
        Assert.Equal(2, old.Add.Count(p => p.Service == Planner.ControlService));
    }

    [Fact]
    public void Trusted_nodes_get_their_address_reserved_once_and_nobody_else_does()
    {
        var spec = Spec("""
                - { name: web, image: builtin/hello, replicas: 1 }
            """, """
              nodes:
                known:
                  - { mac: "52:54:00:00:00:0a", name: a }
                  - { mac: "52:54:00:00:00:0b", name: b, ip: 10.0.0.20 }
                  - { mac: "52:54:00:00:00:0c", name: c }
                  - { mac: "52:54:00:00:00:0d", name: d }
            """);
        NodeDto At(string name, string mac, string address) => Node(name) with { Mac = mac, Address = address };
        NodeDto[] nodes =
        [
            At("a", "52:54:00:00:00:0a", "10.0.0.100"),
            At("b", "52:54:00:00:00:0b", "10.0.0.20"),   // a static reservation already
            At("c", "52:54:00:00:00:0c", "10.0.0.101"),  // reserved before
            At("d", "52:54:00:00:00:0d", "10.0.0.102"),  // its address is reserved for another MAC
            At("e", "52:54:00:00:00:0e", "10.0.0.103"),  // not trusted
        ];
        var trusted = Planner.Trusted(spec, nodes, [], new HashSet<string>());
        ReservationDto[] existing = [new("52:54:00:00:00:0c", "10.0.0.101", "c", DateTime.UnixEpoch), new("52:54:00:00:00:ff", "10.0.0.102", "gone", DateTime.UnixEpoch)];
        var made = Planner.NewReservations(spec, nodes, trusted, existing, DateTime.UnixEpoch);
        Assert.Equal([("52:54:00:00:00:0a", "10.0.0.100", "a")], made.Select(r => (r.Mac, r.Address, r.Node)));
        Assert.Empty(Planner.NewReservations(spec, nodes, trusted, [.. existing, .. made], DateTime.UnixEpoch));
    }

    [Fact]
    public void Infrastructure_and_voters_go_only_to_known_approved_or_operator_started_nodes_workloads_anywhere()
    {
        var spec = Spec(
            """
                - { name: dhcp, image: builtin/dhcp, replicas: 3 }
                - { name: web, image: builtin/hello, replicas: 4, spread: node }
            """,
            """
              nodes:
                enroll: auto
                known:
                  - { mac: "52:54:00:00:00:01", name: known }
                  - { mac: "52:54:00:00:00:02", name: renamed }
            """);
        NodeDto WithMac(string name, string mac) => Node(name) with { Mac = mac };
        var nodes = new[]
        {
            Node("seed"),
            WithMac("known", "52:54:00:00:00:01"),
            WithMac("approved", "52:54:00:00:00:03"),
            WithMac("walk-in", "52:54:00:00:00:04"),
            // A known MAC under another name, and a known name with another MAC: neither is the listed machine.
            WithMac("impostor", "52:54:00:00:00:02"),
            WithMac("renamed", "52:54:00:00:00:05"),
            Node("no-mac"),
        };
        ApprovalDto[] approvals = [new("approved", "52:54:00:00:00:03", DateTime.UnixEpoch), new("walk-in", "52:54:00:00:00:99", DateTime.UnixEpoch)];
        var trusted = Planner.Trusted(spec, nodes, approvals, ["seed"]);
        Assert.Equal(["approved", "known", "seed"], trusted.Order(StringComparer.Ordinal));

        var plan = Planner.Compute(spec, 1, nodes, [], new HashSet<string> { "seed" }, trusted: trusted);
        Assert.Equal(["approved", "known", "seed"], plan.Add.Where(p => p.Service == "dhcp").Select(p => p.Node).Order(StringComparer.Ordinal));
        Assert.All(plan.Add.Where(p => p.Service == Planner.ControlService), p => Assert.Contains(p.Node, (string[])["approved", "known"]));
        Assert.Equal(2, plan.Add.Count(p => p.Service == Planner.ControlService));
        // Workloads are not infrastructure: they spread over untrusted nodes too.
        Assert.Equal(4, plan.Add.Where(p => p.Service == "web").Select(p => p.Node).Distinct().Count());

        // Trust withdrawn (the approval now names another MAC): its dhcp and its voter leave, and there is nowhere
        // trusted left for them; the reason says so.
        var placed = Apply([], plan);
        var withdrawn = Planner.Compute(spec, 1, nodes, placed, new HashSet<string> { "seed" }, trusted: Planner.Trusted(spec, nodes, [], ["seed"]));
        Assert.Contains(withdrawn.Remove, p => p.Node == "approved" && p.Service == "dhcp");
        Assert.Contains(withdrawn.Remove, p => p.Node == "approved" && p.Service == Planner.ControlService);
        Assert.DoesNotContain(withdrawn.Add, p => Planner.IsInfrastructure(p.Image));
        Assert.Contains("dhcp: 1 of 3 replicas unplaced: no Ready trusted (known or approved) node has port 67 free", withdrawn.Unplaced);
    }

    [Fact]
    public void An_instance_failed_beyond_its_restart_budget_is_placed_on_another_node()
    {
        var spec = Spec("""
                - { name: web, image: builtin/hello, replicas: 2, spread: node }
            """);
        var nodes = new[] { Node("a"), Node("b"), Node("c") };
        var placed = Planner.Compute(spec, 1, nodes, []).Add;
        var onA = placed.Single(p => p.Node == "a");
        InstanceStateDto State(int restarts) => new(onA.Id, "a", InstanceState.Failed, false, restarts, DateTime.UnixEpoch, "exited with code 1");

        Assert.True(Planner.Compute(spec, 1, nodes, placed, states: [State(Planner.RestartBudget - 1)]).IsEmpty);
        var moved = Planner.Compute(spec, 1, nodes, placed, states: [State(Planner.RestartBudget)]);
        Assert.Equal([onA], moved.Remove);
        Assert.Equal(("c", onA.Id), (Assert.Single(moved.Add).Node, moved.Add[0].Id));
    }

    [Fact]
    public void Memory_and_cpu_are_never_over_committed_and_what_does_not_fit_is_named()
    {
        var spec = Spec("""
                - { name: big, image: builtin/hello, replicas: 3, resources: { cpu: 1, memory: 3Gi } }
                - { name: huge, image: builtin/hello, replicas: 1, resources: { cpu: 100m, memory: 64Gi } }
            """);
        var plan = Planner.Compute(spec, 1, [Node("a"), Node("b")], []);
        Assert.Equal(2, plan.Add.Count(p => p.Service == "big"));
        Assert.Equal(["a", "b"], plan.Add.Where(p => p.Service == "big").Select(p => p.Node).Order());
        Assert.DoesNotContain(plan.Add, p => p.Service == "huge");
        Assert.Contains(plan.Unplaced, u => u.StartsWith("big: 1 of 3 replicas unplaced: no Ready node has 1000m CPU and 3072Mi memory free", StringComparison.Ordinal));
        Assert.Contains(plan.Unplaced, u => u.StartsWith("huge: 1 of 1", StringComparison.Ordinal));
    }

    [Fact]
    public void Node_selectors_use_agent_labels_and_the_known_machines_labels()
    {
        var spec = Spec(
            """
                - { name: edge, image: builtin/hello, replicas: 2, nodeSelector: { rack: r2 } }
                - { name: nowhere, image: builtin/hello, replicas: 1, nodeSelector: { rack: r9 } }
            """,
            """
              nodes:
                known:
                  - { mac: "52:54:00:00:00:01", name: a, labels: { rack: r2 } }
            """);
        var plan = Planner.Compute(spec, 1, [Node("a"), Node("b", labels: new() { ["rack"] = "r2" }), Node("c", labels: new() { ["rack"] = "r1" })], []);
        Assert.Equal(["a", "b"], plan.Add.Where(p => p.Service == "edge").Select(p => p.Node).Order());
        Assert.Contains("nowhere: 1 of 1 replicas unplaced: no Ready node matches its nodeSelector", plan.Unplaced);
    }

    [Fact]
    public void A_down_node_is_evacuated_a_suspect_one_keeps_its_instances_but_gets_no_new_ones()
    {
        var spec = Spec("""
                - { name: web, image: builtin/hello, replicas: 3, spread: node }
            """);
        var placed = Planner.Compute(spec, 1, [Node("a"), Node("b"), Node("c")], []).Add;
        var onA = placed.Single(p => p.Node == "a");

        var down = Planner.Compute(spec, 1, [Node("a", status: NodeStatus.Down), Node("b"), Node("c"), Node("d")], placed);
        Assert.Equal([onA], down.Remove);
        var moved = Assert.Single(down.Add);
        Assert.Equal(("d", onA.Id), (moved.Node, moved.Id));

        var suspect = Planner.Compute(spec, 1, [Node("a", status: NodeStatus.Suspect), Node("b"), Node("c"), Node("d")], placed);
        Assert.True(suspect.IsEmpty);
    }

    [Fact]
    public void Scaling_down_removes_the_highest_ordinals_and_a_changed_image_replaces_every_replica()
    {
        var three = Spec("""
                - { name: web, image: builtin/hello, replicas: 3 }
            """);
        var nodes = new[] { Node("a"), Node("b") };
        var placed = Planner.Compute(three, 1, nodes, []).Add;
        var one = Spec("""
                - { name: web, image: builtin/hello, replicas: 1 }
            """);
        var down = Planner.Compute(one, 2, nodes, placed);
        Assert.Equal(["web-1", "web-2"], down.Remove.Select(p => p.Id).Order());
        Assert.Empty(down.Add);

        var other = Spec("""
                - { name: web, image: "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", replicas: 3 }
            """);
        var changed = Planner.Compute(other, 3, nodes, placed);
        Assert.Equal(3, changed.Remove.Count);
        Assert.Equal(3, changed.Add.Count);
        Assert.All(changed.Add, p => Assert.Equal(("sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 3L), (p.Image, p.SpecRevision)));

        var gone = Planner.Compute(Spec("""
                - { name: other, image: builtin/hello, replicas: 0 }
            """), 4, nodes, placed);
        Assert.Equal(3, gone.Remove.Count);
    }

    [Fact]
    public void Plans_are_deterministic_whatever_the_order_of_the_inputs_and_never_exceed_a_node()
    {
        var spec = Spec("""
                - { name: a, image: builtin/hello, replicas: 7, spread: node, resources: { cpu: 500m, memory: 700Mi } }
                - { name: b, image: builtin/hello, replicas: 5, resources: { cpu: 1, memory: 1Gi } }
                - { name: c, image: builtin/hello, replicas: 9, spread: node, resources: { cpu: 250m, memory: 100Mi } }
            """);
        var gen = Gen.Select(Gen.Int[1, 6], Gen.Int[1, 8], Gen.Int[512, 8192], Gen.Int[0, 1000])
            .Select((count, cpus, memory, seed) => (Nodes: Enumerable.Range(0, count).Select(i => Node($"n{i}", cpus, memory + (i * 97 % 300))).ToList(), Seed: seed));
        gen.Sample(t =>
        {
            var plan = Planner.Compute(spec, 1, t.Nodes, []);
            var shuffled = t.Nodes.OrderBy(n => HashCode.Combine(n.Name, t.Seed)).ToList();
            Assert.Equal(plan.Add, Planner.Compute(spec, 1, shuffled, []).Add);
            foreach (var node in t.Nodes)
            {
                var mine = plan.Add.Where(p => p.Node == node.Name).ToList();
                Assert.True(mine.Sum(p => p.MemoryBytes) <= node.MemoryBytes, $"{node.Name} memory over-committed");
                Assert.True(mine.Sum(p => p.CpuMillis) <= node.Cpus * 1000L, $"{node.Name} CPU over-committed");
            }

            // Spread ("a" is planned first, so only its own replicas use room): a node holds two replicas only when
            // no node without one could have taken it.
            var perNode = t.Nodes.ToDictionary(n => n.Name, n => plan.Add.Count(p => p.Service == "a" && p.Node == n.Name));
            if (perNode.Values.Any(v => v > 1))
            {
                Assert.All(t.Nodes.Where(n => perNode[n.Name] == 0), n => Assert.True(n.MemoryBytes < 700L << 20, $"a doubled up while {n.Name} was empty"));
            }
        });
    }
}
