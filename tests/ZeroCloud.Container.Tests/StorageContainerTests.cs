using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using DotNet.Testcontainers.Configurations;
using DotNet.Testcontainers.Containers;
using Xunit.Abstractions;
using ZeroCloud.Model.Api;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Container.Tests;

/// <summary>
/// The store on containers, the control plane too: a control member in a container bootstraps the cluster; three
/// nodes are the node image as containers (zc-node, not PID 1's machine path), each in its own lab namespace with its
/// MAC listed under nodes.known, joining with a join token. The first has the storage binary it starts the first
/// storage instance from (the seed's way: a local build until the store runs); once <c>zc image push storage</c> put
/// the signed image into the store, the other two fetch it from there, verify it and run it. An object put through
/// one node is read back through every node; the container of a node holding a copy is removed: the node goes Down,
/// its chunks are copied to the node left after repairAfter, and the object still reads byte-identical.
/// </summary>
[Collection("podman")]
[Trait("Category", "Lab")]
public sealed class StorageContainerTests(ITestOutputHelper output)
{
    private const string Control = "https://10.79.0.2:7070";

    private static readonly string[] Nodes = ["n1", "n2", "n3"];

    private const string Yaml = """
        apiVersion: zerocloud.io/v1
        kind: Cluster
        metadata: { name: ctr }
        spec:
          network:
            interface: eth0
            subnet: 10.79.0.0/24
            gateway: 10.79.0.1
            dhcp: { mode: full, range: 10.79.0.100-10.79.0.200, leaseTime: 1h }
          controlPlane: { replicas: 1 }
          nodes:
            enroll: approve
            heartbeat: 500ms
            downAfter: 10s
            known:
              - { mac: "52:54:00:79:00:01", name: n1 }
              - { mac: "52:54:00:79:00:02", name: n2 }
              - { mac: "52:54:00:79:00:03", name: n3 }
          storage: { replicas: 2, repairAfter: 2s }
          services:
            - { name: storage, image: builtin/storage, replicas: 3 }
        """;

