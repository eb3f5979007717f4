using System.Text.Json;
using System.Text.Json.Serialization;

namespace ZeroCloud.Model.Api;

/// <summary>
/// The operator's credentials file (kubeconfig's and talosconfig's place): which cluster, a member's API, and the
/// credential <c>zc</c> sends. <c>zc up</c> and a bootstrapped member write one (0600); <c>zc</c> reads it from
/// <c>--credentials</c>, <c>$ZC_CREDENTIALS</c>, or the lab <c>zc up</c> made.
/// </summary>
public sealed record CredentialsFile(string Cluster, string Server, string Credential, string Role, string? Ca = null)
{
    /// <summary>What to trust: the cluster's root in <see cref="Ca"/>; null when the file has none (a plain-HTTP server).</summary>
    public Pki.ClusterTrust? Trust() => Ca is { Length: > 0 } pem ? Pki.ClusterTrust.FromPem(pem) : null;

    /// <summary>Writes the file, 0600, as JSON.</summary>
    public void Write(string path) => SecretFile.Write(path, JsonSerializer.Serialize(this, CredentialsJsonContext.Default.CredentialsFile));

    /// <summary>Reads a credentials file; null with the reason (what and where) when it cannot be used.</summary>
    public static CredentialsFile? Read(string path, out string? problem)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            problem = $"credentials file {path}: {ex.Message}";
            return null;
        }

        try
        {
            var file = JsonSerializer.Deserialize(text, CredentialsJsonContext.Default.CredentialsFile);
            problem = file is null ? $"credentials file {path}: empty" : file.Problem() is { } p ? $"credentials file {path}: {p}" : null;
            return problem is null ? file : null;
        }
        catch (JsonException ex)
        {
            problem = $"credentials file {path}: not a ZeroCloud credentials file ({ex.Message})";
            return null;
        }
    }

    private string? Problem() =>
        string.IsNullOrWhiteSpace(Credential) ? "no credential"
        : !Uri.TryCreate(Server, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") ? $"server \"{Server}\" is not an http(s) URL"
        : uri.Scheme == "https" && string.IsNullOrWhiteSpace(Ca) ? "an https server and no \"ca\" (the cluster's root certificate) to verify it with"
        : null;
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(CredentialsFile))]
internal sealed partial class CredentialsJsonContext : JsonSerializerContext;
