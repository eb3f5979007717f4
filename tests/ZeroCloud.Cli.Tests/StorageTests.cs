using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Xunit.Abstractions;
using ZeroCloud.Lab;
using ZeroCloud.Model.Api;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Cli.Tests;

/// <summary>
/// The store in a <c>zc up</c> cluster, with real processes in the lab's namespaces and nothing shared but the
/// network: put on one node and get from every node; Range requests with curl; a flipped byte in one copy is never
/// served and the scrub repairs it; an upload cut in the middle leaves nothing; full disks (tmpfs) send chunks
/// elsewhere and, when too few nodes have room, fail the PUT with 507 and lose nothing; a killed node's chunks are
/// re-replicated and every object still reads byte-identical.
/// </summary>
[Collection("up")]
[Trait("Category", "Lab")]
public sealed class StorageTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("zc-storage-").FullName;
    private readonly List<(string Pid, string Path)> _mounts = [];

    private const string Cluster = "stor";

    private const string Yaml = """
        apiVersion: zerocloud.io/v1
        kind: Cluster
        metadata: { name: stor }
        spec:
          network:
            interface: zc0
            subnet: 10.83.0.0/24
            gateway: 10.83.0.1
            dhcp: { mode: full, range: 10.83.0.100-10.83.0.200, leaseTime: 1h }
          controlPlane: { replicas: 3 }
          nodes:
            enroll: approve
            heartbeat: 500ms
            downAfter: 10s
            known:
              - { mac: "52:54:00:83:00:01", name: st-1 }
              - { mac: "52:54:00:83:00:02", name: st-2 }
              - { mac: "52:54:00:83:00:03", name: st-3 }
          storage: { replicas: 2, repairAfter: 2s }
          services:
            - { name: dhcp, image: builtin/dhcp, replicas: 1 }
            - { name: netboot, image: builtin/netboot, replicas: 1 }
            - { name: storage, image: builtin/storage, replicas: 3 }
        """;

    private Task<(int Code, string Out, string Err)> ZcAsync(TimeSpan timeout, params string[] args) => ZcProcess.RunAsync(_root, timeout, args);

    private async Task<string> OkAsync(params string[] args)
    {
        var (code, text, err) = await ZcAsync(TimeSpan.FromMinutes(2), args);
        Assert.True(code == 0, $"zc {string.Join(' ', args)} exited {code}:\n{text}{err}");
        return text;
    }

    private async Task<StorageStatusResponse> StatusAsync() =>
        JsonSerializer.Deserialize(await OkAsync("storage", "status", "--json"), ControlJsonContext.Default.StorageStatusResponse)!;

    private async Task<ChunkDto> ChunkAsync(string hex) =>
        JsonSerializer.Deserialize(await OkAsync("kv", "get", StoreKeys.StorageChunk(hex)), ControlJsonContext.Default.ChunkDto)!;

    private async Task<BlobDto> BlobAsync(string digest) =>
        JsonSerializer.Deserialize(await OkAsync("kv", "get", StoreKeys.StorageBlob(digest)), ControlJsonContext.Default.BlobDto)!;

    /// <summary>The folder of a node of the lab (the seed's, or server s00N's for node st-N).</summary>
    private string NodeFolder(string node) => Path.Combine(_root, Cluster, node == "seed" ? "seed" : $"s00{node[^1]}", "node");

    private static string Namespace(string node) => $"zc-{Cluster}-{(node == "seed" ? "seed" : $"s00{node[^1]}")}";

    private static async Task<string> ShAsync(string command)
    {
        var (_, text) = await Processes.RunAsync("sh", ["-c", command], TimeSpan.FromMinutes(1));
        return text;
    }

    private async Task GetEverywhereAsync(string name, byte[] expected, IEnumerable<string> nodes)
    {
        foreach (var node in nodes)
        {
            var file = Path.Combine(_root, $"got-{node}");
            await OkAsync("storage", "get", name, "-o", file, "--node", node);
            var read = await File.ReadAllBytesAsync(file);
            Assert.True(expected.AsSpan().SequenceEqual(read), $"{name} read through {node} differs");
        }
    }

    /// <summary>curl against a storage instance, as an operator: the cluster's root, the admin credential. Body and the status line.</summary>
    private async Task<(int Status, byte[] Body, string Headers)> CurlAsync(string address, string path, params string[] extra)
    {
        var credentials = CredentialsFile.Read(Path.Combine(_root, Cluster, "credentials.json"), out var problem) ?? throw new InvalidOperationException(problem);
        var ca = Path.Combine(_root, "ca.crt");
        await File.WriteAllTextAsync(ca, credentials.Ca);
        var body = Path.Combine(_root, "curl.body");
        var headers = Path.Combine(_root, "curl.headers");
        var (exit, text) = await Processes.RunAsync("ip", ["netns", "exec", Namespace("seed"), "curl", "-sS", "--cacert", ca, "-H", $"Authorization: Bearer {credentials.Credential}", "-o", body, "-D", headers, "-w", "%{http_code}", .. extra, $"https://{address}:8890{path}"], TimeSpan.FromMinutes(1));
        Assert.True(exit == 0, text);
        return (int.Parse(text.Trim()[^3..], System.Globalization.CultureInfo.InvariantCulture), File.Exists(body) ? await File.ReadAllBytesAsync(body) : [], await File.ReadAllTextAsync(headers));
    }

    [LabFact]
    public async Task The_store_replicates_verifies_repairs_and_serves_ranges_across_real_nodes()
    {
        var file = Path.Combine(_root, "cluster.yaml");
        await File.WriteAllTextAsync(file, Yaml);
        try
        {
            var (code, upOut, upErr) = await ZcAsync(TimeSpan.FromMinutes(10), "up", "-f", file, "--nodes", "3", "--timeout", "300");
            Assert.True(code == 0, upOut + upErr);
            output.WriteLine(upOut);

            // zc up waits for the storage instances to be healthy; each one's view of its own disk (Local) comes with
            // its next report, which a busy machine may send a little later. A server zc up lost on the way (CI saw one
            // miss heartbeats on a loaded machine) stays listed while the records still name it as a holder of the
            // images' chunks, with no instance there: the test uses the three nodes that run one.
            StorageStatusResponse status = null!;
            await WaitAsync(TimeSpan.FromSeconds(60), async () => (status = await StatusAsync()).Nodes.Count(n => n.Local is not null) == 3, "three storage nodes with their own status", DiagnosticsAsync);
            Assert.Equal(2, status.Replicas);
            var storageNodes = status.Nodes.Where(n => n.Local is not null).Select(n => n.Node).ToList();

            // Put through one node; 9 MiB is three chunks (4 + 4 + 1 MiB); get through every node.
            var a = RandomNumberGenerator.GetBytes(9 << 20);
            var aFile = Path.Combine(_root, "a.bin");
            await File.WriteAllBytesAsync(aFile, a);
            var put = await OkAsync("storage", "put", aFile, "--name", "data/a", "--node", storageNodes[0]);
            Assert.Contains("in 3 chunks (3 new)", put, StringComparison.Ordinal);
            await GetEverywhereAsync("data/a", a, storageNodes);
            var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(a));
            Assert.Contains("data/a", await OkAsync("storage", "ls"), StringComparison.Ordinal);
            var blob = await BlobAsync(digest);
            Assert.Equal(3, blob.Chunks.Count);
            foreach (var hex in blob.Chunks)
            {
                Assert.Equal(2, (await ChunkAsync(hex)).Nodes.Count);
            }

            // Range requests with curl: first byte, last 100, a middle span across a chunk edge, several, none.
            var address = status.Nodes.First(n => n.Local is not null).Address!;
            var (s, body, headers) = await CurlAsync(address, "/v1/objects/data/a", "-r", "0-0");
            Assert.Equal(206, s);
            Assert.Equal(a[..1], body);
            (s, body, _) = await CurlAsync(address, "/v1/objects/data/a", "-r", "-100");
            Assert.Equal(206, s);
            Assert.Equal(a[^100..], body);
            (s, body, _) = await CurlAsync(address, $"/v1/blobs/{digest}", "-r", $"{(4 << 20) - 10}-{(4 << 20) + 9}");
            Assert.Equal(206, s);
            Assert.Equal(a[((4 << 20) - 10)..((4 << 20) + 10)], body);
            (s, body, headers) = await CurlAsync(address, "/v1/objects/data/a", "-r", "0-9,5000000-5000009");
            Assert.Equal(206, s);
            Assert.Contains("multipart/byteranges", headers, StringComparison.Ordinal);
            var text = System.Text.Encoding.Latin1.GetString(body);
            Assert.Contains(System.Text.Encoding.Latin1.GetString(a[..10]), text, StringComparison.Ordinal);
            Assert.Contains(System.Text.Encoding.Latin1.GetString(a[5000000..5000010]), text, StringComparison.Ordinal);
            Assert.Contains($"Content-Range: bytes 5000000-5000009/{a.Length}", text, StringComparison.Ordinal);
            (s, _, headers) = await CurlAsync(address, "/v1/objects/data/a", "-r", $"{a.Length}-");
            Assert.Equal(416, s);
            Assert.Contains($"bytes */{a.Length}", headers, StringComparison.Ordinal);
            (s, body, headers) = await CurlAsync(address, "/v1/objects/data/a");
            Assert.Equal(200, s);
            Assert.Equal(a, body);
            Assert.Contains($"\"{digest}\"", headers, StringComparison.Ordinal);
            Assert.Contains("immutable", headers, StringComparison.Ordinal);

            // A flipped byte in one copy: the GET through that node is 200, full length, byte-identical.
            var first = await ChunkAsync(blob.Chunks[0]);
            var holder = first.Nodes[0];
            var copy = Path.Combine(NodeFolder(holder), "storage", "chunks", blob.Chunks[0][..2], blob.Chunks[0]);
            await FlipAsync(copy, 12345);
            var got = Path.Combine(_root, "got-flipped");
            await OkAsync("storage", "get", "data/a", "-o", got, "--node", holder);
            Assert.Equal(a, await File.ReadAllBytesAsync(got));

            // The scrub finds a flipped byte nobody read, and repairs it from a good copy.
            var second = await ChunkAsync(blob.Chunks[1]);
            var scrubbed = second.Nodes[0];
            var secondCopy = Path.Combine(NodeFolder(scrubbed), "storage", "chunks", blob.Chunks[1][..2], blob.Chunks[1]);
            await FlipAsync(secondCopy, 777);
            var report = await OkAsync("storage", "scrub", "--node", scrubbed);
            Assert.Contains("1 corrupt, 0 missing, 1 repaired", report, StringComparison.Ordinal);
            var restored = await File.ReadAllBytesAsync(secondCopy);
            Assert.True(a.AsSpan(4 << 20, 4 << 20).SequenceEqual(restored), "the scrub did not restore the copy");
            await WaitAsync(TimeSpan.FromSeconds(30), async () => File.Exists(copy) && Same(await File.ReadAllBytesAsync(copy), a, 0, 4 << 20), "the copy found corrupt by a read was not restored");

            // A copy that vanished from a holder's disk (a replaced disk, a deleted file) is put back when a peer asks
            // that holder for it, and by the scrub, which looks for every copy the records list on its node.
            var third = await ChunkAsync(blob.Chunks[2]);
            var thirdCopy = Path.Combine(NodeFolder(third.Nodes[0]), "storage", "chunks", blob.Chunks[2][..2], blob.Chunks[2]);
            File.Delete(thirdCopy);
            var holderAddress = (await StatusAsync()).Nodes.First(n => n.Node == third.Nodes[0]).Address!;
            (s, _, _) = await CurlAsync(holderAddress, $"/v1/chunks/{blob.Chunks[2]}");
            Assert.Equal(404, s);
            await WaitAsync(TimeSpan.FromSeconds(30), async () => File.Exists(thirdCopy) && Same(await File.ReadAllBytesAsync(thirdCopy), a, 8 << 20, 1 << 20), "the vanished copy asked for by a peer was not restored");
            File.Delete(thirdCopy);
            report = await OkAsync("storage", "scrub", "--node", third.Nodes[0]);
            Assert.Contains("0 corrupt, 1 missing, 1 repaired", report, StringComparison.Ordinal);
            Assert.True(Same(await File.ReadAllBytesAsync(thirdCopy), a, 8 << 20, 1 << 20), "the scrub did not restore the vanished copy");

            // An upload cut in the middle leaves no object.
            await CutUploadAsync(address, "data/cut", 9 << 20, 5 << 20);
            var (cutCode, _, cutErr) = await ZcAsync(TimeSpan.FromMinutes(1), "storage", "get", "data/cut", "-o", Path.Combine(_root, "cut"));
            Assert.True(cutCode != 0 && cutErr.Contains("404", StringComparison.Ordinal), cutErr);
            Assert.DoesNotContain("data/cut", await OkAsync("storage", "ls"), StringComparison.Ordinal);

            // Full disks: a node with no room for a chunk is passed over; with fewer than two nodes with room, 507.
            var full = storageNodes.Where(n => n != "seed").Take(2).ToList();
            await MountTinyAsync(full[0]);
            var b = RandomNumberGenerator.GetBytes(5 << 20);
            var bFile = Path.Combine(_root, "b.bin");
            await File.WriteAllBytesAsync(bFile, b);
            await OkAsync("storage", "put", bFile, "--name", "data/b", "--node", full[0]);
            var bBlob = await BlobAsync("sha256:" + Convert.ToHexStringLower(SHA256.HashData(b)));
            Assert.DoesNotContain(full[0], (await ChunkAsync(bBlob.Chunks[0])).Nodes);
            await MountTinyAsync(full[1]);
            var c = RandomNumberGenerator.GetBytes(5 << 20);
            var cFile = Path.Combine(_root, "c.bin");
            await File.WriteAllBytesAsync(cFile, c);
            var (fullCode, _, fullErr) = await ZcAsync(TimeSpan.FromMinutes(1), "storage", "put", cFile, "--name", "data/c");
            Assert.True(fullCode != 0, fullErr);
            Assert.Contains("507", fullErr, StringComparison.Ordinal);
            Assert.Contains("only 1 of the 2 copies", fullErr, StringComparison.Ordinal);
            await UnmountAllAsync();
            var listed = await OkAsync("storage", "ls");
            Assert.Contains("data/b", listed, StringComparison.Ordinal);
            Assert.DoesNotContain("data/c", listed, StringComparison.Ordinal);
            await GetEverywhereAsync("data/a", a, storageNodes);
            await GetEverywhereAsync("data/b", b, storageNodes);

            // Kill a server holding a copy: once Down for repairAfter its chunks are copied to the other nodes, and every
            // object still reads byte-identical through every storage node that is left.
            var victim = (await ChunkAsync(blob.Chunks[2])).Nodes.First(n => n != "seed");
            await Netns.KillAllAsync([Namespace(victim)]);
            var killed = Stopwatch.StartNew();
            await WaitAsync(TimeSpan.FromMinutes(2), async () =>
            {
                var st = await StatusAsync();
                var chunks = await Task.WhenAll(blob.Chunks.Concat(bBlob.Chunks).Select(ChunkAsync));
                return st.UnderReplicated == 0 && chunks.All(ch => ch.Nodes.Count == 2 && !ch.Nodes.Contains(victim));
            }, $"the chunks of {victim} were not re-replicated", DiagnosticsAsync);
            output.WriteLine($"{victim} killed; every chunk back at 2 copies after {killed.Elapsed.TotalSeconds:0.0} s (downAfter 10 s + repairAfter 2 s)");
            var left = (await StatusAsync()).Nodes.Where(n => n.Local is not null && n.Node != victim).Select(n => n.Node).ToList();
            Assert.NotEmpty(left);
            await GetEverywhereAsync("data/a", a, left);
            await GetEverywhereAsync("data/b", b, left);
        }
        finally
        {
            await UnmountAllAsync();
            var (code, downOut, downErr) = await ZcAsync(TimeSpan.FromMinutes(2), "down");
            Assert.True(code == 0, downOut + downErr);
        }
    }

    private static bool Same(byte[] got, byte[] whole, int offset, int length) => got.AsSpan().SequenceEqual(whole.AsSpan(offset, length));

    private static async Task FlipAsync(string path, int at)
    {
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[at] ^= 0x40;
        await File.WriteAllBytesAsync(path, bytes);
    }

    /// <summary>
    /// A 1 MiB tmpfs over the node's chunk folder, in the storage process's own mount namespace (the lab's hosts have
    /// their own): no room for any chunk (the node keeps 1 MiB free). Not larger: a small chunk written onto it would
    /// vanish when the test unmounts it, a loss the test itself made.
    /// </summary>
    private async Task MountTinyAsync(string node)
    {
        var chunks = Path.Combine(NodeFolder(node), "storage", "chunks");
        // Its binary is the storage image's /init, from the seed's build or the node's image cache.
        var pid = (await ShAsync($"pgrep -f '[/]zc-storage --node {node} |[/]root/init --node {node} ' | head -n 1")).Trim();
        Assert.True(pid.Length > 0, $"no storage process for {node}");
        var (code, text) = await Processes.RunAsync("nsenter", ["-t", pid, "-m", "mount", "-t", "tmpfs", "-o", "size=1m", "zc-test-full", chunks], TimeSpan.FromSeconds(10));
        Assert.True(code == 0, text);
        _mounts.Add((pid, chunks));
    }

    private async Task UnmountAllAsync()
    {
        foreach (var (pid, path) in _mounts)
        {
            await Processes.RunAsync("nsenter", ["-t", pid, "-m", "umount", "-l", path], TimeSpan.FromSeconds(10));
        }

        _mounts.Clear();
    }

    /// <summary>Sends the headers of a PUT of <paramref name="declared"/> bytes, then <paramref name="sent"/> bytes, then drops the connection.</summary>
    private async Task CutUploadAsync(string address, string name, int declared, int sent)
    {
        var credentials = CredentialsFile.Read(Path.Combine(_root, Cluster, "credentials.json"), out _)!;
        var script = $$"""
            import socket, ssl, sys
            ctx = ssl.create_default_context(cafile="{{Path.Combine(_root, "ca.crt")}}")
            s = ctx.wrap_socket(socket.create_connection(("{{address}}", 8890)), server_hostname="{{address}}")
            s.sendall(b"PUT /v1/objects/{{name}} HTTP/1.1\r\nHost: {{address}}\r\nAuthorization: Bearer {{credentials.Credential}}\r\nContent-Length: {{declared}}\r\n\r\n")
            s.sendall(b"x" * {{sent}})
            s.close()
            """;
        var py = Path.Combine(_root, "cut.py");
        await File.WriteAllTextAsync(py, script);
        var (code, text) = await Processes.RunAsync("ip", ["netns", "exec", Namespace("seed"), "/usr/bin/python3", py], TimeSpan.FromMinutes(1));
        Assert.True(code == 0, text);
        await Task.Delay(500);
    }

    /// <summary>What an operator would look at when the store does not converge: its status, the instances, the storage logs' tails.</summary>
    private async Task<string> DiagnosticsAsync()
    {
        var text = new System.Text.StringBuilder();
        foreach (var args in new[] { new[] { "storage", "status" }, ["get", "instances"] })
        {
            var (_, o, e) = await ZcAsync(TimeSpan.FromMinutes(1), args);
            text.Append("\n$ zc ").AppendJoin(' ', args).Append('\n').Append(o).Append(e);
        }

        foreach (var log in Directory.EnumerateFiles(Path.Combine(_root, Cluster), "*.log", SearchOption.AllDirectories).Where(f => Path.GetFileName(f) is "node.log" || Path.GetFileName(f).StartsWith("storage-", StringComparison.Ordinal)))
        {
            text.Append("\n== ").Append(log).Append('\n').AppendJoin('\n', (await File.ReadAllLinesAsync(log)).TakeLast(25));
        }

        return text.ToString();
    }

    private static async Task WaitAsync(TimeSpan timeout, Func<Task<bool>> done, string what, Func<Task<string>>? diagnostics = null)
    {
        var watch = Stopwatch.StartNew();
        string? lastFailure = null;
        while (true)
        {
            // A poll that fails (a zc call timing out while the cluster reacts to a killed node) is "not yet", not the
            // end of the wait; the last such failure is reported if the wait runs out.
            try
            {
                if (await done())
                {
                    return;
                }
            }
            catch (Xunit.Sdk.XunitException ex)
            {
                lastFailure = ex.Message;
            }

            if (watch.Elapsed >= timeout)
            {
                Assert.Fail($"{what} within {timeout.TotalSeconds:0} s{(lastFailure is null ? "" : $" (the last poll failed: {lastFailure})")}{(diagnostics is null ? "" : await diagnostics())}");
            }

            await Task.Delay(500);
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }
}
