namespace ZeroCloud.Node.Runtime;

/// <summary>
/// Where an image's binary is on this node: an explicit <c>--image name=path</c>, else <c>zc-&lt;name&gt;</c> (an executable)
/// or <c>zc-&lt;name&gt;.dll</c> (run with dotnet) for <c>builtin/&lt;name&gt;</c> in the image folders (by default the
/// folder of zc-node itself: the node image ships the service binaries beside it).
/// </summary>
internal sealed class Images(IReadOnlyDictionary<string, string> explicitPaths, IReadOnlyList<string> folders)
{
    /// <summary>The command line that runs the image, or null with why not.</summary>
    public (string File, string[] Prefix)? Resolve(string image, out string? problem)
    {
        problem = null;
        if (explicitPaths.TryGetValue(image, out var path))
        {
            return Command(path);
        }

        const string builtin = "builtin/";
        if (image.StartsWith(builtin, StringComparison.Ordinal))
        {
            var name = "zc-" + image[builtin.Length..];
            foreach (var folder in folders)
            {
                var exe = Path.Combine(folder, name);
                if (File.Exists(exe))
                {
                    return Command(exe);
                }

                if (File.Exists(exe + ".dll"))
                {
                    return Command(exe + ".dll");
                }
            }
        }

        problem = $"image {image}: no binary on this node (looked for {(image.StartsWith(builtin, StringComparison.Ordinal) ? $"zc-{image[builtin.Length..]}[.dll] in {string.Join(", ", folders)}" : "an --image mapping")})";
        return null;
    }

    private static (string, string[]) Command(string path) =>
        path.EndsWith(".dll", StringComparison.Ordinal) ? ("dotnet", [path]) : (path, []);
}
