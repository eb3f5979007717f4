using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using ZeroCloud.Cluster.Store;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Images;
using ZeroCloud.Model.Pki;
using static ZeroCloud.Cluster.Api.ApiResults;

namespace ZeroCloud.Cluster.Api;

/// <summary>
/// The image catalogue (<c>zc image push|ls</c>): an admin pushes a manifest whose files are already objects of the
/// store; the member that takes the write (the leader) checks that the store holds each file with the manifest's size and
/// digest, signs the manifest's exact bytes with an image signer certificate of the cluster's CA, and makes it the
/// image's current version. Nodes and operators read the catalogue; nothing is run from it unverified.
/// </summary>
public sealed partial class ControlApi
{
    /// <summary>How long a retired version no service uses is kept after the one after it (a rollback needs the one before the current only).</summary>
    public static readonly TimeSpan ImageGrace = TimeSpan.FromHours(1);

    private X509Certificate2? _imageSigner;

    private async Task PushImageAsync(HttpContext ctx)
    {
        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        var request = Parse(ctx, body, ControlJsonContext.Default.PushImageRequest, out var error);
        if (request?.Manifest is not { Length: > 0 } text)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidJson, error ?? "manifest: missing").ConfigureAwait(false);
            return;
        }

        var bytes = Encoding.UTF8.GetBytes(text);
        if (ImageManifest.Parse(bytes, out var problem) is not { } manifest)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, problem!).ConfigureAwait(false);
            return;
        }

        if (_services.GetService<MemberTls>() is not { Pki: { } pki })
        {
            await ErrorAsync(ctx, 503, ErrorCodes.NotFound, "this member has no cluster CA, so it cannot sign an image; ask another member").ConfigureAwait(false);
            return;
        }

        var digest = ImageManifest.DigestOf(bytes);
        // Every file must be in the store under the image's object names, with the manifest's size and digest.
        foreach (var file in manifest.Files)
        {
            var objectKey = StoreKeys.StorageObject(ImageObjects.Name(manifest.Name, digest, file.Name));
            var kv = _node.Read(s => s.Get(objectKey));
            var stored = kv is null ? null : TypedValues.Read(objectKey, kv.Value, ControlJsonContext.Default.StorageObjectDto, new List<string>());
            if (stored is null || stored.Digest != "sha256:" + file.Sha256 || stored.Size != file.Size)
            {
                await ErrorAsync(ctx, 409, ErrorCodes.UploadIncomplete, stored is null
                    ? $"image {manifest.Name}: {file.Name} is not in the store as {ImageObjects.Name(manifest.Name, digest, file.Name)} (zc image push uploads it first)"
                    : $"image {manifest.Name}: the store's {ImageObjects.Name(manifest.Name, digest, file.Name)} is {stored.Digest} ({stored.Size} bytes), the manifest says sha256:{file.Sha256} ({file.Size} bytes)").ConfigureAwait(false);
                return;
            }
        }

        var now = DateTime.UtcNow;
        var signer = _imageSigner ??= pki.IssueImageSigner(_node.Options.Name is { Length: > 0 } member ? member : "member", now);
        var signature = Convert.ToBase64String(ImageSigning.Sign(bytes, signer, pki.Issuing, now));
        var key = StoreKeys.Image(manifest.Name);
        var old = _node.Read(s => s.Get(key));
        var existing = old is null ? null : TypedValues.Read(key, old.Value, ControlJsonContext.Default.ImageDto, new List<string>());
        var used = UsedImageDigests();
        var (image, dropped) = ImageRetention.Push(existing, manifest.Name, new ImageVersionDto(digest, manifest.Version, text, signature, now), used, now, ImageGrace);
        var (auditKey, auditValue) = Audit.Entry(Who(ctx), Audit.ImagePushed, manifest.Name, $"{manifest.Version} {digest}{(dropped.Count > 0 ? $"; dropped {string.Join(", ", dropped.Select(d => d.Digest))}" : "")}");
        var puts = new List<PutOp> { new(key, JsonSerializer.SerializeToUtf8Bytes(image, ControlJsonContext.Default.ImageDto)), new(auditKey, Encoding.UTF8.GetBytes(auditValue)) };
        // A dropped version's files are no longer named: the store collects their blobs after its own grace period.
        var deletes = dropped.SelectMany(d => _node.Read(s => s.Range(StoreKeys.StorageObject(ImageObjects.Prefix(manifest.Name, d.Digest)), 0)).Select(kv => new DeleteOp(kv.Key))).ToList();
        var txn = new KvTxn([new Compare(key, CompareTarget.ModRevision, CompareOp.Equal, old?.ModRevision ?? 0)], [.. puts, .. deletes], []);
        var result = await CommitAsync(ctx, txn).ConfigureAwait(false);
        if (result is null)
        {
            return;
        }

        if (!result.Succeeded)
        {
            await ErrorAsync(ctx, 409, ErrorCodes.RevisionMismatch, $"image {manifest.Name} changed while it was being pushed; push it again").ConfigureAwait(false);
            return;
        }

        var replaced = existing?.Current is { } previous && previous != digest ? previous : null;
        await JsonAsync(ctx, 200, new PushImageResponse(manifest.Name, digest, manifest.Version, replaced), ControlJsonContext.Default.PushImageResponse).ConfigureAwait(false);
    }

    /// <summary>The image digests placed instances name (pinned as &lt;name&gt;@sha256:… or sha256:…): never dropped.</summary>
    private HashSet<string> UsedImageDigests()
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var kv in _node.Read(s => s.Range(StoreKeys.Instances, 0)))
        {
            var instance = TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.InstanceDto, new List<string>());
            if (instance is not null && ImageReference.Parse(instance.Image) is { Digest: { } d })
            {
                used.Add(d);
            }
        }

        return used;
    }

    private async Task ImagesAsync(HttpContext ctx)
    {
        if (!IsTrue(ctx.Request.Query["stale"]) && !await BarrierAsync(ctx).ConfigureAwait(false))
        {
            return;
        }

        var skipped = new List<string>();
        var images = _node.Read(s => s.Range(StoreKeys.Images, 0))
            .Select(kv => TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.ImageDto, skipped))
            .OfType<ImageDto>()
            .ToList();
        ReportSkipped(skipped);
        await JsonAsync(ctx, 200, new ImagesResponse(images), ControlJsonContext.Default.ImagesResponse).ConfigureAwait(false);
    }

    private async Task ImageAsync(HttpContext ctx, string name)
    {
        if (Inputs.Name(name, "the image's name") is { } invalid)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidName, invalid).ConfigureAwait(false);
            return;
        }

        if (!IsTrue(ctx.Request.Query["stale"]) && !await BarrierAsync(ctx).ConfigureAwait(false))
        {
            return;
        }

        var key = StoreKeys.Image(name);
        var kv = _node.Read(s => s.Get(key));
        var skipped = new List<string>();
        var image = kv is null ? null : TypedValues.Read(key, kv.Value, ControlJsonContext.Default.ImageDto, skipped);
        ReportSkipped(skipped);
        if (image is null)
        {
            await ErrorAsync(ctx, 404, ErrorCodes.NotFound, $"no image {name} in the catalogue (zc image push {name})").ConfigureAwait(false);
            return;
        }

        await JsonAsync(ctx, 200, image, ControlJsonContext.Default.ImageDto).ConfigureAwait(false);
    }
}
