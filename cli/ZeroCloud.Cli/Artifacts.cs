namespace ZeroCloud.Cli;

/// <summary>
/// The binaries <c>zc up</c> runs, built from this checkout into <c>.build/</c> the first time and again whenever a
/// source file is newer: the services (framework-dependent builds of hello, dhcp, netboot) and the node image
/// (<c>zc image build node</c>: its NativeAOT zc-node runs every node of the lab, and netboot serves the image).
/// </summary>
internal static class Artifacts
{
    private static readonly (string Name, string Project)[] Services =
    [
        ("hello", "node/ZeroCloud.Hello"),
        ("dhcp", "netboot/ZeroCloud.Dhcp.Service"),
        ("netboot", "netboot/ZeroCloud.Netboot.Service"),
        ("storage", "storage/ZeroCloud.Storage.Service"),
    ];

    private static string Repo => ImageCommand.RepositoryRoot() ?? throw new InvalidOperationException("zc up runs from a ZeroCloud checkout (ZeroCloud.sln not found)");

    private static string BuildRoot => Path.Combine(Repo, ".build");

    /// <summary>What netboot serves: images/node/{vmlinuz,initrd.img,manifest.json}.</summary>
    public static string NetbootRoot => Path.Combine(BuildRoot, "out");

    /// <summary>The NativeAOT zc-node of the node image.</summary>
    public static string NodeBinary => Path.Combine(NetbootRoot, ".publish", "node", "zc-node");

    private static string ServiceDll(string name) => Path.Combine(BuildRoot, "svc", name, $"zc-{name}.dll");

    /// <summary>How to run this zc again (dotnet + zc.dll, or the executable).</summary>
    public static string[] SelfCommand()
    {
        var process = Environment.ProcessPath!;
        return Path.GetFileNameWithoutExtension(process) == "dotnet" ? [process, typeof(Artifacts).Assembly.Location] : [process];
    }

    /// <summary>The agents' <c>--image</c> mappings: builtin/control is this zc.</summary>
    public static string[] ImageMappings()
    {
        var self = SelfCommand();
        var control = self.Length > 1 ? self[1] : self[0];
        return [.. Services.SelectMany(s => (string[])["--image", $"builtin/{s.Name}={ServiceDll(s.Name)}"]), "--image", $"builtin/control={control}"];
    }

    public static async Task<bool> EnsureAsync(TextWriter stdout, TextWriter stderr)
    {
        var newest = NewestSource();
        foreach (var (name, project) in Services)
        {
            var dll = ServiceDll(name);
            if (File.Exists(dll) && File.GetLastWriteTimeUtc(dll) >= newest)
            {
                continue;
            }

            stdout.WriteLine($"zc up: building zc-{name} ...");
            var (code, output) = await Lab.RunAsync("dotnet", ["build", Path.Combine(Repo, project), "-c", "Release", "-o", Path.GetDirectoryName(dll)!, "-nologo", "-v", "q", "-clp:NoSummary"]).ConfigureAwait(false);
            if (code != 0)
            {
                stderr.WriteLine(output);
                stderr.WriteLine($"zc up: building zc-{name} failed");
                return false;
            }

            File.SetLastWriteTimeUtc(dll, DateTime.UtcNow);
        }

        var manifest = Path.Combine(NetbootRoot, "images", "node", "manifest.json");
        if (!File.Exists(manifest) || !File.Exists(NodeBinary) || File.GetLastWriteTimeUtc(manifest) < newest)
        {
            stdout.WriteLine("zc up: building the node image (NativeAOT zc-node, once; about two minutes here) ...");
            if (ImageCommand.Run("node", NetbootRoot, null, stdout, stderr) != ZcCommand.Ok)
            {
                stderr.WriteLine("zc up: building the node image failed");
                return false;
            }
        }

        return true;
    }

    /// <summary>The newest source file of the product (tests and benchmarks aside).</summary>
    private static DateTime NewestSource()
    {
        var newest = DateTime.MinValue;
        // What the node image and the service builds are made of (the CLI and the control plane run from zc itself).
        foreach (var top in (string[])["boot", "model", "netboot", "node", "storage"])
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