    [LabFact]
    public async Task Storage_on_node_containers_replicates_and_repairs_the_chunks_of_a_removed_container()
    {
        await using var lab = await NetnsLab.CreateAsync("c1", "n1", "n2", "n3", "op");
        await lab.AddressAsync("c1", "10.79.0.2/24");
        await lab.AddressAsync("op", "10.79.0.10/24");
        for (var i = 1; i <= 3; i++)
        {
            await lab.MacAsync($"n{i}", $"52:54:00:79:00:0{i}");
            await lab.AddressAsync($"n{i}", $"10.79.0.1{i}/24");
        }

        var clock = Stopwatch.StartNew();
        var outFolder = Containers.BuildFolder;
        var controlTag = (await Containers.BuildAsync("control", oci: true))!;
        var nodeTag = (await Containers.BuildAsync("node", oci: true))!;
        await Containers.BuildAsync("storage", oci: false);
        output.WriteLine($"control, node and storage images built, {controlTag} and {nodeTag} loaded, in {clock.Elapsed.TotalSeconds:0.0} s");

        var containers = new IContainer?[4];
        try
        {
            var controlData = lab.PathOf("c1");
            Directory.CreateDirectory(controlData);
            containers[0] = Containers.Builder(controlTag, "zc-ctl", lab.Namespace("c1"))
                .WithBindMount(controlData, "/var/lib/zerocloud/control")
                .WithCommand("--data", "/var/lib/zerocloud/control", "--listen", "10.79.0.2:7070", "--name", "c1", "--bootstrap")
                .Build();
            await Containers.StartAsync(containers[0]!);
            var credentials = await NetnsLab.CredentialsFileAsync(controlData);

            async Task<(int Code, string Text)> RunZcAsync(params string[] args) =>
                await Containers.ZcAsync(lab, "op", credentials, [.. args, "--server", Control]);

            async Task<string> ZcAsync(params string[] args)
            {
                var (code, text) = await RunZcAsync(args);
                Assert.True(code == 0, $"zc {string.Join(' ', args)} exited {code}:\n{text}\n{await Containers.LogsAsync(containers)}");
                return text;
            }

            async Task<StorageStatusResponse?> StatusAsync()
            {
                var (code, text) = await RunZcAsync("storage", "status", "--json");
                return code == 0 ? JsonSerializer.Deserialize(text, ControlJsonContext.Default.StorageStatusResponse) : null;
            }

            async Task<ChunkDto> ChunkAsync(string hex) =>
                JsonSerializer.Deserialize(await ZcAsync("kv", "get", StoreKeys.StorageChunk(hex)), ControlJsonContext.Default.ChunkDto)!;

            await Containers.WaitAsync(async () => (await RunZcAsync("status")).Code == 0, "the control member's API", containers);
            var file = lab.PathOf("cluster.yaml");
            await File.WriteAllTextAsync(file, Yaml);
            await ZcAsync("apply", "-f", file);
            var token = Regex.Match(await ZcAsync("token", "create", "--description", "node containers"), @"^[a-z0-9]+\.[a-z0-9]+$", RegexOptions.Multiline).Value;
            Assert.NotEmpty(token);
            var tokenFile = lab.PathOf("join-token");
            await File.WriteAllTextAsync(tokenFile, token + "\n");
            var root = Path.Combine(controlData, "pki", "root.crt");

            // The nodes: the node image as containers. n1 starts the first storage instance from its local binary.
            var storageBinary = Path.Combine(outFolder, ".publish", "storage", "zc-storage");
            for (var i = 1; i <= 3; i++)
            {
                var data = lab.PathOf($"n{i}");
                Directory.CreateDirectory(data);
                var builder = Containers.Builder(nodeTag, $"zc-n{i}", lab.Namespace($"n{i}"))
                    .WithBindMount(data, "/var/lib/zerocloud")
                    .WithBindMount(root, "/etc/zc/ca.crt", AccessMode.ReadOnly)
                    .WithBindMount(tokenFile, "/etc/zc/join-token", AccessMode.ReadOnly)
                    .WithCommand(["--control", Control, "--ca-file", "/etc/zc/ca.crt", "--token-file", "/etc/zc/join-token", "--name", $"n{i}", "--address", $"10.79.0.1{i}", "--data", "/var/lib/zerocloud", "--block-devices", "none", .. (i == 1 ? (string[])["--image", "builtin/storage=/opt/zc/zc-storage"] : [])]);
                if (i == 1)
                {
                    builder = builder.WithBindMount(storageBinary, "/opt/zc/zc-storage", AccessMode.ReadOnly);
                }

                containers[i] = builder.Build();
                await Containers.StartAsync(containers[i]!);
            }

            StorageStatusResponse status = null!;
            await Containers.WaitAsync(async () => (status = (await StatusAsync())!) is { } s && s.Nodes.Any(n => n.Node == "n1" && n.Local is not null), "n1's storage instance, started from its local binary", containers, 120);

            // The image into the store, signed; n2 and n3 fetch it from there.
            output.WriteLine(await ZcAsync("image", "push", "storage", "--out", outFolder));
            await Containers.WaitAsync(async () => (status = (await StatusAsync())!) is { } s && s.Nodes.Count(n => n.Local is not null) == 3, "three storage nodes, two of them running the image fetched from the store", containers, 120);
            output.WriteLine($"three storage instances on node containers after {clock.Elapsed.TotalSeconds:0.0} s: {string.Join(", ", status.Nodes.Select(n => $"{n.Node} {n.Status}"))}");
            foreach (var node in new[] { "n2", "n3" })
            {
                Assert.True(Directory.Exists(Path.Combine(lab.PathOf(node), "images")), $"{node} has no image cache: it did not fetch the storage image");
            }

            // 9 MiB: three chunks (4 + 4 + 1 MiB), each on two nodes; read back through every node.
            var a = RandomNumberGenerator.GetBytes(9 << 20);
            var aFile = lab.PathOf("a.bin");
            await File.WriteAllBytesAsync(aFile, a);
            Assert.Contains("in 3 chunks", await ZcAsync("storage", "put", aFile, "--name", "data/a", "--node", "n1"), StringComparison.Ordinal);
            var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(a));
            var blob = JsonSerializer.Deserialize(await ZcAsync("kv", "get", StoreKeys.StorageBlob(digest)), ControlJsonContext.Default.BlobDto)!;
            Assert.Equal(3, blob.Chunks.Count);
            foreach (var hex in blob.Chunks)
            {
                Assert.Equal(2, (await ChunkAsync(hex)).Nodes.Count);
            }

            async Task GetEverywhereAsync(IEnumerable<string> nodes)
            {
                foreach (var node in nodes)
                {
                    var got = lab.PathOf($"got-{node}");
                    await ZcAsync("storage", "get", "data/a", "-o", got, "--node", node);
                    var read = await File.ReadAllBytesAsync(got);
                    Assert.True(a.AsSpan().SequenceEqual(read), $"data/a read through {node} differs");
                }
            }

            await GetEverywhereAsync(Nodes);

            // Remove the container of a node that holds a copy (not n1, which the reads above go through first).
            var victim = (await ChunkAsync(blob.Chunks[0])).Nodes.FirstOrDefault(n => n != "n1") ?? (await ChunkAsync(blob.Chunks[1])).Nodes.First(n => n != "n1");
            var index = int.Parse(victim[1..], System.Globalization.CultureInfo.InvariantCulture);
            var (removed, text) = await Podman.RunAsync("rm", "--force", containers[index]!.Name.TrimStart('/'));
            Assert.True(removed == 0, text);
            var sinceRemoval = Stopwatch.StartNew();
            await Containers.WaitAsync(
                async () =>
                {
                    var st = await StatusAsync();
                    if (st is null || st.UnderReplicated != 0)
                    {
                        return false;
                    }

                    foreach (var hex in blob.Chunks)
                    {
                        var chunk = await ChunkAsync(hex);
                        if (chunk.Nodes.Count != 2 || chunk.Nodes.Contains(victim))
                        {
                            return false;
                        }
                    }

                    return true;
                },
                $"the chunks {victim} held copied to the nodes left",
                containers,
                120);
            output.WriteLine($"{victim}'s container removed: every chunk back at 2 copies, none on {victim}, after {sinceRemoval.Elapsed.TotalSeconds:0.0} s (downAfter 10 s + repairAfter 2 s)");
            await GetEverywhereAsync(Nodes.Where(n => n != victim));
            output.WriteLine(await ZcAsync("storage", "status"));
        }
        finally
        {
            await Containers.DisposeAllAsync(containers, output);
            await Podman.RunAsync("rmi", "--force", controlTag, nodeTag);
        }
    }
}
