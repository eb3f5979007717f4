using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace ZeroCloud.Boot;

/// <summary>
/// An image's OCI form (image-spec 1.0 layout: <c>oci-layout</c>, <c>index.json</c>, <c>blobs/sha256/…</c>), written
/// from the same entries as its initramfs: one uncompressed layer holding the binary as <c>/init</c>, its libraries and
/// the files it carries, without what only a machine needs (kernel modules, their load order, device nodes: a
/// container runtime gives those). <c>FROM scratch</c>, entrypoint <c>/init</c> with <c>ZC_RUNTIME=container</c>, so
/// the binary runs as a process with the container's arguments, not as a machine's init. Reproducible: entries in
/// path order, every time stamp the epoch, owner root, no creation date in the configuration; the same inputs give
/// the same digest.
/// </summary>
public static class OciImage
{
    /// <summary>The folder of an image's OCI layout, beside vmlinuz and initrd.img.</summary>
    public const string Folder = "oci";

    public const string ManifestMediaType = "application/vnd.oci.image.manifest.v1+json";
    public const string ConfigMediaType = "application/vnd.oci.image.config.v1+json";
    public const string LayerMediaType = "application/vnd.oci.image.layer.v1.tar";

    /// <summary>Whether an initramfs entry belongs in the container image.</summary>
    public static bool Carries(CpioEntry entry) =>
        entry.Kind is not CpioKind.CharDevice
        && !entry.Path.StartsWith("lib/modules/", StringComparison.Ordinal)
        && entry.Path is not ("lib/modules" or "etc/zc/modules" or "dev");

    /// <summary>
    /// Writes the OCI layout of <paramref name="entries"/> to <paramref name="directory"/> (replacing what is there) and
    /// returns the image manifest's digest (<c>sha256:…</c>: what <c>podman images --digests</c> shows and a registry
    /// pulls by). Its <c>org.opencontainers.image.ref.name</c> is <paramref name="tag"/>.
    /// </summary>
    public static string Write(IEnumerable<CpioEntry> entries, string name, string version, string tag, string directory)
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }

        var blobs = Path.Combine(directory, "blobs", "sha256");
        Directory.CreateDirectory(blobs);

        var layer = Layer(entries.Where(Carries));
        var layerDigest = Blob(blobs, layer);

        var config = Json(w =>
        {
            w.WriteString("architecture", "amd64");
            w.WriteString("os", "linux");
            w.WriteStartObject("config");
            w.WriteStartArray("Entrypoint");
            w.WriteStringValue("/init");
            w.WriteEndArray();
            w.WriteStartArray("Env");
            w.WriteStringValue("ZC_RUNTIME=container");
            w.WriteStringValue("PATH=/usr/sbin:/usr/bin:/sbin:/bin");
            w.WriteEndArray();
            w.WriteStartObject("Labels");
            w.WriteString("org.opencontainers.image.title", $"zerocloud/{name}");
            w.WriteString("org.opencontainers.image.version", version);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartObject("rootfs");
            w.WriteString("type", "layers");
            w.WriteStartArray("diff_ids");
            w.WriteStringValue(layerDigest);
            w.WriteEndArray();
            w.WriteEndObject();
        });
        var configDigest = Blob(blobs, config);

        var manifest = Json(w =>
        {
            w.WriteNumber("schemaVersion", 2);
            w.WriteString("mediaType", ManifestMediaType);
            Descriptor(w, "config", ConfigMediaType, configDigest, config.Length);
            w.WriteStartArray("layers");
            Descriptor(w, null, LayerMediaType, layerDigest, layer.Length);
            w.WriteEndArray();
            w.WriteStartObject("annotations");
            w.WriteString("org.opencontainers.image.title", $"zerocloud/{name}");
            w.WriteString("org.opencontainers.image.version", version);
            w.WriteEndObject();
        });
        var manifestDigest = Blob(blobs, manifest);

        File.WriteAllBytes(Path.Combine(directory, "index.json"), Json(w =>
        {
            w.WriteNumber("schemaVersion", 2);
            w.WriteString("mediaType", "application/vnd.oci.image.index.v1+json");
            w.WriteStartArray("manifests");
            w.WriteStartObject();
            w.WriteString("mediaType", ManifestMediaType);
            w.WriteString("digest", manifestDigest);
            w.WriteNumber("size", manifest.Length);
            w.WriteStartObject("annotations");
            w.WriteString("org.opencontainers.image.ref.name", tag);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndArray();
        }));
        File.WriteAllText(Path.Combine(directory, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        return manifestDigest;
    }

    /// <summary>A tag for <paramref name="version"/>: Docker's tag alphabet (<c>[A-Za-z0-9_.-]</c>, at most 128), every other character as '-'.</summary>
    public static string Tag(string version)
    {
        var tag = new StringBuilder(version.Length);
        foreach (var c in version)
        {
            tag.Append(char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-' ? c : '-');
        }

        var text = tag.ToString().TrimStart('.', '-');
        return text.Length == 0 ? "latest" : text[..Math.Min(text.Length, 128)];
    }

    private static byte[] Layer(IEnumerable<CpioEntry> entries)
    {
        using var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Ustar, leaveOpen: true))
        {
            foreach (var entry in entries.OrderBy(e => e.Path, StringComparer.Ordinal))
            {
                UstarTarEntry item = entry.Kind switch
                {
                    CpioKind.Directory => new(TarEntryType.Directory, entry.Path + "/"),
                    CpioKind.Symlink => new(TarEntryType.SymbolicLink, entry.Path) { LinkName = Encoding.UTF8.GetString(entry.Data) },
                    CpioKind.File => new(TarEntryType.RegularFile, entry.Path) { DataStream = new MemoryStream(entry.Data, writable: false) },
                    _ => throw new InvalidDataException($"{entry.Path}: a {entry.Kind} has no place in a container image"),
                };
                item.Mode = (UnixFileMode)entry.Mode;
                item.ModificationTime = DateTimeOffset.UnixEpoch;
                item.Uid = 0;
                item.Gid = 0;
                item.UserName = "";
                item.GroupName = "";
                writer.WriteEntry(item);
            }
        }

        return tar.ToArray();
    }

    private static string Blob(string blobs, byte[] bytes)
    {
        var hex = Convert.ToHexStringLower(SHA256.HashData(bytes));
        File.WriteAllBytes(Path.Combine(blobs, hex), bytes);
        return "sha256:" + hex;
    }

    private static void Descriptor(Utf8JsonWriter w, string? property, string mediaType, string digest, long size)
    {
        if (property is null)
        {
            w.WriteStartObject();
        }
        else
        {
            w.WriteStartObject(property);
        }

        w.WriteString("mediaType", mediaType);
        w.WriteString("digest", digest);
        w.WriteNumber("size", size);
        w.WriteEndObject();
    }

    private static byte[] Json(Action<Utf8JsonWriter> body)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }

        return stream.ToArray();
    }
}
