using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Cli;

/// <summary>
/// <c>zc storage put|get|ls|rm|status|scrub</c>: the cluster's store from the operator's shell. The control plane
/// says where storage runs; the bytes go straight to a storage instance over TLS (its node's certificate, checked
/// against the cluster's root and the address dialled), with the operator's credential.
/// </summary>
internal static partial class ClusterCommands
{
    private static Command Storage()
    {
        var command = new Command("storage", "The cluster's replicated store: put and get files, list, remove, status, scrub.");

        var putServer = ServerOption();
        var putNode = NodeOption();
        var file = new Argument<string>("file") { Description = "The file to store." };
        var name = new Option<string?>("--name", "-n") { Description = "The object's name (default: the file's name).", HelpName = "name" };
        var put = new Command("put", "Store a file as a named object: chunked, verified, on spec.storage.replicas nodes before it answers.") { putServer, putNode, file, name };
        put.SetAction((parse, ct) => RunStorageAsync(parse, putServer, putNode, async (storage, stdout, stderr) =>
        {
            var path = parse.GetValue(file)!;
            if (!File.Exists(path))
            {
                await stderr.WriteLineAsync($"zc: {path}: no such file").ConfigureAwait(false);
                return ZcCommand.UsageError;
            }

            var objectName = parse.GetValue(name) ?? Path.GetFileName(path).ToLowerInvariant();
            if (Inputs.ObjectName(objectName, "the object name") is { } problem)
            {
                await stderr.WriteLineAsync($"zc: {problem} (give one with --name)").ConfigureAwait(false);
                return ZcCommand.UsageError;
            }

            await using var source = File.OpenRead(path);
            using var content = new StreamContent(new ProgressStream(source, source.Length, $"put {objectName}", stderr));
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            content.Headers.ContentLength = source.Length;
            var started = Stopwatch.GetTimestamp();
            using var response = await storage.Http.PutAsync(new Uri(storage.Base, "/v1/objects/" + objectName), content, ct).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return await FailAsync(stderr, response, body).ConfigureAwait(false);
            }

            var stored = JsonSerializer.Deserialize(body, ControlJsonContext.Default.PutBlobResponse)!;
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            await stdout.WriteLineAsync($"stored {objectName}: {stored.Digest}, {Bytes(stored.Size)} in {stored.Chunks} chunks ({stored.NewChunks} new) on {string.Join(", ", stored.Nodes)}, {seconds:0.0} s ({Bytes((long)(stored.Size / Math.Max(seconds, 0.001)))}/s) via {storage.Node}").ConfigureAwait(false);
            return ZcCommand.Ok;
        }));

