namespace ZeroCloud.Node.Runtime;

/// <summary>
/// Where an image's binary is on this node: an explicit <c>--image name=path</c>, else <c>zc-&lt;name&gt;</c> (an executable)
/// or <c>zc-&lt;name&gt;.dll</c> (run with dotnet) for <c>builtin/&lt;name&gt;</c> in the image folders (by default the
/// folder of zc-node itself: the node image ships the service binaries beside it).
/// </summary>
internal sealed class Images(IReadOnlyDictionary<string, string> explicitPaths, IReadOnlyList<string> folders)
{
    /// <summary>The images this node has a binary for: the explicit mappings and builtin/&lt;name&gt; for every zc-&lt;name&gt;[.dll] in the folders.</summary>
    public IReadOnlyList<string> Available()
    {
        var names = new SortedSet<string>(explicitPaths.Keys, StringComparer.Ordinal);
        foreach (var folder in folders.Where(Directory.Exists))
        {
            foreach (var file in Directory.EnumerateFiles(folder, "zc-*"))
            {
                var name = Path.GetFileName(file);
                name = name.EndsWith(".dll", StringComparison.Ordinal) ? name[..^4] : name;
                if (name.Length > 3 && !name.Contains('.', StringComparison.Ordinal) && name != "zc-node")
                {
                    names.Add("builtin/" + name[3..]);
                }
            }
        }

        return [.. names];
    }

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
