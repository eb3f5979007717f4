using Microsoft.Extensions.Logging;

namespace ZeroCloud.Node.Runtime;

/// <summary>
/// What a netboot instance on this node serves (<c>&lt;data&gt;/netboot-root</c>): the node image from the catalogue, its
/// bytes fetched from the store and verified by the image cache like any image, with its signed manifest
/// (<c>manifest.json</c>, the exact bytes signed, and <c>manifest.sig</c>, the signature in base64) and the cluster's root
/// (<c>cluster-root.crt</c>) so that the machines it boots can check it too, against the fingerprint they were given. Before the catalogue has a node image (the seed, at bootstrap) it serves the local build
/// given with <c>--netboot-root</c>, unsigned. A new version in the catalogue replaces the files in place (each by a
/// rename: a download under way keeps the file it opened).
/// </summary>
internal sealed class NetbootFiles(string root, string? local, ImageCache? cache, Func<string?> clusterRoot, ILogger log)
{
    public const string NodeImage = "builtin/node";

    private string? _served;

    public string Root => root;

    /// <summary>Whether the files served are the catalogue's (signed) node image.</summary>
    public bool FromCatalogue => _served?.StartsWith("sha256:", StringComparison.Ordinal) == true;

    /// <summary>Brings the served node image up to date; null, or why there is none to serve.</summary>
    public async Task<string?> RefreshAsync(IReadOnlySet<string> inUse, CancellationToken ct)
    {
        var target = Path.Combine(root, "images", "node");
        if (cache is not null && cache.Available().Contains(NodeImage))
        {
            try
            {
                var image = await cache.PrepareAsync(NodeImage, kernel: true, inUse, ct).ConfigureAwait(false);
                if (_served == image.Digest)
                {
                    return null;
                }

                Directory.CreateDirectory(target);
                Place(image.Kernel, Path.Combine(target, "vmlinuz"));
                Place(image.Initrd, Path.Combine(target, "initrd.img"));
                Write(Path.Combine(target, "manifest.sig"), image.Signature + "\n");
                if (clusterRoot() is { } rootPem)
                {
                    // Public: the machines check it against the fingerprint on their command line (zc.ca=).
                    Write(Path.Combine(target, "cluster-root.crt"), rootPem);
                }

                Write(Path.Combine(target, "manifest.json"), image.Manifest);
                _served = image.Digest;
                log.LogInformation("netboot serves the node image {Digest} ({Version}) from the store", image.Digest, image.Version);
                return null;
            }
            catch (ImageRefusedException ex)
            {
                return ex.Message;
            }
        }

        if (_served is null && local is not null && File.Exists(Path.Combine(local, "images", "node", "manifest.json")))
        {
            Directory.CreateDirectory(target);
            foreach (var file in (string[])["vmlinuz", "initrd.img", "manifest.json"])
            {
                Place(Path.Combine(local, "images", "node", file), Path.Combine(target, file));
            }

            File.Delete(Path.Combine(target, "manifest.sig"));
            _served = "local";
            log.LogInformation("netboot serves the node image of {Local} until the catalogue has one", local);
            return null;
        }

        return _served is null ? "no node image to serve: the catalogue has none (zc image push node) and this node was given no --netboot-root" : null;
    }

    private static void Place(string from, string to)
    {
        File.Copy(from, to + ".new", overwrite: true);
        File.Move(to + ".new", to, overwrite: true);
    }

    private static void Write(string path, string text)
    {
        File.WriteAllText(path + ".new", text);
        File.Move(path + ".new", path, overwrite: true);
    }
}