        var getServer = ServerOption();
        var getNode = NodeOption();
        var what = new Argument<string>("object") { Description = "An object's name, or a blob's digest (sha256:…)." };
        var output = new Option<string?>("--output", "-o") { Description = "Write it here (default: standard output, when that is not a terminal).", HelpName = "file" };
        var get = new Command("get", "Fetch an object or blob; its digest is checked as it arrives.") { getServer, getNode, what, output };
        get.SetAction((parse, ct) => RunStorageAsync(parse, getServer, getNode, async (storage, stdout, stderr) =>
        {
            var target = parse.GetValue(what)!;
            var isDigest = target.StartsWith("sha256:", StringComparison.Ordinal);
            if ((isDigest ? Inputs.Digest(target) : Inputs.ObjectName(target, "the object name")) is { } problem)
            {
                await stderr.WriteLineAsync($"zc: {problem}").ConfigureAwait(false);
                return ZcCommand.UsageError;
            }

            var path = parse.GetValue(output);
            if (path is null && !Console.IsOutputRedirected)
            {
                await stderr.WriteLineAsync("zc: standard output is a terminal: give -o <file>, or redirect it").ConfigureAwait(false);
                return ZcCommand.UsageError;
            }

            using var response = await storage.Http.GetAsync(new Uri(storage.Base, (isDigest ? "/v1/blobs/" : "/v1/objects/") + target), HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return await FailAsync(stderr, response, await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false)).ConfigureAwait(false);
            }

            var digest = response.Headers.ETag?.Tag.Trim('"') ?? "";
            var length = response.Content.Headers.ContentLength ?? -1;
            var partial = path is null ? null : path + ".part";
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using (var sink = partial is null ? Console.OpenStandardOutput() : File.Create(partial))
            {
                await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
                await using var progress = new ProgressStream(body, length, $"get {target}", stderr);
                var buffer = new byte[1 << 20];
                int n;
                while ((n = await progress.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                {
                    hash.AppendData(buffer, 0, n);
                    await sink.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                }
            }

            var got = "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset());
            if (got != digest)
            {
                if (partial is not null)
                {
                    File.Delete(partial);
                }

                await stderr.WriteLineAsync($"zc: {target}: the bytes received hash to {got}, not the {digest} the store named; nothing kept").ConfigureAwait(false);
                return ZcCommand.Failed;
            }

            if (path is not null)
            {
                File.Move(partial!, path, overwrite: true);
                await stdout.WriteLineAsync($"{target}: {Bytes(length)} to {path}, {digest} verified (via {storage.Node})").ConfigureAwait(false);
            }

            return ZcCommand.Ok;
        }));

        var lsServer = ServerOption();
        var json = JsonOption();
        var ls = new Command("ls", "List the stored objects.") { lsServer, json };
        ls.SetAction((parse, ct) => RunStorageAsync(parse, lsServer, null, async (storage, stdout, stderr) =>
        {
            var text = await storage.Http.GetStringAsync(new Uri(storage.Base, "/v1/objects"), ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                await stdout.WriteLineAsync(text).ConfigureAwait(false);
                return ZcCommand.Ok;
            }

            var list = JsonSerializer.Deserialize(text, ControlJsonContext.Default.StorageObjectsResponse)!;
            await stdout.WriteLineAsync($"{"NAME",-32} {"SIZE",10} {"CREATED",-20} DIGEST").ConfigureAwait(false);
            foreach (var o in list.Objects)
            {
                await stdout.WriteLineAsync($"{o.Name,-32} {Bytes(o.Size),10} {o.Created:yyyy-MM-dd HH:mm:ss}  {o.Digest[..19]}…").ConfigureAwait(false);
            }

            return ZcCommand.Ok;
        }));

        var rmServer = ServerOption();
        var rmName = new Argument<string>("name") { Description = "The object's name." };
        var rm = new Command("rm", "Remove an object (its blob is collected once nothing names it, after a grace period).") { rmServer, rmName };
        rm.SetAction((parse, ct) => RunStorageAsync(parse, rmServer, null, async (storage, stdout, stderr) =>
        {
            var target = parse.GetValue(rmName)!;
            if (Inputs.ObjectName(target, "the object name") is { } problem)
            {
                await stderr.WriteLineAsync($"zc: {problem}").ConfigureAwait(false);
                return ZcCommand.UsageError;
            }

            using var response = await storage.Http.DeleteAsync(new Uri(storage.Base, "/v1/objects/" + target), ct).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return await FailAsync(stderr, response, body).ConfigureAwait(false);
            }

            await stdout.WriteLineAsync($"object {target} removed").ConfigureAwait(false);
            return ZcCommand.Ok;
        }));

