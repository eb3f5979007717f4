using ZeroCloud.Model.Api;

namespace ZeroCloud.Model.Images;

/// <summary>
/// Which versions of an image the catalogue keeps, pure: the current one; the one before it (a rollback); any a placed
/// instance pins; and a retired one until <c>grace</c> after it was retired. What it drops is collected from the store.
/// </summary>
public static class ImageRetention
{
    /// <summary>
    /// The image after <paramref name="pushed"/> becomes its current version (again, when the catalogue has it: its
    /// signature and time are the new ones), and the versions no longer kept.
    /// </summary>
    public static (ImageDto Image, IReadOnlyList<ImageVersionDto> Dropped) Push(ImageDto? existing, string name, ImageVersionDto pushed, IReadOnlySet<string> used, DateTime now, TimeSpan grace)
    {
        var versions = new List<ImageVersionDto>();
        foreach (var v in existing?.Versions ?? [])
        {
            if (v.Digest == pushed.Digest)
            {
                continue;
            }

            versions.Add(v.Retired is null ? v with { Retired = now } : v);
        }

        versions.Add(pushed with { Retired = null });
        return Prune(new ImageDto(name, pushed.Digest, versions), used, now, grace);
    }

    /// <summary>The versions kept and dropped at <paramref name="now"/>.</summary>
    public static (ImageDto Image, IReadOnlyList<ImageVersionDto> Dropped) Prune(ImageDto image, IReadOnlySet<string> used, DateTime now, TimeSpan grace)
    {
        // The one retired last is the rollback target.
        var previous = image.Versions.Where(v => v.Digest != image.Current && v.Retired is not null).OrderByDescending(v => v.Retired).FirstOrDefault()?.Digest;
        var kept = new List<ImageVersionDto>();
        var dropped = new List<ImageVersionDto>();
        foreach (var v in image.Versions)
        {
            var keep = v.Digest == image.Current || v.Digest == previous || used.Contains(v.Digest) || v.Retired is null || !WallClock.Expired(v.Retired.Value + grace, now);
            (keep ? kept : dropped).Add(v);
        }

        return (image with { Versions = kept }, dropped);
    }
}
