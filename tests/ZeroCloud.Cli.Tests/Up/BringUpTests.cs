using ZeroCloud.Cli.Up;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Config;

namespace ZeroCloud.Cli.Tests.Up;

/// <summary>zc up's pure parts: the lab plan made before anything is touched, and a server's progress from its events.</summary>
public class BringUpTests
{
    private static ClusterConfig Config(string network, string known = "")
    {
        var result = ClusterConfigLoader.Load($$"""
            apiVersion: zerocloud.io/v1
            kind: Cluster
            metadata: { name: t }
            spec:
              network: {{network}}
            {{known}}
            """, "t.yaml");
        Assert.True(result.IsValid, string.Join("\n", result.Diagnostics));
        return result.Config!;
    }

    private const string Network = "{ subnet: 10.9.0.0/24, gateway: 10.9.0.1, dhcp: { range: 10.9.0.100-10.9.0.104 } }";

    [Fact]
    public void The_plan_puts_the_seed_on_the_first_free_address_and_known_machines_first()
    {
        var config = Config(Network, """
              nodes:
                known: [ { name: a, mac: "52:54:00:00:00:aa", ip: 10.9.0.2 } ]
            """);

        var plan = LabPlan.Make(config, 3, "/lab", "zc-t", out var problem, out _);

        Assert.Null(problem);
        Assert.Equal("10.9.0.3", plan!.SeedAddress);
        Assert.Equal(["52:54:00:00:00:aa", "52:54:00:7a:00:02", "52:54:00:7a:00:03"], plan.Servers.Select(s => s.Mac));
        Assert.Equal(("s001", "zc-t-s001", "/lab/s001"), (plan.Servers[0].Id, plan.Servers[0].Namespace, plan.Servers[0].Directory));
        Assert.Equal(["zc-t-sw", "zc-t-seed", "zc-t-s001", "zc-t-s002", "zc-t-s003"], plan.ToState("zc-t-sw", DateTime.UnixEpoch).Namespaces);
    }

    [Fact]
    public void With_vm_the_last_servers_are_qemu_machines_uefi_first_taking_the_known_machines_with_a_bmc()
    {
        var config = Config(Network, """
              nodes:
                known:
                  - { name: a, mac: "52:54:00:00:00:aa" }
                  - { name: r1, mac: "52:54:00:00:00:b1", bmc: { redfish: "https://10.9.0.21/redfish/v1", credentials: lab } }
                  - { name: r2, mac: "52:54:00:00:00:b2", bmc: { redfish: "https://10.9.0.22:8443/redfish/v1", credentials: lab } }
            """);

        var plan = LabPlan.Make(config, 5, 3, "/lab", "zc-t", out var problem, out _);

        Assert.Null(problem);
        // The BMCs' addresses are taken: the seed is not put there.
        Assert.Equal("10.9.0.2", plan!.SeedAddress);
        Assert.Equal(
            [
                ("52:54:00:00:00:aa", null, null),
                ("52:54:00:7a:00:02", null, null),
                ("52:54:00:00:00:b1", "uefi", "10.9.0.21:443"),
                ("52:54:00:00:00:b2", "bios", "10.9.0.22:8443"),
                ("52:54:00:7a:00:05", "uefi", null),
            ],
            plan.Servers.Select(s => (s.Mac, s.Firmware, s.Bmc)));
        Assert.All(plan.Servers, s => Assert.Equal(24, s.BmcPrefix));
        Assert.Equal([false, false, true, true, true], plan.Servers.Select(s => s.IsVm));
    }

