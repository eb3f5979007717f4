using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Images;
using ZeroCloud.Model.Pki;

namespace ZeroCloud.Node.Runtime;

/// <summary>An image version ready on this node: its folder in the cache, the unpacked initrd (<c>root/init</c> is the binary), and its files.</summary>
internal sealed record CachedImage(string Name, string Digest, string Version, string Folder, string Manifest = "", string Signature = "")
{
    public string Root => Path.Combine(Folder, "root");

    public string Binary => Path.Combine(Root, "init");

    public string Initrd => Path.Combine(Folder, ImageManifest.Initrd);

    public string Kernel => Path.Combine(Folder, ImageManifest.Vmlinuz);
}

/// <summary>Where the agent finds the catalogue and the store: the control plane in production, fixed answers in tests.</summary>
internal interface IImageSources
{
    /// <summary>The catalogue's record of an image by name; null when there is none.</summary>
    Task<ImageDto?> ImageAsync(string name, CancellationToken ct);

    /// <summary>Every image of the catalogue.</summary>
    Task<IReadOnlyList<ImageDto>> ImagesAsync(CancellationToken ct);

    /// <summary>The storage instances to fetch from (https://address:port), the nearest first.</summary>
    Task<IReadOnlyList<Uri>> StorageAsync(CancellationToken ct);
}

/// <summary>
/// The agent's image cache: it resolves a placement's image in the catalogue (<c>builtin/&lt;name&gt;</c> is the current
/// version, <c>&lt;name&gt;@sha256:…</c> that one), checks the manifest's signature against the cluster's root and its
/// digest, fetches the files it needs from any storage instance by digest over TLS (with the node's certificate),
/// checks every byte against the signed manifest, and unpacks the initrd once (<c>&lt;cache&gt;/&lt;hex&gt;/root</c>:
/// the process runtime runs <c>root/init</c>, the same bytes a VM boots). Bounded: least recently used versions that no
/// instance uses are removed when a new one would not fit; one in use never is.
/// </summary>
internal sealed class ImageCache(string folder, long capacityBytes, IImageSources sources, HttpClient http, Func<X509Certificate2?> root, ILogger log)
{
    private const string ReadyFile = ".ready";
    private IReadOnlyList<string> _available = [];

    /// <summary>The image references this node can run from the catalogue (refreshed by <see cref="RefreshAsync"/>).</summary>
    public IReadOnlyList<string> Available() => _available;

    /// <summary>Reads the catalogue again: what this node reports it can run.</summary>
    public async Task RefreshAsync(CancellationToken ct)
    {
        var images = await sources.ImagesAsync(ct).ConfigureAwait(false);
        _available = [.. images.SelectMany(i => i.Versions.SelectMany(v => (string[])[$"{i.Name}@{v.Digest}", v.Digest]).Append($"builtin/{i.Name}")).Distinct().Order(StringComparer.Ordinal)];
    }

    /// <summary>
    /// The verified image for <paramref name="image"/>, fetched and unpacked when it is not in the cache; with
    /// <paramref name="kernel"/> its kernel too (the vm runtime). Throws <see cref="ImageRefusedException"/> with the reason.
    /// </summary>
    public async Task<CachedImage> PrepareAsync(string image, bool kernel, IReadOnlySet<string> inUse, CancellationToken ct)
    {
        var reference = ImageReference.Parse(image) ?? throw new ImageRefusedException(Inputs.Image(image)!);
        var (record, version) = await ResolveAsync(reference, ct).ConfigureAwait(false);
        var what = $"image {record.Name}@{version.Digest}";
        var bytes = version.ManifestBytes();
        if (ImageManifest.DigestOf(bytes) != version.Digest)
        {
            throw new ImageRefusedException($"{what}: the catalogue's manifest hashes to {ImageManifest.DigestOf(bytes)}, not its digest; not running it");
        }

        if (root() is not { } clusterRoot)
        {
            throw new ImageRefusedException($"{what}: this node has no cluster root to check the image's signature with");
        }

        if (ImageSigning.Problem(bytes, Convert.FromBase64String(version.Signature), clusterRoot, what) is { } unsigned)
        {
            throw new ImageRefusedException(unsigned);
        }

        var manifest = ImageManifest.Parse(bytes, out var problem) ?? throw new ImageRefusedException($"{what}: {problem}");
        if (manifest.Name != record.Name)
        {
            throw new ImageRefusedException($"{what}: its signed manifest is of image {manifest.Name}");
        }

        var cached = new CachedImage(record.Name, version.Digest, version.Version, Path.Combine(folder, version.Digest["sha256:".Length..]), version.Manifest, version.Signature);
        if (!File.Exists(Path.Combine(cached.Folder, ReadyFile)))
        {
            var initrd = manifest.File(ImageManifest.Initrd) ?? throw new ImageRefusedException($"{what}: its manifest lists no {ImageManifest.Initrd}");
            MakeRoom(initrd.Size * 4, inUse);
            Directory.CreateDirectory(cached.Folder);
            await FetchAsync(what, initrd, cached.Initrd, ct).ConfigureAwait(false);
            var unpacked = Path.Combine(cached.Folder, "root.new");
            if (Directory.Exists(unpacked))
            {
                Directory.Delete(unpacked, recursive: true);
            }

            try
            {
                await using var source = File.OpenRead(cached.Initrd);
                InitrdReader.Unpack(source, unpacked, capacityBytes);
            }
            catch (InvalidDataException ex)
            {
                Directory.Delete(cached.Folder, recursive: true);
                throw new ImageRefusedException($"{what}: {ex.Message}");
            }

            if (!File.Exists(Path.Combine(unpacked, "init")))
            {
                Directory.Delete(cached.Folder, recursive: true);
                throw new ImageRefusedException($"{what}: its initrd has no /init");
            }

            if (Directory.Exists(cached.Root))
            {
                Directory.Delete(cached.Root, recursive: true);
            }

            Directory.Move(unpacked, cached.Root);
            await File.WriteAllTextAsync(Path.Combine(cached.Folder, ReadyFile), $"{record.Name} {version.Version}\n", ct).ConfigureAwait(false);
            log.LogInformation("{What} ({Version}): fetched, verified against its signed manifest and unpacked in {Folder}", what, version.Version, cached.Folder);
        }

        if (kernel && !File.Exists(cached.Kernel))
        {
            var file = manifest.File(ImageManifest.Vmlinuz) ?? throw new ImageRefusedException($"{what}: its manifest lists no {ImageManifest.Vmlinuz}");
            await FetchAsync(what, file, cached.Kernel, ct).ConfigureAwait(false);
        }

        Directory.SetLastWriteTimeUtc(cached.Folder, DateTime.UtcNow);
        return cached;
    }

