using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace ZeroCloud.Cli;

/// <summary>
/// ZeroCloud's minimal guest kernel for service microVMs (<c>zc image build &lt;name&gt; --minimal-kernel</c>): the
/// distro's kernel source (<see cref="SourceTarball"/>, Debian's linux-source-6.1) configured with
/// <c>make allnoconfig KCONFIG_ALLCONFIG=boot/kernel/minimal.config</c>, every line of that file checked in the result,
/// and built as <c>vmlinux</c> (booted through PVH, so never compressed). Built once: the result is kept under
/// <see cref="CacheRoot"/> by the SHA-256 of the configuration and of the source tarball, and later builds of any
/// image reuse it. Minutes of compiling, so never in a hot path and never in CI (a clean clone has no cache); without
/// it images keep the distro kernel.
/// </summary>
internal static class MinimalKernel
{
    public const string SourceTarball = "/usr/src/linux-source-6.1.tar.xz";

    /// <summary>The configuration in the repository.</summary>
    public static string ConfigFile(string repo) => Path.Combine(repo, "boot", "kernel", "minimal.config");

    /// <summary>$ZC_KERNEL_CACHE, else $XDG_CACHE_HOME/zerocloud/kernel, else ~/.cache/zerocloud/kernel.</summary>
    public static string CacheRoot =>
        Environment.GetEnvironmentVariable("ZC_KERNEL_CACHE") is { Length: > 0 } set ? set
        : Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "zerocloud", "kernel");

    /// <summary>What a build needs on this machine beyond gcc and make (scripts/setup-kernel installs them).</summary>
    public static readonly IReadOnlyList<(string Path, string Package)> Needs =
    [
        (SourceTarball, "linux-source-6.1"),
        ("/usr/bin/flex", "flex"),
        ("/usr/bin/bison", "bison"),
        ("/usr/bin/bc", "bc"),
        ("/usr/include/libelf.h", "libelf-dev"),
        ("/usr/bin/make", "make"),
        ("/usr/bin/gcc", "gcc"),
    ];

    /// <summary>The lines of the configuration that set an option (comments and blank lines left out).</summary>
    public static IReadOnlyList<string> Options(string config) =>
        [.. config.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#'))];

    /// <summary>The options of <paramref name="wanted"/> that the resulting <paramref name="dotConfig"/> does not hold as written.</summary>
    public static IReadOnlyList<string> NotHeld(string wanted, string dotConfig)
    {
        var held = dotConfig.Split('\n').Select(l => l.Trim()).ToHashSet(StringComparer.Ordinal);
        return [.. Options(wanted).Where(o => !held.Contains(o))];
    }

    /// <summary>The cache key: the configuration's bytes and the tarball's SHA-256.</summary>
    public static string Key(byte[] config, string tarball)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(config);
        using (var stream = File.OpenRead(tarball))
        {
            sha.AppendData(SHA256.HashData(stream));
        }

        return Convert.ToHexStringLower(sha.GetHashAndReset())[..16];
    }

    /// <summary>
    /// The minimal kernel's vmlinux and its release, built first when the cache lacks it (minutes; progress to
    /// <paramref name="progress"/>). Throws <see cref="InvalidOperationException"/> saying what is missing or what failed.
    /// </summary>
    public static (string Vmlinux, string Release) Get(string repo, TextWriter progress)
    {
        if (Needs.Where(n => !File.Exists(n.Path)).ToList() is { Count: > 0 } missing)
        {
            throw new InvalidOperationException($"the minimal kernel is built from the distro's kernel source, and this machine lacks {string.Join(", ", missing.Select(m => m.Path))}: run scripts/setup-kernel (apt-get install {string.Join(' ', missing.Select(m => m.Package).Distinct())})");
        }

        var configFile = ConfigFile(repo);
        var config = File.ReadAllBytes(configFile);
        var key = Key(config, SourceTarball);
        var folder = Path.Combine(CacheRoot, key);
        var vmlinux = Path.Combine(folder, "vmlinux");
        var releaseFile = Path.Combine(folder, "release");
        if (File.Exists(vmlinux) && File.Exists(releaseFile))
        {
            progress.WriteLine($"zc: the minimal kernel {File.ReadAllText(releaseFile).Trim()} from {folder} (built before)");
            return (vmlinux, File.ReadAllText(releaseFile).Trim());
        }

        var work = Path.Combine(CacheRoot, $"{key}.build");
        if (Directory.Exists(work))
        {
            Directory.Delete(work, recursive: true);
        }

        Directory.CreateDirectory(work);
        var clock = Stopwatch.StartNew();
        try
        {
            progress.WriteLine($"zc: building the minimal kernel from {SourceTarball} with {configFile} (once; about 6–15 minutes on 2 cores) in {work} ...");
            Run("tar", "xf", SourceTarball, "--strip-components=1", "-C", work);
            Run("make", "-C", work, "--no-print-directory", "allnoconfig", $"KCONFIG_ALLCONFIG={configFile}");
            if (NotHeld(Encoding.UTF8.GetString(config), File.ReadAllText(Path.Combine(work, ".config"))) is { Count: > 0 } notHeld)
            {
                throw new InvalidOperationException($"{configFile}: the kernel's configuration does not hold {string.Join(", ", notHeld)} (a dependency is off, or the option does not exist in this source): add what it depends on");
            }

            Run("make", "-C", work, "--no-print-directory", $"-j{Environment.ProcessorCount}", "vmlinux");
            var release = Run("make", "-C", work, "--no-print-directory", "-s", "kernelrelease").Trim();
            Directory.CreateDirectory(folder);
            File.Copy(Path.Combine(work, "vmlinux"), vmlinux + ".partial", overwrite: true);
            File.Copy(Path.Combine(work, ".config"), Path.Combine(folder, "config"), overwrite: true);
            File.WriteAllText(releaseFile, release + "\n");
            File.Move(vmlinux + ".partial", vmlinux, overwrite: true);
            progress.WriteLine($"zc: built the minimal kernel {release} in {clock.Elapsed.TotalMinutes:0.0} min: {vmlinux} ({new FileInfo(vmlinux).Length:N0} bytes)");
            return (vmlinux, release);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>Runs a build step to completion; its output when it succeeds, else the reason with the output's tail.</summary>
    private static string Run(string file, params string[] args)
    {
        var (code, output) = ZeroCloud.Lab.Processes.RunAsync(file, args).GetAwaiter().GetResult();
        if (code != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed with exit {code}:\n{string.Join('\n', output.Split('\n').TakeLast(30))}");
        }

        return output;
    }
}
