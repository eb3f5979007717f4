using System.Text;
using ZeroCloud.Cluster.Power;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Cluster.Tests;

/// <summary>
/// Power control against BMCs: IPMI through ipmitool against OpenIPMI's ipmi_sim (a real IPMI 2.0 LAN stack), Redfish
/// against the lab's BMC in front of a QEMU server (resets are QEMU's, boots read from the firmware's log), itself
/// checked with python3-sushy; jobs in order (PXE once before the reset), retried while the BMC is busy,
/// not retried on refused credentials, confirmed by reading the state back; and <c>zc power</c> through the leader,
/// with the credentials from the secret store, recorded and audited.
/// </summary>
[Collection("control")]
[Trait("Category", "Lab")]
public class PowerTests
{
    private static readonly PowerJobOptions Quick = new()
    {
        Backoff = [TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(200)],
        ConfirmEvery = TimeSpan.FromMilliseconds(100),
        ConfirmWithin = TimeSpan.FromSeconds(5),
    };

    [Fact]
    public async Task The_control_image_carries_ipmitool_and_a_member_runs_it_with_the_image_s_own_loader_and_libraries()
    {
        // The control image as zc image build writes it (scripts/test builds it before the tests, which read it
        // meanwhile: it is built here only when missing), unpacked as an agent unpacks it on a node booted from the
        // network, whose root has no ipmitool.
        var built = ZeroCloud.Lab.Repository.PathOf(".build", "out");
        var initrd = Path.Combine(built, "images", "control", "initrd.img");
        int code;
        string log;
        if (!File.Exists(initrd))
        {
            var zc = ZeroCloud.TestSupport.NetnsLab.ServiceBinary("ZeroCloud.Cli", "zc.dll", "cli");
            (code, log) = await ZeroCloud.Lab.Processes.RunAsync("dotnet", [zc, "image", "build", "control", "-o", built], TimeSpan.FromMinutes(10));
            Assert.True(code == 0, log);
        }

        var root = Directory.CreateTempSubdirectory("zc-control-image-").FullName;
        try
        {
            (code, log) = await ZeroCloud.Lab.Processes.RunAsync("/bin/sh", ["-c", $"cd '{root}' && zcat '{initrd}' | cpio -idm --quiet"]);
            Assert.True(code == 0, log);
            var tool = IpmiTool.Find(root);
            Assert.True(File.Exists(Path.Combine(root, IpmiTool.InImage)), $"{initrd} has no {IpmiTool.InImage}: an image built before it carried one (zc image build control -o {built})");
            Assert.Equal(Path.Combine(root, IpmiTool.Loader), tool.File);
            Assert.Equal(Path.Combine(root, IpmiTool.InImage), tool.Prefix[^1]);
            Assert.Equal(IpmiTool.FromPath, IpmiTool.Find(Path.Combine(root, "usr")));

            await using var bmc = await IpmiSim.StartAsync();
            using var driver = new IpmiDriver(bmc.Address, IpmiSim.User, IpmiSim.Password, tool) { CipherSuite = IpmiSim.CipherSuite };
            Assert.Equal(PowerState.Off, await driver.StatusAsync(CancellationToken.None));
            await driver.PowerOnAsync(CancellationToken.None);
            Assert.True(bmc.PoweredOn);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task Ipmi_jobs_switch_a_bmc_in_order_confirm_by_reading_back_and_retry_while_it_is_busy()
    {
        await using var bmc = await IpmiSim.StartAsync();
        using var driver = new IpmiDriver(bmc.Address, IpmiSim.User, IpmiSim.Password) { CipherSuite = IpmiSim.CipherSuite };
        var job = new PowerJob(driver, Quick);

        var status = await job.RunAsync(PowerActions.Status, CancellationToken.None);
        Assert.Equal((PowerJobStates.Succeeded, "off"), (status.State, status.Power));

        var on = await job.RunAsync(PowerActions.On, CancellationToken.None);
        Assert.True(on.State == PowerJobStates.Succeeded, on.Error);
        Assert.Equal(["power on", "confirm on"], on.Steps.Select(s => s.Name));
        Assert.True(bmc.PoweredOn);
        Assert.Equal(["default"], bmc.Boots);

        // PXE once on a BMC that fails its next two calls: retried, set before the reset, spent by that boot.
        bmc.ClearCalls();
        bmc.FailNext = 2;
        var pxe = await job.RunAsync(PowerActions.Pxe, CancellationToken.None);
        Assert.True(pxe.State == PowerJobStates.Succeeded, pxe.Error);
        Assert.Equal(["set next boot to PXE", "read power state", "reset", "confirm on"], pxe.Steps.Select(s => s.Name));
        Assert.True(pxe.Steps.Sum(s => s.Attempts) > pxe.Steps.Count, string.Join(", ", pxe.Steps));
        Assert.Equal("on", pxe.Power);
        var calls = bmc.Calls.ToList();
        Assert.True(calls.IndexOf("set boot pxe") is >= 0 and var set && calls.IndexOf("set reset 1") > set, string.Join(" | ", calls));
        Assert.Equal(["default", "pxe"], bmc.Boots);

        // A cycle of a machine that is off powers it on; the spent PXE flag leaves it booting from disk.
        Assert.Equal(PowerJobStates.Succeeded, (await job.RunAsync(PowerActions.Off, CancellationToken.None)).State);
        Assert.False(bmc.PoweredOn);
        var cycle = await job.RunAsync(PowerActions.Cycle, CancellationToken.None);
        Assert.Equal(["read power state", "power on", "confirm on"], cycle.Steps.Select(s => s.Name));
        Assert.Equal(["default", "pxe", "default"], bmc.Boots);

        // A wrong password is not retried (BMCs lock accounts out), and the job says why.
        using var wrong = new IpmiDriver(bmc.Address, IpmiSim.User, "not-the-password") { CipherSuite = IpmiSim.CipherSuite };
        var refused = await new PowerJob(wrong, Quick).RunAsync(PowerActions.Off, CancellationToken.None);
        Assert.Equal(PowerJobStates.Failed, refused.State);
        Assert.Equal([("power off", PowerJobStates.Failed, 1), ("confirm off", PowerJobStates.Skipped, 0)], refused.Steps.Select(s => (s.Name, s.State, s.Attempts)));
        Assert.Contains("the BMC refused the credentials", refused.Error, StringComparison.Ordinal);
        Assert.True(bmc.PoweredOn);
    }

    [Fact]
    public async Task Redfish_jobs_reset_a_qemu_server_through_the_lab_bmc_boot_it_from_the_network_once_and_give_up_on_a_bmc_that_stays_busy()
    {
        await using var server = await LabServer.StartAsync();
        var bmc = server.Bmc;
        // The service root: the driver finds the one system; the certificate is self-signed, as a BMC's is.
        using var driver = new RedfishDriver(bmc.ServiceRoot, LabServer.User, LabServer.Password, insecureTls: true);
        var job = new PowerJob(driver, Quick);

        // PXE once on a BMC that fails twice: retried to success; the machine (off) is powered on and boots from its NIC.
        bmc.FailNext = 2;
        var pxe = await job.RunAsync(PowerActions.Pxe, CancellationToken.None);
        Assert.True(pxe.State == PowerJobStates.Succeeded, pxe.Error);
        Assert.Equal([("set next boot to PXE", 3), ("read power state", 1), ("power on", 1), ("confirm on", 1)], pxe.Steps.Select(s => (s.Name, s.Attempts)));
        Assert.Contains(bmc.Requests, r => r.StartsWith($"PATCH {bmc.SystemPath} ", StringComparison.Ordinal) && r.Contains("\"BootSourceOverrideTarget\":\"Pxe\"", StringComparison.Ordinal) && r.Contains("\"BootSourceOverrideEnabled\":\"Once\"", StringComparison.Ordinal));
        Assert.Contains($"POST {bmc.SystemPath}/Actions/ComputerSystem.Reset {{\"ResetType\":\"On\"}}", bmc.Requests);
        await server.WaitForBootsAsync("pxe");
        Assert.Equal(("None", "Disabled"), (bmc.BootTarget, bmc.BootEnabled));

        // A cycle of a running machine is a real reset (QMP system_reset: the firmware runs again); the override is spent.
        var cycle = await job.RunAsync(PowerActions.Cycle, CancellationToken.None);
        Assert.Equal([("read power state", "on"), ("reset", null), ("confirm on", "on after 1 read")], cycle.Steps.Select(s => (s.Name, s.Detail)));
        Assert.Contains($"POST {bmc.SystemPath}/Actions/ComputerSystem.Reset {{\"ResetType\":\"ForceRestart\"}}", bmc.Requests);
        await server.WaitForBootsAsync("pxe", "disk");
        Assert.Equal("running", await server.Machine.RunStateAsync(CancellationToken.None));

        // An independent Redfish client (Debian's python3-sushy) drives the same BMC: it reads the state and makes the
        // next boot a network boot the way Ironic does, so the BMC is not only our own reading of Redfish.
        var (code, said) = await ZeroCloud.Lab.Processes.RunAsync("/usr/bin/python3", ["-c", $$"""
            import os, sushy, urllib3
            # The machine's CA bundle in the environment would override verify=False in requests.
            for v in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"): os.environ.pop(v, None)
            urllib3.disable_warnings()
            s = sushy.Sushy("{{bmc.ServiceRoot}}", username="{{LabServer.User}}", password="{{LabServer.Password}}", verify=False)
            system = s.get_system()
            print("power", system.power_state)
            system.set_system_boot_source(sushy.BOOT_SOURCE_TARGET_PXE, enabled=sushy.BOOT_SOURCE_ENABLED_ONCE)
            system.reset_system(sushy.RESET_FORCE_RESTART)
            system.refresh()
            print("boot", system.boot.target, system.boot.enabled)
            """]);
        Assert.True(code == 0, said);
        Assert.Contains("power PowerState.ON", said, StringComparison.Ordinal);
        // sushy reads the override back as spent by the boot it caused.
        Assert.Contains("boot BootSource.NONE", said, StringComparison.Ordinal);
        await server.WaitForBootsAsync("pxe", "disk", "pxe");

        // A BMC that stays busy: every attempt used, then the job fails with the BMC's own message and stops there.
        bmc.FailNext = 100;
        var busy = await job.RunAsync(PowerActions.Off, CancellationToken.None);
        Assert.Equal(PowerJobStates.Failed, busy.State);
        Assert.Equal([("power off", PowerJobStates.Failed, 4), ("confirm off", PowerJobStates.Skipped, 0)], busy.Steps.Select(s => (s.Name, s.State, s.Attempts)));
        Assert.Contains("503 Service Unavailable: The service is temporarily unavailable. (after 4 attempts)", busy.Error, StringComparison.Ordinal);
        Assert.True(server.Machine.IsOn);

        // Off, confirmed: QEMU has quit.
        bmc.FailNext = 0;
        var off = await job.RunAsync(PowerActions.Off, CancellationToken.None);
        Assert.True(off.State == PowerJobStates.Succeeded, off.Error);
        Assert.False(server.Machine.IsOn);

        // Refused credentials: one attempt, and why.
        using var wrong = new RedfishDriver(bmc.ServiceRoot, LabServer.User, "wrong", insecureTls: true);
        var refused = await new PowerJob(wrong, Quick).RunAsync(PowerActions.Status, CancellationToken.None);
        Assert.Equal([("read power state", PowerJobStates.Failed, 1)], refused.Steps.Select(s => (s.Name, s.State, s.Attempts)));
        Assert.Contains("401", refused.Error, StringComparison.Ordinal);
        Assert.Contains("the BMC refused the credentials", refused.Error, StringComparison.Ordinal);

        // Without insecureTls the self-signed certificate is refused.
        using var strict = new RedfishDriver(bmc.ServiceRoot, LabServer.User, LabServer.Password, insecureTls: false);
        var untrusted = await new PowerJob(strict, Quick with { Backoff = [] }).RunAsync(PowerActions.Status, CancellationToken.None);
        Assert.Equal(PowerJobStates.Failed, untrusted.State);
        Assert.Contains("cannot reach the BMC", untrusted.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Zc_power_runs_recorded_jobs_through_the_leader_with_credentials_from_the_secret_store()
    {
        await using var ipmi = await IpmiSim.StartAsync(poweredOn: true);
        await using var redfish = await LabServer.StartAsync();
        await using var cluster = await ControlCluster.StartAsync(1);
        var admin = cluster.Members[0].Client;
        await admin.ApplyAsync(Encoding.UTF8.GetBytes($$"""
            apiVersion: zerocloud.io/v1
            kind: Cluster
            metadata: { name: power }
            spec:
              network: { subnet: 10.0.0.0/24, gateway: 10.0.0.1 }
              nodes:
                enroll: known
                known:
                  - { mac: "52:54:00:00:00:01", name: r1, bmc: { ipmi: "{{ipmi.Address}}", credentials: bmc-ipmi, cipherSuite: 3 } }
                  - { mac: "52:54:00:00:00:02", name: r2, bmc: { redfish: "{{redfish.Bmc.ServiceRoot}}", credentials: bmc-redfish, insecureTls: true } }
                  - { mac: "52:54:00:00:00:03", name: r3, bmc: { ipmi: "{{ipmi.Address}}", credentials: bmc-wrong, cipherSuite: 3 } }
                  - { mac: "52:54:00:00:00:04", name: r4, bmc: { ipmi: "{{ipmi.Address}}", credentials: bmc-unset, cipherSuite: 3 } }
                  - { mac: "52:54:00:00:00:05", name: r5 }
            """), "cluster.yaml");
        await admin.SetSecretAsync("bmc-ipmi", Encoding.UTF8.GetBytes($"{IpmiSim.User}:{IpmiSim.Password}\n"));
        await admin.SetSecretAsync("bmc-redfish", Encoding.UTF8.GetBytes($"{LabServer.User}:{LabServer.Password}"));
        await admin.SetSecretAsync("bmc-wrong", Encoding.UTF8.GetBytes($"{IpmiSim.User}:guess"));

        // The operator's command: the machine boots from the network once.
        var (code, output) = await ControlCluster.RunDllAsync(ControlCluster.ZcDll, cluster.CredentialsFile, "power", "pxe", "r1");
        Assert.True(code == 0, output);
        Assert.Contains($"power pxe r1 via ipmi {ipmi.Address}: succeeded, power is on", output, StringComparison.Ordinal);
        Assert.Contains("1. set next boot to PXE: succeeded", output, StringComparison.Ordinal);
        Assert.Contains("3. reset: succeeded", output, StringComparison.Ordinal);
        Assert.Equal(["pxe"], ipmi.Boots);

        var job = await admin.PowerAsync("r2", PowerActions.On);
        Assert.Equal((PowerJobStates.Succeeded, "on"), (job.State, job.Power));
        Assert.True(redfish.Machine.IsOn);

        // Refused credentials: exit 1, the reason, nothing switched; the password never in the output.
        (code, output) = await ControlCluster.RunDllAsync(ControlCluster.ZcDll, cluster.CredentialsFile, "power", "off", "r3");
        Assert.True(code == 1, output);
        Assert.Contains("power off r3", output, StringComparison.Ordinal);
        Assert.Contains("the BMC refused the credentials", output, StringComparison.Ordinal);
        Assert.DoesNotContain("guess", output, StringComparison.Ordinal);
        Assert.True(ipmi.PoweredOn);

        // What cannot run says why, and nothing is recorded.
        var unset = await Assert.ThrowsAsync<ControlApiException>(() => admin.PowerAsync("r4", PowerActions.Status));
        Assert.Equal(404, unset.Status);
        Assert.Contains("secret bmc-unset, which is not set: zc secret set bmc-unset", unset.Message, StringComparison.Ordinal);
        var noBmc = await Assert.ThrowsAsync<ControlApiException>(() => admin.PowerAsync("r5", PowerActions.Status));
        Assert.Contains("machine r5 in spec.nodes.known has no bmc", noBmc.Message, StringComparison.Ordinal);
        Assert.Contains("no machine named r9", (await Assert.ThrowsAsync<ControlApiException>(() => admin.PowerAsync("r9", PowerActions.Status))).Message, StringComparison.Ordinal);
        var badAction = await Assert.ThrowsAsync<ControlApiException>(() => admin.PowerAsync("r1", "reboot"));
        Assert.Equal(400, badAction.Status);
        Assert.Contains("use one of status, on, off, cycle, pxe", badAction.Message, StringComparison.Ordinal);

        // Recorded, newest first, and audited; a read-only operator may not switch machines.
        var r1 = (await admin.PowerJobsAsync("r1")).Jobs;
        var recorded = Assert.Single(r1);
        Assert.Equal((PowerActions.Pxe, PowerJobStates.Succeeded, 4), (recorded.Action, recorded.State, recorded.Steps.Count));
        Assert.Equal(PowerJobStates.Failed, Assert.Single((await admin.PowerJobsAsync("r3")).Jobs).State);
        (code, output) = await ControlCluster.RunDllAsync(ControlCluster.ZcDll, cluster.CredentialsFile, "power", "jobs", "r1");
        Assert.True(code == 0 && output.Contains(recorded.Id, StringComparison.Ordinal), output);
        var audit = (await admin.AuditAsync(1000)).Entries.Where(e => e.Action == Audit.Power).Select(e => $"{e.Subject} {e.Detail}").ToList();
        Assert.Equal(3, audit.Count);
        Assert.Contains(audit, a => a.StartsWith($"r1 pxe via ipmi {ipmi.Address}: succeeded, power on", StringComparison.Ordinal));
        Assert.Contains(audit, a => a.StartsWith($"r2 on via redfish {redfish.Bmc.ServiceRoot}: succeeded, power on", StringComparison.Ordinal));
        Assert.Contains(audit, a => a.StartsWith($"r3 off via ipmi {ipmi.Address}: failed", StringComparison.Ordinal));
        var viewer = await admin.CreateOperatorAsync(Roles.ReadOnly);
        using var readOnly = new ControlClient(new Uri(cluster.Members[0].Api), cluster.Members[0].Http) { Token = viewer.Credential };
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => readOnly.PowerAsync("r1", PowerActions.Off))).Status);
        Assert.True(ipmi.PoweredOn);
    }

    [Fact]
    public async Task A_node_that_goes_down_while_its_bmc_says_on_is_power_cycled_before_it_is_written_down_unless_it_is_in_maintenance()
    {
        await using var r1Bmc = await IpmiSim.StartAsync(poweredOn: true);
        await using var r2Bmc = await IpmiSim.StartAsync(poweredOn: true);
        await using var cluster = await ControlCluster.StartWithSilosAsync(1);
        var admin = cluster.Members[0].Client;
        await cluster.WaitForAsync(async () => ((await admin.StatusAsync()).Silos ?? []).Any(s => s.Status == "active"), "the silo", TimeSpan.FromSeconds(60));
        string Spec(string bootTimeout) => $$"""
            apiVersion: zerocloud.io/v1
            kind: Cluster
            metadata: { name: fencing }
            spec:
              network: { subnet: 10.0.0.0/24, gateway: 10.0.0.1 }
              nodes:
                enroll: known
                heartbeat: 1s
                downAfter: 3s
                bootTimeout: {{bootTimeout}}
                known:
                  - { mac: "52:54:00:00:00:01", name: r1, bmc: { ipmi: "{{r1Bmc.Address}}", credentials: bmc, cipherSuite: 3 } }
                  - { mac: "52:54:00:00:00:02", name: r2, labels: { zerocloud.io/maintenance: "true" }, bmc: { ipmi: "{{r2Bmc.Address}}", credentials: bmc, cipherSuite: 3 } }
            """;
        await admin.ApplyAsync(Encoding.UTF8.GetBytes(Spec("5m")), "cluster.yaml");
        await admin.SetSecretAsync("bmc", Encoding.UTF8.GetBytes($"{IpmiSim.User}:{IpmiSim.Password}"));
        var node = ControlCluster.NodeClient(cluster.Members[0], await cluster.JoinTokenAsync());
        Assert.Equal(NodeStatus.Ready, (await node.HeartbeatAsync("r1", new HeartbeatRequest(2, 1L << 30, Mac: "52:54:00:00:00:01"))).Status);
        Assert.Equal(NodeStatus.Ready, (await node.HeartbeatAsync("r2", new HeartbeatRequest(2, 1L << 30, Mac: "52:54:00:00:00:02"))).Status);

        // Both fall silent: both go Down, r1 only after its BMC read it on and reset it.
        await cluster.WaitForAsync(async () => (await admin.NodesAsync()).Nodes.All(n => n.Status == NodeStatus.Down), "both nodes Down", TimeSpan.FromSeconds(60));
        var jobs = (await admin.PowerJobsAsync("r1")).Jobs;
        Assert.Equal([(PowerActions.Pxe, PowerJobStates.Succeeded, "on"), (PowerActions.Status, PowerJobStates.Succeeded, "on")], jobs.Select(j => (j.Action, j.State, j.Power)));
        Assert.All(jobs, j => Assert.StartsWith("fencing: node r1 silent for ", j.Who, StringComparison.Ordinal));
        // Reset with its next boot set to the network: it boots the node image again.
        var calls = r1Bmc.Calls.ToList();
        Assert.True(calls.IndexOf("set boot pxe") is >= 0 and var set && calls.IndexOf("set reset 1") > set, string.Join(" | ", calls));
        Assert.Equal(["pxe"], r1Bmc.Boots);
        var r1 = (await admin.NodesAsync()).Nodes.Single(n => n.Name == "r1");
        Assert.True(jobs[0].Finished <= r1.Since, $"fenced at {jobs[0].Finished:O}, Down since {r1.Since:O}");
        Assert.Contains("node r1: fencing before it goes Down: power-cycled through its BMC to boot from the network", cluster.Members[0].Output, StringComparison.Ordinal);
        Assert.Contains((await admin.AuditAsync(1000)).Entries, e => e.Action == Audit.Power && e.Subject == "r1" && e.Who.StartsWith("fencing", StringComparison.Ordinal));

        // r2 is marked for maintenance: its BMC was not touched.
        Assert.Empty((await admin.PowerJobsAsync("r2")).Jobs);
        Assert.Empty(r2Bmc.Calls);
        Assert.Contains("node r2: fencing before it goes Down: not fenced: labelled zerocloud.io/maintenance", cluster.Members[0].Output, StringComparison.Ordinal);

        // r1 is back; an operator power-cycles it, and while it boots (longer than downAfter) it goes Down again, but
        // is not reset a second time: the operator's job switched it a moment ago (within bootTimeout, 5 s from now on).
        Assert.Equal(NodeStatus.Ready, (await node.HeartbeatAsync("r1", new HeartbeatRequest(2, 1L << 30, Mac: "52:54:00:00:00:01"))).Status);
        await admin.ApplyAsync(Encoding.UTF8.GetBytes(Spec("5s")), "cluster.yaml");
        Assert.Equal(NodeStatus.Ready, (await node.HeartbeatAsync("r1", new HeartbeatRequest(2, 1L << 30, Mac: "52:54:00:00:00:01"))).Status);
        var cycle = await admin.PowerAsync("r1", PowerActions.Cycle);
        Assert.Equal(PowerJobStates.Succeeded, cycle.State);
        await cluster.WaitForAsync(async () => (await admin.NodesAsync()).Nodes.Single(n => n.Name == "r1").Status == NodeStatus.Down, "r1 Down again", TimeSpan.FromSeconds(60));
        await cluster.WaitForAsync(() => Task.FromResult(cluster.Members[0].Output.Contains($"node r1: fencing before it goes Down: not fenced: cycle job {cycle.Id} (", StringComparison.Ordinal)), "the fencer's answer", TimeSpan.FromSeconds(10));

        // It never comes back (hung in its boot): each time bootTimeout passes it is fenced again, twice, then left
        // Down for an operator.
        await cluster.WaitForAsync(() => Task.FromResult(cluster.Members[0].Output.Contains("node r1: still Down after 3 boots started by power jobs", StringComparison.Ordinal)), "r1 fenced again twice, then left alone", TimeSpan.FromSeconds(60));
        var output = cluster.Members[0].Output;
        Assert.Contains("node r1: still Down, silent for ", output, StringComparison.Ordinal);
        Assert.Contains("fencing it again (1 of 2)", output, StringComparison.Ordinal);
        Assert.Contains("fencing it again (2 of 2)", output, StringComparison.Ordinal);
        jobs = (await admin.PowerJobsAsync("r1")).Jobs;
        var since = jobs.TakeWhile(j => j.Id != cycle.Id).Reverse().ToList();
        Assert.Equal([PowerActions.Status, PowerActions.Pxe, PowerActions.Status, PowerActions.Pxe], since.Select(j => j.Action));
        Assert.All(since, j => Assert.True(j.State == PowerJobStates.Succeeded && j.Who.StartsWith("fencing: node r1", StringComparison.Ordinal), $"{j.Action} {j.State} {j.Who}"));
        // Each reset came a bootTimeout after the job before it switched the machine.
        Assert.True(since[0].Started >= cycle.Finished!.Value.AddSeconds(5), $"{since[0].Started:O} after {cycle.Finished:O}");
        Assert.True(since[2].Started >= since[1].Finished!.Value.AddSeconds(5), $"{since[2].Started:O} after {since[1].Finished:O}");
        Assert.Equal(3, r1Bmc.Calls.Count(c => c == "set boot pxe"));
        Assert.Empty((await admin.PowerJobsAsync("r2")).Jobs);

        // A heartbeat: it booted after all, and it is Ready.
        Assert.Equal(NodeStatus.Ready, (await node.HeartbeatAsync("r1", new HeartbeatRequest(2, 1L << 30, Mac: "52:54:00:00:00:01"))).Status);
    }
}
