using System.IO.Compression;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ZeroCloud.Boot;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Images;
using ZeroCloud.Model.Pki;
using ZeroCloud.Node.Runtime;

namespace ZeroCloud.Node.Tests;

/// <summary>
/// The agent's image cache against storage test doubles over TLS: an honest one, one that lies (serves other bytes under
/// the digest, as a store whose own chunk digests were recomputed would), and a catalogue whose manifest another
/// cluster signed.
/// </summary>
public sealed class ImageCacheTests : IAsyncDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("zc-image-cache-").FullName;
    private readonly ClusterPki _pki = ClusterPki.Create("lab", DateTimeOffset.UtcNow);
    private readonly List<WebApplication> _servers = [];

    /// <summary>A gzip'd newc initrd whose /init says <paramref name="says"/>.</summary>
    private static byte[] Initrd(string says)
    {
        using var cpio = new MemoryStream();
        CpioWriter.Write(cpio, [CpioEntry.Directory("etc"), CpioEntry.File("etc/zc/image", Encoding.UTF8.GetBytes("hello 1\n")), CpioEntry.File("init", Encoding.UTF8.GetBytes($"#!/bin/sh\necho {says}\n"), 0b111_101_101), CpioEntry.CharDevice("dev/console", 5, 1)]);
        using var gz = new MemoryStream();
        using (var z = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
        {
            z.Write(cpio.ToArray());
        }

        return gz.ToArray();
    }

    private static string Sha(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));

    /// <summary>An image record: a manifest naming <paramref name="initrd"/> and a kernel, signed by <paramref name="ca"/>.</summary>
    private static (ImageDto Image, string Digest) Signed(string name, string version, byte[] initrd, byte[] kernel, ClusterPki ca)
    {
        var manifest = new ImageManifest(name, version, "6.1.0", "", [new(ImageManifest.Vmlinuz, kernel.Length, Sha(kernel)), new(ImageManifest.Initrd, initrd.Length, Sha(initrd))], [], [], 10);
        var bytes = JsonSerializer.SerializeToUtf8Bytes(manifest, ImageJsonContext.Default.ImageManifest);
        using var signer = ca.IssueImageSigner("seed", DateTimeOffset.UtcNow);
        var digest = ImageManifest.DigestOf(bytes);
        var signature = Convert.ToBase64String(ImageSigning.Sign(bytes, signer, ca.Issuing, DateTimeOffset.UtcNow));
        return (new ImageDto(name, digest, [new ImageVersionDto(digest, version, Encoding.UTF8.GetString(bytes), signature, DateTime.UtcNow)]), digest);
    }

    /// <summary>A storage double on 127.0.0.1 with a node certificate of our cluster: GET /v1/blobs/&lt;digest&gt; from <paramref name="blobs"/>.</summary>
    private async Task<(Uri Url, Func<int> Requests)> StorageAsync(Dictionary<string, byte[]> blobs)
    {
        var requests = 0;
        using var leaf = _pki.IssueWithKey("node", "store", [IPAddress.Loopback], [], ClusterPki.NodeLifetime, DateTimeOffset.UtcNow);
        var certificate = X509CertificateLoader.LoadPkcs12(leaf.Export(X509ContentType.Pkcs12), null);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        // Like a storage instance, it presents the issuing CA beside its leaf.
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.UseHttps(new Microsoft.AspNetCore.Server.Kestrel.Https.HttpsConnectionAdapterOptions
        {
            ServerCertificate = certificate,
            ServerCertificateChain = [X509CertificateLoader.LoadCertificate(_pki.Issuing.RawData)],
        })));
        var app = builder.Build();
        app.MapGet("/v1/blobs/{digest}", async (HttpContext ctx, string digest) =>
        {
            Interlocked.Increment(ref requests);
            if (!blobs.TryGetValue(digest, out var bytes))
            {
                ctx.Response.StatusCode = 404;
                return;
            }

            await ctx.Response.Body.WriteAsync(bytes);
        });
        await app.StartAsync();
        _servers.Add(app);
        return (new Uri(app.Urls.First()), () => requests);
    }

    private sealed class Sources(IReadOnlyList<ImageDto> images, params Uri[] storage) : IImageSources
    {
        public Task<ImageDto?> ImageAsync(string name, CancellationToken ct) => Task.FromResult(images.FirstOrDefault(i => i.Name == name));

        public Task<IReadOnlyList<ImageDto>> ImagesAsync(CancellationToken ct) => Task.FromResult(images);

        public Task<IReadOnlyList<Uri>> StorageAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<Uri>>(storage);
    }

    private ImageCache Cache(IImageSources sources, long capacity = 1 << 30) =>
        new(_folder, capacity, sources, new ClusterTrust(_pki.Root).Client(TimeSpan.FromSeconds(30)), () => _pki.Root, NullLogger.Instance);

    [Fact]
    public async Task An_image_is_fetched_verified_and_unpacked_once()
    {
        var (initrd, kernel) = (Initrd("hello"), "kernel"u8.ToArray());
        var (image, digest) = Signed("hello", "1.0", initrd, kernel, _pki);
        var (url, requests) = await StorageAsync(new() { ["sha256:" + Sha(initrd)] = initrd, ["sha256:" + Sha(kernel)] = kernel });
        var cache = Cache(new Sources([image], url));
        await cache.RefreshAsync(CancellationToken.None);
        Assert.Contains("builtin/hello", cache.Available());
        Assert.Contains($"hello@{digest}", cache.Available());

        var ready = await cache.PrepareAsync("builtin/hello", kernel: false, new HashSet<string>(), CancellationToken.None);
        Assert.Equal(digest, ready.Digest);
        Assert.Equal("#!/bin/sh\necho hello\n", await File.ReadAllTextAsync(ready.Binary));
        Assert.True(OperatingSystem.IsWindows() || File.GetUnixFileMode(ready.Binary).HasFlag(UnixFileMode.UserExecute));
        Assert.False(File.Exists(Path.Combine(ready.Root, "dev", "console")));
        Assert.False(File.Exists(ready.Kernel));
        Assert.Equal(1, requests());

        // Cached: nothing is fetched again; the kernel only when a VM needs it; a pinned reference finds the same.
        var again = await cache.PrepareAsync($"hello@{digest}", kernel: true, new HashSet<string>(), CancellationToken.None);
        Assert.Equal(ready.Folder, again.Folder);
        Assert.Equal(kernel, await File.ReadAllBytesAsync(again.Kernel));
        Assert.Equal(2, requests());
    }

    [Fact]
    public async Task A_store_that_serves_other_bytes_under_the_digest_is_refused_and_nothing_is_unpacked()
    {
        var (initrd, kernel) = (Initrd("hello"), "kernel"u8.ToArray());
        var (image, digest) = Signed("hello", "1.0", initrd, kernel, _pki);
        // The liar serves another initrd under the signed one's digest: its own chunk digests would agree with these bytes.
        var (url, requests) = await StorageAsync(new() { ["sha256:" + Sha(initrd)] = Initrd("evil") });
        var cache = Cache(new Sources([image], url));
        var refused = await Assert.ThrowsAsync<ImageRefusedException>(() => cache.PrepareAsync("builtin/hello", kernel: false, new HashSet<string>(), CancellationToken.None));
        Assert.False(refused.Transient);
        Assert.StartsWith($"image hello@{digest}: initrd.img from {url.Authority} is ", refused.Message, StringComparison.Ordinal);
        Assert.Contains($"the signed manifest says sha256:{Sha(initrd)}", refused.Message, StringComparison.Ordinal);
        Assert.Equal(1, requests());
        Assert.False(Directory.Exists(Path.Combine(_folder, digest["sha256:".Length..], "root")));

        // With an honest store beside it, the right bytes are found and run.
        var (honest, _) = await StorageAsync(new() { ["sha256:" + Sha(initrd)] = initrd });
        var ready = await Cache(new Sources([image], url, honest)).PrepareAsync("builtin/hello", kernel: false, new HashSet<string>(), CancellationToken.None);
        Assert.Equal("#!/bin/sh\necho hello\n", await File.ReadAllTextAsync(ready.Binary));
    }

    [Fact]
    public async Task A_manifest_signed_by_another_clusters_CA_is_refused_before_anything_is_fetched()
    {
        using var other = ClusterPki.Create("lab", DateTimeOffset.UtcNow);
        var (initrd, kernel) = (Initrd("hello"), "kernel"u8.ToArray());
        var (image, digest) = Signed("hello", "1.0", initrd, kernel, other);
        var (url, requests) = await StorageAsync(new() { ["sha256:" + Sha(initrd)] = initrd });
        var refused = await Assert.ThrowsAsync<ImageRefusedException>(() => Cache(new Sources([image], url)).PrepareAsync("builtin/hello", kernel: false, new HashSet<string>(), CancellationToken.None));
        Assert.StartsWith($"image hello@{digest}: signed by", refused.Message, StringComparison.Ordinal);
        Assert.Contains("does not chain to this cluster's root", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, requests());

        // An unsigned one, and one whose manifest was altered after signing, likewise.
        var unsigned = image with { Versions = [image.Versions[0] with { Signature = "" }] };
        Assert.Contains("is not signed", (await Assert.ThrowsAsync<ImageRefusedException>(() => Cache(new Sources([unsigned], url)).PrepareAsync("builtin/hello", kernel: false, new HashSet<string>(), CancellationToken.None))).Message, StringComparison.Ordinal);
        var (ours, _) = Signed("hello", "1.0", initrd, kernel, _pki);
        var text = ours.Versions[0].Manifest.Replace("1.0", "6.6", StringComparison.Ordinal);
        var newDigest = ImageManifest.DigestOf(Encoding.UTF8.GetBytes(text));
        var altered = new ImageDto("hello", newDigest, [ours.Versions[0] with { Manifest = text, Digest = newDigest }]);
        Assert.Contains("altered", (await Assert.ThrowsAsync<ImageRefusedException>(() => Cache(new Sources([altered], url)).PrepareAsync("builtin/hello", kernel: false, new HashSet<string>(), CancellationToken.None))).Message, StringComparison.Ordinal);
        Assert.Equal(0, requests());
    }

    [Fact]
    public async Task The_least_recently_used_image_no_instance_uses_makes_room()
    {
        var kernel = "kernel"u8.ToArray();
        var a = Initrd("a");
        var b = Initrd("b");
        var c = Initrd("c");
        var (ia, da) = Signed("a", "1", a, kernel, _pki);
        var (ib, db) = Signed("b", "1", b, kernel, _pki);
        var (ic, _) = Signed("c", "1", c, kernel, _pki);
        var (url, _) = await StorageAsync(new() { ["sha256:" + Sha(a)] = a, ["sha256:" + Sha(b)] = b, ["sha256:" + Sha(c)] = c });
        var cache = Cache(new Sources([ia, ib, ic], url));
        await cache.PrepareAsync("builtin/a", false, new HashSet<string>(), CancellationToken.None);
        await Task.Delay(50);
        await cache.PrepareAsync("builtin/b", false, new HashSet<string>(), CancellationToken.None);
        await Task.Delay(50);

        // Room for these two and not for the next one's allowance (four times its initrd) as well.
        var held = new DirectoryInfo(_folder).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
        var tight = Cache(new Sources([ia, ib, ic], url), capacity: held + (c.Length * 4) - 1);
        // a is in use: b goes although it is newer.
        await tight.PrepareAsync("builtin/c", false, new HashSet<string> { da }, CancellationToken.None);
        Assert.True(Directory.Exists(Path.Combine(_folder, da[7..])));
        Assert.False(Directory.Exists(Path.Combine(_folder, db[7..])));
    }

    [Fact]
    public void An_initrd_with_a_path_out_of_its_folder_is_refused()
    {
        // Written by hand: our writer refuses such a name.
        using var cpio = new MemoryStream();
        foreach (var (name, data) in new[] { ("init", new byte[] { 1 }), ("../../escape", [2]), ("TRAILER!!!", []) })
        {
            var nameBytes = Encoding.ASCII.GetBytes(name + "\0");
            var header = $"070701{0:X8}{0x81ED:X8}{0:X8}{0:X8}{1:X8}{0:X8}{data.Length:X8}{0:X8}{0:X8}{0:X8}{0:X8}{nameBytes.Length:X8}{0:X8}";
            cpio.Write(Encoding.ASCII.GetBytes(header));
            cpio.Write(nameBytes);
            cpio.Write(new byte[(4 - ((110 + nameBytes.Length) % 4)) % 4]);
            cpio.Write(data);
            cpio.Write(new byte[(4 - (data.Length % 4)) % 4]);
        }

        using var gz = new MemoryStream();
        using (var z = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
        {
            z.Write(cpio.ToArray());
        }

        gz.Position = 0;
        var error = Assert.Throws<InvalidDataException>(() => InitrdReader.Unpack(gz, Path.Combine(_folder, "x"), 1 << 20));
        Assert.Contains("\"../../escape\"", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_folder, "..", "escape")));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var app in _servers)
        {
            await app.DisposeAsync();
        }

        _pki.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}