        var statusServer = ServerOption();
        var statusJson = JsonOption();
        var status = new Command("status", "Objects, bytes, copies, under-replicated and repairing chunks, and every storage node.") { statusServer, statusJson };
        status.SetAction((parse, ct) => RunStorageAsync(parse, statusServer, null, async (storage, stdout, stderr) =>
        {
            var text = await storage.Http.GetStringAsync(new Uri(storage.Base, "/v1/storage/status"), ct).ConfigureAwait(false);
            if (parse.GetValue(statusJson))
            {
                await stdout.WriteLineAsync(text).ConfigureAwait(false);
                return ZcCommand.Ok;
            }

            var s = JsonSerializer.Deserialize(text, ControlJsonContext.Default.StorageStatusResponse)!;
            await stdout.WriteLineAsync($"{s.Objects} objects, {s.Blobs} blobs, {Bytes(s.Bytes)} ({Bytes(s.StoredBytes)} with every copy) in {s.ChunkCount} chunks; {s.Replicas} copies wanted; {s.UnderReplicated} under-replicated, {s.Repairing} repairing, {s.Lost} without a live copy").ConfigureAwait(false);
            await stdout.WriteLineAsync($"{"NODE",-14} {"STATUS",-8} {"ADDRESS",-15} {"CHUNKS",7} {"USED",10} {"FREE",10} {"CORRUPT",7} {"REPAIRED",8}  PROBLEM").ConfigureAwait(false);
            foreach (var n in s.Nodes)
            {
                await stdout.WriteLineAsync($"{n.Node,-14} {n.Status,-8} {n.Address ?? "-",-15} {n.ListedChunks,7} {(n.Local is { } l ? Bytes(l.UsedBytes) : "-"),10} {(n.Local is { } f ? Bytes(f.FreeBytes) : "-"),10} {n.Local?.CorruptFound.ToString(CultureInfo.InvariantCulture) ?? "-",7} {n.Local?.Repaired.ToString(CultureInfo.InvariantCulture) ?? "-",8}  {n.Problem}").ConfigureAwait(false);
            }

            return ZcCommand.Ok;
        }));

