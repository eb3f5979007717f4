namespace ZeroCloud.Model.Api;

/// <summary>
/// One version of an image in the catalogue: its digest (the SHA-256 of its manifest's bytes), the version it was built
/// as, the manifest itself (exactly the bytes signed, as UTF-8 text), the cluster's signature over them (base64 DER
/// CMS), when it was pushed, and when it stopped being the current version (null while it is).
/// </summary>
public sealed record ImageVersionDto(string Digest, string Version, string Manifest, string Signature, DateTime Pushed, DateTime? Retired = null)
{
    /// <summary>The bytes the signature covers.</summary>
    public byte[] ManifestBytes() => System.Text.Encoding.UTF8.GetBytes(Manifest);
}

/// <summary>
/// An image of the catalogue (<c>/zc/images/&lt;name&gt;</c>): its name, the digest <c>builtin/&lt;name&gt;</c> runs
/// now, and the versions it keeps (the current one, the one before for a rollback, and any a service pins).
/// </summary>
public sealed record ImageDto(string Name, string Current, IReadOnlyList<ImageVersionDto> Versions)
{
    /// <summary>The version with <paramref name="digest"/>; null when the catalogue does not keep it.</summary>
    public ImageVersionDto? Version(string digest) => Versions.FirstOrDefault(v => v.Digest == digest);
}

/// <summary>POST /v1/images: a manifest whose files are in the store already (as objects <see cref="ImageObjects.Name"/>).</summary>
public sealed record PushImageRequest(string Manifest);

/// <summary>What a push recorded: the image, the digest now current, and the version it replaced (null when it is the first, or the same).</summary>
public sealed record PushImageResponse(string Name, string Digest, string Version, string? Replaced);

public sealed record ImagesResponse(IReadOnlyList<ImageDto> Images);

/// <summary>Where an image's files live in the store.</summary>
public static class ImageObjects
{
    /// <summary>The object that holds <paramref name="file"/> of the image version <paramref name="digest"/>: <c>images/&lt;name&gt;/&lt;hex&gt;/&lt;file&gt;</c>.</summary>
    public static string Name(string image, string digest, string file) => $"images/{image}/{digest["sha256:".Length..]}/{file}";

    /// <summary>The objects of one image version share this prefix.</summary>
    public static string Prefix(string image, string digest) => $"images/{image}/{digest["sha256:".Length..]}/";
}

/// <summary>
/// A reference to an image as a service names it: <c>builtin/&lt;name&gt;</c> (the catalogue's current version),
/// <c>&lt;name&gt;@sha256:&lt;hex&gt;</c> (that version, pinned), or <c>sha256:&lt;hex&gt;</c> (a version of any image).
/// </summary>
public readonly record struct ImageReference(string? Name, string? Digest)
{
    public static ImageReference? Parse(string image)
    {
        if (Inputs.Image(image) is not null)
        {
            return null;
        }

        if (image.StartsWith("builtin/", StringComparison.Ordinal))
        {
            return new ImageReference(image["builtin/".Length..], null);
        }

        var at = image.IndexOf('@', StringComparison.Ordinal);
        return at < 0 ? new ImageReference(null, image) : new ImageReference(image[..at], image[(at + 1)..]);
    }

    public override string ToString() => Digest is null ? $"builtin/{Name}" : Name is null ? Digest : $"{Name}@{Digest}";
}
