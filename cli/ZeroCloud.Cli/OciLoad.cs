using System.Formats.Tar;
using System.Text.Json;
using System.Text.RegularExpressions;
using ZeroCloud.Boot;

namespace ZeroCloud.Cli;

/// <summary>
/// <c>zc image load &lt;name&gt;</c>: puts an image's OCI layout (<c>zc image build &lt;name&gt; --oci</c>) into the local
/// podman or Docker store as <c>zerocloud/&lt;name&gt;:&lt;version&gt;</c>, through the engine's own <c>load</c> of an
/// oci-archive (no registry: none may be reachable).
/// </summary>
internal static partial class OciLoad
{
    public static async Task<int> RunAsync(string name, string output, string? engine, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var folder = Path.Combine(output, "images", name);
        var layout = Path.Combine(folder, OciImage.Folder);
        var manifestFile = Path.Combine(folder, "manifest.json");
        if (!File.Exists(Path.Combine(layout, "index.json")) || !File.Exists(manifestFile))
        {
            stderr.WriteLine($"zc: {layout} holds no OCI image layout: build it with ./zc image build {name} --oci");
            return ZcCommand.Failed;
        }

        var manifest = JsonSerializer.Deserialize(await File.ReadAllTextAsync(manifestFile, ct).ConfigureAwait(false), ZeroCloud.Model.Images.ImageJsonContext.Default.ImageManifest);
        if (manifest?.Oci is not { } digest)
        {
            stderr.WriteLine($"zc: {manifestFile} records no OCI image (built without --oci): build it with ./zc image build {name} --oci");
            return ZcCommand.Failed;
        }

        engine ??= OnPath("podman") ? "podman" : OnPath("docker") ? "docker" : null;
        if (engine is null)
        {
            stderr.WriteLine("zc: neither podman nor docker is on PATH (apt-get install podman, or name one with --engine)");
            return ZcCommand.Failed;
        }

        var archive = Path.Combine(Path.GetTempPath(), $"zc-oci-{name}-{Environment.ProcessId}.tar");
        try
        {
            await TarFile.CreateFromDirectoryAsync(layout, archive, includeBaseDirectory: false, ct).ConfigureAwait(false);
            var (code, said) = await ZeroCloud.Lab.Processes.RunAsync(engine, ["load", "-i", archive], ct: ct).ConfigureAwait(false);
            if (code != 0)
            {
                stderr.WriteLine($"zc: {engine} load -i {archive} failed (exit {code}): {said.Trim()}");
                return ZcCommand.Failed;
            }

            // podman names what it loaded "Loaded image: …" (its ID when the archive has no name it takes), Docker
            // "Loaded image ID: …" or "Loaded image: …".
            var loaded = LoadedPattern().Matches(said).Select(m => m.Groups[1].Value.Trim()).LastOrDefault();
            if (loaded is null)
            {
                stderr.WriteLine($"zc: {engine} load did not say what it loaded: {said.Trim()}");
                return ZcCommand.Failed;
            }

            var tag = $"zerocloud/{name}:{OciImage.Tag(manifest.Version)}";
            (code, said) = await ZeroCloud.Lab.Processes.RunAsync(engine, ["tag", loaded, tag], ct: ct).ConfigureAwait(false);
            if (code != 0)
            {
                stderr.WriteLine($"zc: {engine} tag {loaded} {tag} failed (exit {code}): {said.Trim()}");
                return ZcCommand.Failed;
            }

            // The name the engine made from the layout's ref.name (podman: localhost/<version>:latest) goes: the image is
            // known as zerocloud/<name>:<version> only, and removing that tag removes it.
            if (loaded != tag && !loaded.StartsWith("sha256:", StringComparison.Ordinal) && loaded.Contains(':', StringComparison.Ordinal))
            {
                (code, said) = await ZeroCloud.Lab.Processes.RunAsync(engine, engine == "podman" ? ["untag", loaded, loaded] : ["rmi", loaded], ct: ct).ConfigureAwait(false);
                if (code != 0)
                {
                    stderr.WriteLine($"zc: warning: {engine} kept the name {loaded} beside {tag}: {said.Trim()}");
                }
            }

            stdout.WriteLine($"{tag}: loaded into {engine} ({digest})");
            return ZcCommand.Ok;
        }
        finally
        {
            File.Delete(archive);
        }
    }

    [GeneratedRegex(@"Loaded image(?: ID)?:\s*(\S+)")]
    private static partial Regex LoadedPattern();

    /// <summary>Whether <paramref name="program"/> is in a folder of PATH.</summary>
    internal static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Any(dir => File.Exists(Path.Combine(dir, program)));
}
