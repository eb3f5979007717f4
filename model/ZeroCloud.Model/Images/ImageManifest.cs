using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ZeroCloud.Model.Images;

public sealed record ImageFileInfo(string Name, long Size, string Sha256);

/// <summary>
/// manifest.json beside vmlinuz and initrd.img (<c>zc image build</c>): the image's name and version, the kernel release,
/// the default command line, and the size and SHA-256 of each file. Its exact bytes are what the cluster signs
/// (<see cref="Pki.ImageSigning"/>), and their SHA-256 is the image's digest.
/// </summary>
public sealed record ImageManifest(
    string Name,
    string Version,
    string Kernel,
    string CommandLine,
    IReadOnlyList<ImageFileInfo> Files,
    IReadOnlyList<string> Modules,
    IReadOnlyList<string> Libraries,
    long BinarySize,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Oci = null)
{
    /// <summary>The file an image's binary runs from as a process, and boots from as a VM (with the kernel).</summary>
    public const string Initrd = "initrd.img";

    /// <summary>The kernel a VM boots.</summary>
    public const string Vmlinuz = "vmlinuz";

    /// <summary>An image's digest: <c>sha256:</c> and the SHA-256 of its manifest's bytes.</summary>
    public static string DigestOf(ReadOnlySpan<byte> manifest) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(manifest));

    /// <summary>The manifest in <paramref name="bytes"/>; null with what is wrong when they are not one (a name, files with sizes and SHA-256s).</summary>
    public static ImageManifest? Parse(ReadOnlySpan<byte> bytes, out string? problem)
    {
        ImageManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize(bytes, ImageJsonContext.Default.ImageManifest);
        }
        catch (JsonException ex)
        {
            problem = $"the manifest is not valid JSON: {ex.Message}";
            return null;
        }

        problem = manifest switch
        {
            null => "the manifest is empty",
            { Name: var n } when ZeroCloud.Model.Api.Inputs.Name(n, "the manifest's name") is { } bad => bad,
            { Files: null or { Count: 0 } } => "the manifest lists no files",
            _ => manifest.Files.Select(FileProblem).OfType<string>().FirstOrDefault(),
        };
        return problem is null ? manifest : null;
    }

    private static string? FileProblem(ImageFileInfo f) =>
        f.Name is not (Initrd or Vmlinuz) ? $"the manifest lists a file \"{f.Name}\": an image has {Vmlinuz} and {Initrd}"
        : f.Size < 0 ? $"the manifest gives {f.Name} a negative size"
        : ZeroCloud.Model.Api.Inputs.Digest("sha256:" + f.Sha256) is not null ? $"the manifest gives {f.Name} the SHA-256 \"{f.Sha256}\", not 64 lower-case hex digits"
        : null;

    /// <summary>The file named <paramref name="name"/>; null when the manifest has none.</summary>
    public ImageFileInfo? File(string name) => Files.FirstOrDefault(f => f.Name == name);
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ImageManifest))]
public sealed partial class ImageJsonContext : JsonSerializerContext;
