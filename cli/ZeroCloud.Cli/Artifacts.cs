namespace ZeroCloud.Cli;

/// <summary>
/// What <c>zc up</c> runs, built from this checkout into <c>.build/out</c> the first time and again whenever a source file
/// is newer: every image (<c>zc image build</c>: node, dhcp, netboot, storage, hello, control). The seed runs their binaries
/// from here (the only place a local folder is used) and pushes the images into the cluster's store once its storage
/// instance runs; every other server gets what it runs from the store.
/// </summary>
internal static class Artifacts
{
    /// <summary>The images the seed pushes, the node image first (netboot serves it), control last (the largest).</summary>
    public static readonly string[] ImageNames = ["node", "dhcp", "netboot", "storage", "hello", "control"];

    /// <summary>The images the seed's agent runs from this build (builtin/&lt;name&gt;).</summary>
    private static readonly string[] SeedImages = ["dhcp", "netboot", "storage", "hello", "control"];

    private static string Repo => ImageCommand.RepositoryRoot() ?? throw new InvalidOperationException("zc up runs from a ZeroCloud checkout (ZeroCloud.sln not found)");

    private static string BuildRoot => Path.Combine(Repo, ".build");

    /// <summary>Where the images are built: images/&lt;name&gt;/{vmlinuz,initrd.img,manifest.json}; what the seed's netboot serves until the store has the node image.</summary>
    public static string NetbootRoot => Path.Combine(BuildRoot, "out");

    /// <summary>An image's binary as published (the same bytes as its /init).</summary>
    public static string Binary(string image) => Path.Combine(NetbootRoot, ".publish", image, "zc-" + image);

    /// <summary>The NativeAOT zc-node of the node image: the seed's agent, and the virtual servers' firmware.</summary>
    public static string NodeBinary => Binary("node");

    /// <summary>An image's folder in the build.</summary>
    public static string ImageFolder(string image) => Path.Combine(NetbootRoot, "images", image);

    /// <summary>How to run this zc again (dotnet + zc.dll, or the executable).</summary>
    public static string[] SelfCommand()
    {
        var process = Environment.ProcessPath!;
        return Path.GetFileNameWithoutExtension(process) == "dotnet" ? [process, typeof(Artifacts).Assembly.Location] : [process];
    }

    /// <summary>The seed agent's <c>--image</c> mappings: each builtin image's binary in this build.</summary>
    public static string[] ImageMappings() => [.. SeedImages.SelectMany(name => (string[])["--image", $"builtin/{name}={Binary(name)}"])];

    public static Task<bool> EnsureAsync(TextWriter stdout, TextWriter stderr)
    {
        var newest = NewestSource();
        foreach (var name in ImageNames)
        {
            var manifest = Path.Combine(ImageFolder(name), "manifest.json");
            if (File.Exists(manifest) && File.Exists(Binary(name)) && File.GetLastWriteTimeUtc(manifest) >= newest)
            {
                continue;
            }

            stdout.WriteLine($"zc up: building the {name} image (zc image build {name}; {(name == "control" ? "a self-contained .NET app" : "NativeAOT")}, about a minute or two here) ...");
            if (ImageCommand.Run(name, NetbootRoot, null, stdout, stderr) != ZcCommand.Ok)
            {
                stderr.WriteLine($"zc up: building the {name} image failed");
                return Task.FromResult(false);
            }
        }

        return Task.FromResult(true);
    }

    /// <summary>The newest source file of the product (tests and benchmarks aside).</summary>
    internal static DateTime NewestSource()
    {
        var newest = DateTime.MinValue;
        // What the images are made of (the CLI runs from zc itself).
        foreach (var top in (string[])["boot", "cluster", "model", "netboot", "node", "storage"])
        {
            var dir = Path.Combine(Repo, top);
            if (!Directory.Exists(dir))
            {
                continue;
            }

            foreach (var file in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
            {
                if ((file.EndsWith(".cs", StringComparison.Ordinal) || file.EndsWith(".csproj", StringComparison.Ordinal))
                    && !file.Contains("/bin/", StringComparison.Ordinal) && !file.Contains("/obj/", StringComparison.Ordinal))
                {
                    var t = File.GetLastWriteTimeUtc(file);
                    newest = t > newest ? t : newest;
                }
            }
        }

        foreach (var f in (string[])["Directory.Build.props", "Directory.Packages.props"])
        {
            var path = Path.Combine(Repo, f);
            if (File.Exists(path) && File.GetLastWriteTimeUtc(path) > newest)
            {
                newest = File.GetLastWriteTimeUtc(path);
            }
        }

        return newest;
    }
}