        var scrubServer = ServerOption();
        var scrubNode = NodeOption();
        var scrub = new Command("scrub", "Re-read and re-hash every chunk on one storage node now, repairing bad copies from good ones.") { scrubServer, scrubNode };
        scrub.SetAction((parse, ct) => RunStorageAsync(parse, scrubServer, scrubNode, async (storage, stdout, stderr) =>
        {
            using var response = await storage.Http.PostAsync(new Uri(storage.Base, "/v1/storage/scrub"), null, ct).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return await FailAsync(stderr, response, body).ConfigureAwait(false);
            }

            var r = JsonSerializer.Deserialize(body, ControlJsonContext.Default.ScrubReport)!;
            await stdout.WriteLineAsync($"scrub of {r.Node}: {r.Scanned} chunks re-hashed in {r.Seconds:0.0} s, {r.Corrupt} corrupt, {r.Missing} missing, {r.Repaired} repaired, {r.Unrepaired} without a good copy").ConfigureAwait(false);
            return r.Unrepaired > 0 ? ZcCommand.Failed : ZcCommand.Ok;
        }));

        foreach (var c in new[] { put, get, ls, rm, status, scrub })
        {
            command.Subcommands.Add(c);
        }

        return command;
    }

    private static Option<string?> NodeOption() => new("--node") { Description = "Go through the storage instance on this node (default: the first on a Ready node, else on a Suspect one).", HelpName = "name" };

    private sealed record StorageTarget(HttpClient Http, Uri Base, string Node, ControlClient Control);

    /// <summary>Finds a storage instance (on <c>--node</c>, or the first running one, Ready nodes before Suspect ones: a node that missed a few heartbeats keeps its instances) and runs <paramref name="action"/> against it.</summary>
    private static Task<int> RunStorageAsync(ParseResult parse, Option<string> server, Option<string?>? node, Func<StorageTarget, TextWriter, TextWriter, Task<int>> action) =>
        RunAsync(parse, server, async (client, trust, credential, stdout) =>
        {
            var stderr = parse.InvocationConfiguration.Error;
            if (trust is null || credential is null)
            {
                await stderr.WriteLineAsync("zc: the store is reached over the cluster's TLS with an operator credential: point $ZC_CREDENTIALS at the credentials file").ConfigureAwait(false);
                return ZcCommand.UsageError;
            }

            var nodes = (await client.NodesAsync().ConfigureAwait(false)).Nodes.ToDictionary(n => n.Name, StringComparer.Ordinal);
            var instances = (await client.InstancesAsync().ConfigureAwait(false)).Instances
                .Where(v => v.Instance.Image == "builtin/storage" && nodes.GetValueOrDefault(v.Instance.Node) is { Status: NodeStatus.Ready or NodeStatus.Suspect, Address: not null })
                .OrderBy(v => nodes[v.Instance.Node].Status == NodeStatus.Ready ? 0 : 1)
                .ThenBy(v => v.State?.State == InstanceState.Running ? 0 : 1).ThenBy(v => v.Instance.Node, StringComparer.Ordinal).ToList();
            var wanted = node is null ? null : parse.GetValue(node);
            var chosen = instances.FirstOrDefault(v => wanted is null || v.Instance.Node == wanted);
            if (chosen is null)
            {
                await stderr.WriteLineAsync(wanted is null
                    ? "zc: no storage instance runs on a Ready or Suspect node (is a service with image builtin/storage in cluster.yaml? zc get services)"
                    : $"zc: no storage instance runs on node {wanted}, or it is Down or unknown (zc get nodes; zc get instances)").ConfigureAwait(false);
                return ZcCommand.Failed;
            }

            var port = chosen.Instance.Ports is { Count: > 0 } ports ? ports[0] : 8890;
            var address = nodes[chosen.Instance.Node].Address!;
            using var http = trust.Client(Timeout.InfiniteTimeSpan);
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", credential);
            try
            {
                return await action(new StorageTarget(http, new Uri($"https://{(IPAddress.TryParse(address, out var ip) ? ip.ToString() : address)}:{port}"), chosen.Instance.Node, client), stdout, stderr).ConfigureAwait(false);
            }
            catch (HttpRequestException ex)
            {
                await stderr.WriteLineAsync($"zc: the storage instance on {chosen.Instance.Node} ({address}:{port}): {ex.Message}").ConfigureAwait(false);
                return ZcCommand.Failed;
            }
        });

    private static async Task<int> FailAsync(TextWriter stderr, HttpResponseMessage response, string body)
    {
        string message;
        try
        {
            message = JsonSerializer.Deserialize(body, ControlJsonContext.Default.ErrorResponse)?.Message ?? body;
        }
        catch (JsonException)
        {
            message = body;
        }

        await stderr.WriteLineAsync($"zc: {(int)response.StatusCode} {message}").ConfigureAwait(false);
        return (int)response.StatusCode >= 500 ? ZcCommand.UsageError : ZcCommand.Failed;
    }

    private static string Bytes(long n) => n switch
    {
        < 0 => "?",
        < 1024 => $"{n} B",
        < 1 << 20 => $"{n / 1024.0:0.0} KiB",
        < 1 << 30 => $"{n / 1048576.0:0.0} MiB",
        _ => $"{n / 1073741824.0:0.00} GiB",
    };

    /// <summary>A read-through stream that draws a progress bar on standard error when that is a terminal.</summary>
    private sealed class ProgressStream(Stream inner, long total, string label, TextWriter stderr) : Stream
    {
        private readonly bool _draw = !Console.IsErrorRedirected;
        private long _done;
        private long _lastDraw;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => total;

        public override long Position { get => _done; set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private int Count(int n)
        {
            _done += n;
            if (_draw && (n == 0 || Environment.TickCount64 - _lastDraw > 200))
            {
                _lastDraw = Environment.TickCount64;
                var fraction = total > 0 ? Math.Min(1.0, (double)_done / total) : 0;
                var bar = new string('#', (int)(fraction * 30)).PadRight(30, '.');
                stderr.Write($"\r{label} [{bar}] {Bytes(_done)}{(total > 0 ? " of " + Bytes(total) : "")}{(n == 0 ? "\n" : "")}");
            }

            return n;
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
