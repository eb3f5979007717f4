using System.Diagnostics;
using System.Text.Json;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Lab;
using ZeroCloud.Model.Api;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Cluster.Tests;

/// <summary>
/// Issue 19's disk test, with real processes, each node in its own network and mount namespace and given only the
/// loop devices made for it: n2's blank loop device is claimed (mkfs.ext4, mounted on its data folder), the voter goes
/// there rather than to the nodes whose data is in RAM (n1, n3), and after a reboot (every process of the node
/// killed: its mounts go with them; its folder on the host is empty) it comes back with the same name, the same Raft
/// member and its log, from the disk; n3's loop device, which carries a filesystem with a file, is left alone without
/// <c>wipe: true</c>.
/// </summary>
[Collection("control")]
[Trait("Category", "Lab")]
public class NodeDiskTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(90);

    private const string Spec = """
        apiVersion: zerocloud.io/v1
        kind: Cluster
        metadata: { name: disks }
        spec:
          network: { subnet: 10.81.0.0/24, gateway: 10.81.0.1 }
          controlPlane: { replicas: 3 }
          nodes:
            heartbeat: 1s
            downAfter: 60s
            known:
              - { mac: "52:54:00:81:00:01", name: n1 }
              - { mac: "52:54:00:81:00:02", name: n2 }
              - { mac: "52:54:00:81:00:03", name: n3 }
              - { mac: "52:54:00:81:00:04", name: n4 }
            disks:
              - { minSize: 64Mi, maxSize: 1Gi }
        """;

    /// <summary>mount (or umount, with -l) in the test's mount namespace, where the agents' namespaces are copied from.</summary>
    private static async Task MountAsync(params string[] args)
    {
        var program = args[0] == "-l" ? "umount" : "mount";
        var (code, output) = await Processes.RunAsync(program, args, TimeSpan.FromSeconds(30));
        Assert.True(code == 0, $"{program} {string.Join(' ', args)}: {output}");
    }

    [LabFact]
    public async Task A_blank_disk_is_claimed_the_voter_goes_there_and_a_reboot_brings_back_the_same_member_with_its_log_while_a_disk_with_data_is_left_alone()
    {
        string[] nodes = ["n0", "n1", "n2", "n3", "n4"];
        await using var lab = await NetnsLab.CreateAsync(nodes);
        for (var i = 0; i < nodes.Length; i++)
        {
            await lab.AddressAsync(nodes[i], $"10.81.0.{10 + i}/24");
            await lab.MacAsync(nodes[i], $"52:54:00:81:00:{i:x2}");
        }

        async Task<string> Host(params string[] args)
        {
            var (c, o) = await lab.RunAsync("n0", Long, args[0], args[1..]);
            Assert.True(c == 0, $"{string.Join(' ', args)}: {o}");
            return o.Trim();
        }

        var loops = new List<string>();
        var tmpfs = new List<string>();
        try
        {
            // n2 and n4: a blank 128 MiB disk each; n3: one with an ext4 holding a file; n1 and n3 keep their data in RAM.
            foreach (var (n, size) in new[] { ("n2", 128), ("n3", 128), ("n4", 128) })
            {
                var image = lab.PathOf($"{n}.img");
                await using (var file = File.Create(image))
                {
                    file.SetLength((long)size << 20);
                }

                loops.Add(await Host("losetup", "-f", "--show", image));
            }

            var (blank, used, other) = (loops[0], loops[1], loops[2]);
            await Host("mkfs.ext4", "-q", "-F", "-L", "userdata", used);
            var look = lab.PathOf("look");
            Directory.CreateDirectory(look);
            await Host("sh", "-c", $"mount {used} {look} && echo precious > {look}/keep.txt && umount {look}");
            foreach (var n in new[] { "n1", "n3" })
            {
                Directory.CreateDirectory(lab.PathOf(n));
                // In the test's own mount namespace (a command run in a lab host gets one of its own, gone when it exits).
                await MountAsync("-t", "tmpfs", "-o", "size=256m", $"zc-ram-{n}", lab.PathOf(n));
                tmpfs.Add(lab.PathOf(n));
            }

            const string seed = "https://10.81.0.10:7070";
            var control = lab.Start("n0", "dotnet", ControlCluster.ZcDll, "serve", "control", "--data", lab.PathOf("seed"), "--listen", "10.81.0.10:7070", "--name", "n0", "--bootstrap");
            await control.WaitForLineAsync(l => l.Contains("Orleans silo started", StringComparison.Ordinal), Long, what: "the seed's silo");
            var credentials = $"ZC_CREDENTIALS={await NetnsLab.CredentialsFileAsync(lab.PathOf("seed"))}";

            async Task<(int Code, string Output)> ZcAsync(params string[] args) =>
                await lab.RunAsync("n0", Long, "env", [credentials, "dotnet", ControlCluster.ZcDll, .. args]);

            async Task<T> GetAsync<T>(string what, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
            {
                var (c, o) = await ZcAsync("get", what, "--json", "--server", seed);
                Assert.True(c == 0, o);
                return JsonSerializer.Deserialize(o, type)!;
            }

            var specFile = lab.PathOf("disks.yaml");
            await File.WriteAllTextAsync(specFile, Spec);
            var (code, output) = await ZcAsync("apply", "-f", specFile, "--server", seed);
            Assert.True(code == 0, output);
            var tokens = await GetAsync("tokens", ControlJsonContext.Default.TokensResponse);
            var token = $"{tokens.Tokens[0].Id}.{tokens.Tokens[0].Secret}";
            var agents = new Dictionary<string, LabProcess>();
            var devices = new Dictionary<string, string> { ["n0"] = "none", ["n1"] = "none", ["n2"] = blank, ["n3"] = used, ["n4"] = other };
            void StartAgent(string n) => agents[n] = lab.Start(n, "dotnet", NetnsLab.ServiceBinary("ZeroCloud.Node", "zc-node.dll", "node"), "--control", seed, "--ca-file", Path.Combine(lab.PathOf("seed"), "pki", "root.crt"), "--token", token, "--name", n, "--data", lab.PathOf(n), "--block-devices", devices[n], "--image", $"builtin/control={ControlCluster.ZcDll}");
            foreach (var n in nodes)
            {
                StartAgent(n);
            }

            async Task WaitAsync(string what, Func<Task<bool>> condition)
            {
                for (var deadline = Stopwatch.StartNew(); ; await Task.Delay(1000))
                {
                    try
                    {
                        if (await condition())
                        {
                            return;
                        }
                    }
                    catch (Exception ex) when (ex is Xunit.Sdk.XunitException or JsonException)
                    {
                        // a member answering mid-change
                    }

                    if (deadline.Elapsed > Long)
                    {
                        var placed = (await ZcAsync("get", "instances", "--server", seed)).Output + (await ZcAsync("get", "nodes", "--server", seed)).Output;
                        throw new TimeoutException($"{what} did not happen within {Long.TotalSeconds:0}s\n{placed}\nseed:\n{control.Output}\n" + string.Join("\n", agents.Select(a => $"{a.Key}:\n{a.Value.Output}")));
                    }
                }
            }

            // The voters go to n2 and n4, the nodes besides the seed whose data is on a disk (one placed on a RAM node
            // that joined before them moves there).
            MembersResponse? members = null;
            await WaitAsync("three available voters on n0, n2 and n4", async () =>
            {
                members = await GetAsync("members", ControlJsonContext.Default.MembersResponse);
                return members.Members.Count == 3 && members.Members.All(m => m.Status == MemberStatus.Available)
                    && members.Members.Select(m => m.Name!).Order().SequenceEqual(["n0", "n2", "n4"]);
            });
            var voter = members!.Members.Single(m => m.Name == "n2");
            NodesResponse? seen = null;
            await WaitAsync("every node's disk reported", async () =>
            {
                seen = await GetAsync("nodes", ControlJsonContext.Default.NodesResponse);
                return seen.Nodes.Count == 5 && seen.Nodes.All(n => n.Disk is not null);
            });
            var byName = seen!.Nodes.ToDictionary(n => n.Name);
            var loopName = Path.GetFileName(blank);
            Assert.True(byName["n2"] is { Persistent: true } && byName["n2"].Disk!.StartsWith($"{loopName}: 128 MiB ext4 \"zerocloud\"", StringComparison.Ordinal), byName["n2"].Disk);
            Assert.True(byName["n1"] is { Persistent: false } && byName["n1"].Disk!.Contains("its data is in RAM", StringComparison.Ordinal), byName["n1"].Disk);
            Assert.True(byName["n3"] is { Persistent: false } && byName["n3"].Disk!.Contains($"{Path.GetFileName(used)} (spec.nodes.disks[0]) left alone: it carries ext4 \"userdata\"", StringComparison.Ordinal), byName["n3"].Disk);
            Assert.Contains(byName["n3"].Disks!, d => d.StartsWith($"{Path.GetFileName(used)} 128 MiB", StringComparison.Ordinal));
            var table = (await ZcAsync("get", "nodes", "--server", seed)).Output;
            Assert.Contains(loopName, table, StringComparison.Ordinal);

            // Which control instance is n2's depends on the order the nodes joined in (a voter first placed on a RAM
            // node moves to a node with a disk under another name).
            var n2Voter = (await GetAsync("instances", ControlJsonContext.Default.InstancesResponse)).Instances
                .Single(v => v.Instance.Node == "n2" && v.Instance.Service == "control").Instance.Id;
            (code, output) = await ZcAsync("kv", "put", "/before-reboot", "kept", "--server", seed);
            Assert.True(code == 0, output);
            var adds = control.Output.Split('\n').Count(l => l.Contains("adding member", StringComparison.Ordinal));

            // Reboot n2: every process of the node dies, and with them its mount namespace: the disk is unmounted. What
            // the node wrote is on the disk, not in its folder on the host.
            (code, output) = await lab.RunAsync("n0", Long, "sh", "-c", $"for p in $(ip netns pids {lab.Namespace("n2")}); do kill -9 $p; done");
            Assert.True(code == 0, output);
            Assert.Empty(Directory.GetFileSystemEntries(lab.PathOf("n2")));
            var onDisk = "";
            await WaitAsync("n2's disk to be released", async () =>
            {
                var (c, o) = await lab.RunAsync("n0", Long, "sh", "-c", $"mount -o ro {blank} {look} && ls {look} {look}/instances && cat {look}/zerocloud-disk.json; umount {look}");
                onDisk = o;
                return c == 0;
            });
            Assert.Contains("node-key", onDisk, StringComparison.Ordinal);
            Assert.Contains(n2Voter, onDisk, StringComparison.Ordinal);
            Assert.Contains("\"node\": \"n2\"", onDisk, StringComparison.Ordinal);

            StartAgent("n2");
            await agents["n2"].WaitForLineAsync(l => l.Contains($"data disk {blank} mounted on", StringComparison.Ordinal), Long, what: "n2's disk mounted at start");
            await WaitAsync("n2's voter back", async () =>
            {
                var now = await GetAsync("members", ControlJsonContext.Default.MembersResponse);
                return now.Members.Count == 3 && now.Members.All(m => m.Status == MemberStatus.Available) && now.Members.Any(m => m.Id == voter.Id && m.Name == "n2");
            });
            // Its Raft answers before its API listens (seen: "Connection refused" right after the wait above).
            await WaitAsync("n2's voter's API to serve what was put before the reboot", async () =>
            {
                (code, output) = await ZcAsync("kv", "get", "/before-reboot", "--server", voter.Api!);
                return code == 0 || !output.Contains("Connection refused", StringComparison.Ordinal);
            });
            Assert.True(code == 0 && output.Contains("kept", StringComparison.Ordinal), output);
            // Same member, same log: it was not added again, and its node is still n2 with its disk.
            Assert.Equal(adds, control.Output.Split('\n').Count(l => l.Contains("adding member", StringComparison.Ordinal)));
            var after = (await GetAsync("nodes", ControlJsonContext.Default.NodesResponse)).Nodes.Single(n => n.Name == "n2");
            Assert.True(after.Persistent == true && after.Disk!.StartsWith(loopName, StringComparison.Ordinal), after.Disk);

            // n3's disk is as it was: its filesystem, label and file.
            Assert.Equal("userdata", await Host("e2label", used));
            Assert.Equal("precious", await Host("sh", "-c", $"mount -o ro {used} {look} && cat {look}/keep.txt; umount {look}"));
        }
        finally
        {
            foreach (var n in nodes)
            {
                await lab.RunAsync("n0", Long, "sh", "-c", $"for p in $(ip netns pids {lab.Namespace(n)}); do kill -9 $p; done");
            }

            await Task.Delay(500);
            foreach (var mount in tmpfs)
            {
                await MountAsync("-l", mount);
            }

            foreach (var loop in loops)
            {
                await lab.RunAsync("n0", Long, "losetup", "-d", loop);
            }
        }
    }
}
