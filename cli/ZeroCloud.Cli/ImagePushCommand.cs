using System.CommandLine;
using System.Text.Json;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Images;

namespace ZeroCloud.Cli;

/// <summary>
/// <c>zc image push &lt;name&gt;</c> and <c>zc image ls</c>: the cluster's image catalogue. Push uploads a built image's
/// files to the store (each checked against the manifest's SHA-256 by the store as it arrives), then asks the control
/// plane to record the manifest; the member signs it with the cluster's CA. ls lists the catalogue.
/// </summary>
internal static partial class ClusterCommands
{
    internal static Command ImagePush()
    {
        var server = ServerOption();
        var node = NodeOption();
        var name = new Argument<string[]>("name") { Description = "The images to push (built with zc image build into <out>/images/<name>).", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out", "-o") { Description = "The folder zc image build wrote to.", DefaultValueFactory = _ => "out", HelpName = "dir" };
        var push = new Command("push", "Upload built images to the cluster's store and record them in its catalogue, signed by the cluster.") { server, node, name, output };
        push.SetAction((parse, ct) => RunStorageAsync(parse, server, node, async (storage, stdout, stderr) =>
        {
            foreach (var image in parse.GetValue(name)!)
            {
                var code = await PushOneAsync(storage, Path.Combine(parse.GetValue(output)!, "images", image), image, stdout, stderr, ct).ConfigureAwait(false);
                if (code != ZcCommand.Ok)
                {
                    return code;
                }
            }

            return ZcCommand.Ok;
        }));
        return push;
    }

    /// <summary>Pushes the image built in <paramref name="folder"/>: its files to the store, then its manifest to the catalogue.</summary>
    internal static async Task<int> PushOneAsync(HttpClient http, Uri storage, ControlClient control, string folder, string image, TextWriter stdout, TextWriter stderr, CancellationToken ct) =>
        await PushOneAsync(new StorageTarget(http, storage, storage.Host, control), folder, image, stdout, stderr, ct).ConfigureAwait(false);

    private static async Task<int> PushOneAsync(StorageTarget storage, string folder, string image, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        ImagePushed done;
        try
        {
            done = await ZeroCloud.Model.Images.ImagePush.PushAsync(storage.Http, storage.Base, storage.Control, folder, image, (source, label) => new ProgressStream(source, source.Length, label, stderr), ct).ConfigureAwait(false);
        }
        catch (ImagePushException ex)
        {
            await stderr.WriteLineAsync($"zc: {ex.Message}").ConfigureAwait(false);
            return ex.NotBuilt || ex.Status >= 500 ? ZcCommand.UsageError : ZcCommand.Failed;
        }

        var pushed = done.Response;
        await stdout.WriteLineAsync($"pushed {pushed.Name} {pushed.Version}: {pushed.Digest}, {Bytes(done.Sent)} in {done.Files} files via {storage.Node}, {done.Took.TotalSeconds:0.0} s; signed by the cluster{(pushed.Replaced is { } old ? $"; it replaces {old}" : "")}").ConfigureAwait(false);
        return ZcCommand.Ok;
    }

    internal static Command ImageList()
    {
        var server = ServerOption();
        var built = new Option<bool>("--built") { Description = "List the images built on this machine (in --out) instead of the cluster's catalogue." };
        var output = new Option<string>("--out", "-o") { Description = "With --built: the folder zc image build wrote to.", DefaultValueFactory = _ => "out", HelpName = "dir" };
        var ls = new Command("ls", "List the cluster's image catalogue: name, version, digest, size, and the nodes that hold every chunk of it.") { server, built, output };
        ls.SetAction((parse, ct) => parse.GetValue(built)
            ? Task.FromResult(ImageCommand.List(parse.GetValue(output)!, parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error))
            : RunAsync(parse, server, async (client, stdout) =>
            {
                var images = (await client.ImagesAsync(ct).ConfigureAwait(false)).Images;
                if (images.Count == 0)
                {
                    await stdout.WriteLineAsync("no images in the catalogue (zc image push <name>)").ConfigureAwait(false);
                    return ZcCommand.Ok;
                }

                await stdout.WriteLineAsync($"{"NAME",-10} {"VERSION",-22} {"DIGEST",-19} {"SIZE",10}  {"STATE",-8} REPLICATED ON").ConfigureAwait(false);
                foreach (var image in images.OrderBy(i => i.Name, StringComparer.Ordinal))
                {
                    foreach (var v in image.Versions.OrderByDescending(v => v.Pushed))
                    {
                        var manifest = ImageManifest.Parse(v.ManifestBytes(), out _);
                        var size = manifest?.Files.Sum(f => f.Size) ?? 0;
                        var where = manifest is null ? [] : await HoldersAsync(client, manifest, ct).ConfigureAwait(false);
                        await stdout.WriteLineAsync($"{image.Name,-10} {Truncate(v.Version, 22),-22} {v.Digest[..19]} {Bytes(size),10}  {(v.Digest == image.Current ? "current" : "retired"),-8} {(where.Count > 0 ? string.Join(",", where) : "-")}").ConfigureAwait(false);
                    }
                }

                return ZcCommand.Ok;
            }));
        return ls;
    }

    private static string Truncate(string s, int n) => s.Length <= n ? s : s[..(n - 1)] + "…";

    /// <summary>The nodes that hold a copy of every chunk of every file of the version (from the store's records).</summary>
    private static async Task<IReadOnlyList<string>> HoldersAsync(ControlClient client, ImageManifest manifest, CancellationToken ct)
    {
        HashSet<string>? all = null;
        foreach (var file in manifest.Files)
        {
            var blob = await client.GetAsync(StoreKeys.StorageBlob("sha256:" + file.Sha256), ct: ct).ConfigureAwait(false);
            if (blob is null || JsonSerializer.Deserialize(blob.Value, ControlJsonContext.Default.BlobDto) is not { } b)
            {
                return [];
            }

            foreach (var chunk in b.Chunks)
            {
                var kv = await client.GetAsync(StoreKeys.StorageChunk(chunk), ct: ct).ConfigureAwait(false);
                var nodes = kv is null ? [] : JsonSerializer.Deserialize(kv.Value, ControlJsonContext.Default.ChunkDto)?.Nodes ?? [];
                if (all is null)
                {
                    all = [.. nodes];
                }
                else
                {
                    all.IntersectWith(nodes);
                }
            }
        }

        return [.. (all ?? []).Order(StringComparer.Ordinal)];
    }
}