    [Theory]
    [InlineData("https://10.8.0.21/redfish/v1", "s001 (52:54:00:00:00:b1): its BMC https://10.8.0.21/redfish/v1 is not an IPv4 address of the lab's subnet 10.9.0.0/24")]
    [InlineData("https://10.9.0.101/redfish/v1", "its BMC's address 10.9.0.101 is taken (the seed's, the gateway's, the subnet's own or in the DHCP range)")]
    [InlineData("https://bmc.example/redfish/v1", "is not an IPv4 address of the lab's subnet")]
    public void A_qemu_machine_s_bmc_must_be_a_free_address_of_the_lab_network(string url, string said)
    {
        var config = Config(Network, $$"""
              nodes:
                known: [ { name: r1, mac: "52:54:00:00:00:b1", bmc: { redfish: "{{url}}", credentials: lab } } ]
            """);

        Assert.Null(LabPlan.Make(config, 1, 1, "/lab", "zc-t", out var problem, out var usage));
        Assert.False(usage);
        Assert.Contains(said, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void The_lab_bmcs_speak_redfish_and_vm_counts_beyond_the_servers_are_usage_errors()
    {
        var ipmi = Config(Network, """
              nodes:
                known: [ { name: r1, mac: "52:54:00:00:00:b1", bmc: { ipmi: 10.9.0.21, credentials: lab } } ]
            """);
        Assert.Null(LabPlan.Make(ipmi, 1, 1, "/lab", "zc-t", out var problem, out _));
        Assert.Contains("the lab's BMCs speak Redfish; cluster.yaml names ipmi 10.9.0.21", problem, StringComparison.Ordinal);
        // An emulated server has no BMC to serve: the entry is not the lab's business.
        Assert.NotNull(LabPlan.Make(ipmi, 1, 0, "/lab", "zc-t", out _, out _));

        Assert.Null(LabPlan.Make(Config(Network), 2, 3, "/lab", "zc-t", out var tooMany, out var usage));
        Assert.True(usage);
        Assert.Equal("--vm 3: between 0 and the number of servers (2)", tooMany);
    }

    [Fact]
    public void A_qemu_machine_boots_from_the_network_first_when_powered_on_and_from_its_disk_first_otherwise()
    {
        var bios = LabVm.Arguments("bios", "52:54:00:00:00:b1", "/lab/s003", pxe: true);
        Assert.Equal(["-M", "pc"], bios.Take(2));
        Assert.Contains("virtio-net-pci,netdev=n0,mac=52:54:00:00:00:b1,bootindex=1", bios);
        Assert.Contains("virtio-blk-pci,drive=d0,bootindex=2", bios);
        Assert.Contains("file=/lab/s003/disk.img,format=raw,if=none,id=d0", bios);
        Assert.Contains("file,id=con,path=/lab/s003/console.log,append=on", bios);
        Assert.Equal("1", bios[bios.ToList().IndexOf("-smp") + 1]);

        var disk = LabVm.Arguments("bios", "52:54:00:00:00:b1", "/lab/s003", pxe: false);
        Assert.Contains("virtio-net-pci,netdev=n0,mac=52:54:00:00:00:b1,bootindex=2", disk);
        Assert.Contains("virtio-blk-pci,drive=d0,bootindex=1", disk);

        if (LabVm.Ovmf() is { } ovmf)
        {
            var uefi = LabVm.Arguments("uefi", "52:54:00:00:00:b2", "/lab/s004", pxe: true);
            Assert.Equal(["-M", "q35"], uefi.Take(2));
            Assert.Contains($"if=pflash,format=raw,readonly=on,file={ovmf.Code}", uefi);
            Assert.Contains("if=pflash,format=raw,file=/lab/s004/OVMF_VARS.fd", uefi);
        }
        else
        {
            Assert.Throws<InvalidOperationException>(() => LabVm.Arguments("uefi", "52:54:00:00:00:b2", "/lab/s004", pxe: true));
        }
    }

    [Fact]
    public void Boot_events_are_read_from_a_console_after_their_prefix_and_other_lines_are_not_events()
    {
        var booted = new BootEvent(BootPhase.Booted, new DateTime(2026, 12, 3, 10, 0, 0, DateTimeKind.Utc), "10.9.0.101", "r1");
        var joined = new BootEvent(BootPhase.Joined, new DateTime(2026, 12, 3, 10, 0, 2, DateTimeKind.Utc), "10.9.0.101", "r1", "Ready");
        var console = string.Join("\r\n",
            "iPXE 1.21.1+ (g4bd0)",
            "{\"phase\":\"Failed\",\"at\":\"2026-12-03T10:00:00Z\"}",
            BootEvent.ConsolePrefix + booted.ToLine(),
            "[    3.1] random: crng init done" + BootEvent.ConsolePrefix + joined.ToLine(),
            BootEvent.ConsolePrefix + "{\"phase\":\"Joi");

        Assert.Equal([booted, joined], BootEvent.ReadConsole(console));
    }

    [Theory]
    [InlineData(6, true, "between 1 and 5 (the DHCP range 10.9.0.100-10.9.0.104 holds 5 addresses)")]
    [InlineData(0, true, "between 1 and 5")]
    public void More_servers_than_the_range_holds_is_a_usage_error(int count, bool usage, string said)
    {
        Assert.Null(LabPlan.Make(Config(Network), count, "/lab", "zc-t", out var problem, out var isUsage));
        Assert.Equal(usage, isUsage);
        Assert.Contains(said, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_network_without_a_full_dhcp_range_cannot_be_a_lab()
    {
        Assert.Null(LabPlan.Make(Config("{ subnet: 10.9.0.0/24, dhcp: { mode: proxy } }"), 3, "/lab", "zc-t", out var problem, out var usage));
        Assert.False(usage);
        Assert.Contains("dhcp.mode must be full", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_server_moves_forward_through_its_boot_events_and_is_lost_when_its_node_goes_down()
    {
        var v = new ServerView(new LabServer("s001", "ns", "52:54:00:00:00:01", "/lab/s001"));
        var now = DateTime.UtcNow;
        v.Apply(new BootEvent(BootPhase.Dhcp, now, Address: "10.9.0.100"));
        v.Apply(new BootEvent(BootPhase.Failed, now, Detail: "tftp: timed out (attempt 1)"));
        v.Apply(new BootEvent(BootPhase.Tftp, now));
        v.Apply(new BootEvent(BootPhase.Dhcp, now, Address: "10.9.0.100"));
        Assert.Equal((ServerPhase.Tftp, "10.9.0.100", "tftp: timed out (attempt 1)"), (v.Phase, v.Address, v.Problem));
        Assert.True(v.Reached(ServerPhase.Dhcp));

        v.Apply(NodeStatus.Ready); // no name yet: not its node
        Assert.Equal(ServerPhase.Tftp, v.Phase);
        v.Apply(new BootEvent(BootPhase.Booted, now, Name: "s001"));
        v.Apply(NodeStatus.Ready);
        Assert.True(v.IsIn);
        v.Apply(NodeStatus.Down);
        Assert.Equal((ServerPhase.LostDown, "lost (Down)"), (v.Phase, v.PhaseText));
        Assert.False(v.Reached(ServerPhase.Dhcp));
    }

    [Fact]
    public void A_server_whose_processes_are_gone_before_it_is_in_is_lost_with_where_it_was()
    {
        var v = new ServerView(new LabServer("s005", "ns", "52:54:00:00:00:05", "/lab/s005"));
        v.SwitchedOff();

        Assert.Equal(ServerPhase.LostOff, v.Phase);
        Assert.Equal("its processes are gone (was at powered on)", v.Problem);

        // A QEMU machine whose QEMU exited before it was in is lost with that reason; once in, nothing changes it.
        var vm = new ServerView(new LabServer("s006", "ns", "52:54:00:00:00:06", "/lab/s006", Firmware: "uefi"));
        vm.Apply(new BootEvent(BootPhase.Booted, DateTime.UtcNow, Name: "s006"));
        vm.SwitchedOff($"its QEMU exited (switched off, or it died) at {vm.PhaseText}");
        Assert.Equal((ServerPhase.LostOff, "its QEMU exited (switched off, or it died) at booted"), (vm.Phase, vm.Problem));
        var ready = new ServerView(new LabServer("s007", "ns", "52:54:00:00:00:07", "/lab/s007", Firmware: "bios"));
        ready.Apply(new BootEvent(BootPhase.Booted, DateTime.UtcNow, Name: "s007"));
        ready.Apply(NodeStatus.Ready);
        ready.SwitchedOff("its QEMU exited");
        Assert.Equal(ServerPhase.Ready, ready.Phase);
    }
}