    private async Task<(ImageDto Record, ImageVersionDto Version)> ResolveAsync(ImageReference reference, CancellationToken ct)
    {
        if (reference.Name is { } name)
        {
            var record = await sources.ImageAsync(name, ct).ConfigureAwait(false)
                ?? throw new ImageRefusedException($"image {reference}: the catalogue has no image {name} (zc image push {name})");
            var digest = reference.Digest ?? record.Current;
            return (record, record.Version(digest) ?? throw new ImageRefusedException($"image {reference}: the catalogue keeps no version {digest} of {name}"));
        }

        foreach (var record in await sources.ImagesAsync(ct).ConfigureAwait(false))
        {
            if (record.Version(reference.Digest!) is { } version)
            {
                return (record, version);
            }
        }

        throw new ImageRefusedException($"image {reference}: no image of the catalogue has that version");
    }

    /// <summary>Fetches one file of an image by its digest from the first storage instance that serves the right bytes.</summary>
    private async Task FetchAsync(string what, ImageFileInfo file, string path, CancellationToken ct)
    {
        var storage = await sources.StorageAsync(ct).ConfigureAwait(false);
        if (storage.Count == 0)
        {
            throw new ImageRefusedException($"{what}: no storage instance is running to fetch {file.Name} from", transient: true);
        }

        var problems = new List<string>();
        var want = "sha256:" + file.Sha256;
        foreach (var endpoint in storage)
        {
            var part = path + ".part";
            try
            {
                using var response = await http.GetAsync(new Uri(endpoint, $"/v1/blobs/{want}"), HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    problems.Add($"{endpoint.Authority}: {(int)response.StatusCode}");
                    continue;
                }

                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                long size = 0;
                await using (var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false))
                await using (var sink = File.Create(part))
                {
                    var buffer = new byte[1 << 16];
                    int n;
                    while ((n = await body.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                    {
                        size += n;
                        if (size > file.Size)
                        {
                            break;
                        }

                        hash.AppendData(buffer, 0, n);
                        await sink.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                    }
                }

                var got = "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset());
                if (size != file.Size || got != want)
                {
                    File.Delete(part);
                    var lie = $"{what}: {file.Name} from {endpoint.Authority} is {(size > file.Size ? $"more than {file.Size} bytes" : $"{got}, {size} bytes")}; the signed manifest says {want}, {file.Size} bytes";
                    log.LogError("{Problem}: refused", lie);
                    problems.Add(lie);
                    continue;
                }

                File.Move(part, path, overwrite: true);
                return;
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                File.Delete(part);
                problems.Add($"{endpoint.Authority}: {ex.Message}");
            }
        }

        throw new ImageRefusedException($"{string.Join("; ", problems)}; not running it", transient: problems.All(p => !p.StartsWith(what, StringComparison.Ordinal)));
    }

    /// <summary>Removes the least recently used versions no instance uses until <paramref name="needed"/> more bytes fit.</summary>
    private void MakeRoom(long needed, IReadOnlySet<string> inUse)
    {
        if (!Directory.Exists(folder))
        {
            return;
        }

        var entries = new DirectoryInfo(folder).GetDirectories().Select(d => (Dir: d, Size: d.EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length))).ToList();
        var used = entries.Sum(e => e.Size);
        foreach (var (dir, size) in entries.OrderBy(e => e.Dir.LastWriteTimeUtc))
        {
            if (used + needed <= capacityBytes)
            {
                break;
            }

            if (inUse.Contains("sha256:" + dir.Name))
            {
                continue;
            }

            log.LogInformation("image cache: removing {Digest} ({Bytes} bytes, unused since {Since:u}) to make room", dir.Name[..12], size, dir.LastWriteTimeUtc);
            dir.Delete(recursive: true);
            used -= size;
        }
    }
}

/// <summary>Why an image was not run: refused (its signature, its bytes) or not available yet (<see cref="Transient"/>: no storage, unreachable).</summary>
internal sealed class ImageRefusedException(string message, bool transient = false) : Exception(message)
{
    public bool Transient { get; } = transient;
}
