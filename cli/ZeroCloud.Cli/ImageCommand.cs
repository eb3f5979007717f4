using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using ZeroCloud.Boot;
using ZeroCloud.Model.Config;

namespace ZeroCloud.Cli;

/// <summary><c>zc image build &lt;name&gt;</c> and <c>zc image ls</c>: bootable images (kernel + initramfs with one binary as /init).</summary>
internal static class ImageCommand
{
    /// <summary>The images this repository can build, and the project whose NativeAOT binary becomes /init.</summary>
    private static readonly Dictionary<string, (string Project, string Binary)> Images = new(StringComparer.Ordinal)
    {
        ["node"] = ("node/ZeroCloud.Node", "zc-node"),
        ["dhcp"] = ("netboot/ZeroCloud.Dhcp.Service", "zc-dhcp"),
        ["netboot"] = ("netboot/ZeroCloud.Netboot.Service", "zc-netboot"),
        ["storage"] = ("storage/ZeroCloud.Storage.Service", "zc-storage"),
        ["hello"] = ("node/ZeroCloud.Hello", "zc-hello"),
        ["control"] = ("cluster/ZeroCloud.Control.Service", "zc-control"),
    };

    /// <summary>The names of the images this repository builds.</summary>
    public static IReadOnlyCollection<string> Names => Images.Keys;

    /// <summary>The iPXE binaries netboot serves, from Debian's ipxe package: the netboot image carries them (a booted node has no /usr/lib/ipxe).</summary>
    public static readonly string[] IpxeFiles = ["undionly.kpxe", "ipxe.efi", "snponly.efi"];


    /// <summary>Where the netboot image carries the iPXE binaries (its zc-netboot --ipxe-dir).</summary>
    public const string ImageIpxeDirectory = "usr/lib/ipxe";

    public const string DefaultCommandLine = "console=tty0 console=ttyS0,115200 panic=10";

    public static Command Build()
    {
        var image = new Command("image", "Build bootable images, push them to the cluster's store, list its catalogue.");
        var name = new Argument<string>("name") { Description = $"The image: {string.Join(", ", Images.Keys)}; or seed (with --oci: every image in one container image that starts a cluster, zc-node --seed)." };
        var output = new Option<string>("--out", "-o") { Description = "Output folder (images go to <out>/images/<name>).", DefaultValueFactory = _ => "out", HelpName = "dir" };
        var file = new Option<string>("--file", "-f") { Description = "cluster.yaml, for spec.boot.kernel (distro when absent).", HelpName = "path" };
        var oci = new Option<bool>("--oci") { Description = "Also write the image as an OCI image layout in <out>/images/<name>/oci (from the same files as the initramfs; its digest goes into manifest.json): zc image load puts it into podman or Docker." };
        var minimal = new Option<bool>("--minimal-kernel") { Description = "Boot a service image on ZeroCloud's minimal kernel (boot/kernel/minimal.config on the distro's linux-source-6.1, built once and cached; minutes the first time) as vmlinux, for microVMs: not for the node image, which boots bare metal." };
        var build = new Command("build", "Build <out>/images/<name>/{vmlinuz,initrd.img,manifest.json}.") { name, output, file, oci, minimal };
        build.SetAction(parse => Run(parse.GetValue(name)!, parse.GetValue(output)!, parse.GetValue(file), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, parse.GetValue(oci), parse.GetValue(minimal)));
        image.Subcommands.Add(build);
        var engine = new Option<string?>("--engine") { Description = "podman or docker (default: podman when it is on PATH, else docker).", HelpName = "engine" };
        var loadName = new Argument<string>("name") { Description = "An image built with zc image build <name> --oci." };
        var load = new Command("load", "Load <out>/images/<name>/oci into the local podman or Docker image store as zerocloud/<name>:<version>.") { loadName, output, engine };
        load.SetAction((parse, ct) => OciLoad.RunAsync(parse.GetValue(loadName)!, parse.GetValue(output)!, parse.GetValue(engine), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, ct));
        image.Subcommands.Add(load);
        image.Subcommands.Add(ClusterCommands.ImagePush());
        image.Subcommands.Add(ClusterCommands.ImageList());
        return image;
    }

    internal static int Run(string name, string output, string? clusterFile, TextWriter stdout, TextWriter stderr, bool oci = false, bool minimalKernel = false)
    {
        if (name == SeedImage.Name)
        {
            return RunSeed(output, clusterFile, stdout, stderr, oci);
        }

        if (!Images.TryGetValue(name, out var source))
        {
            stderr.WriteLine($"zc: there is no image '{name}': the images are {string.Join(", ", Images.Keys)}");
            return ZcCommand.UsageError;
        }

        var kernel = BootSpec.DistroKernel;
        if (clusterFile is not null)
        {
            if (!ConfigFile.TryLoad(clusterFile, stderr, out var result))
            {
                return ZcCommand.UsageError;
            }

            if (!result.IsValid)
            {
                foreach (var d in result.Diagnostics)
                {
                    stderr.WriteLine(d);
                }

                return ZcCommand.Failed;
            }

            kernel = result.Config!.Spec.Boot.Kernel;
        }

        if (minimalKernel && name == "node")
        {
            stderr.WriteLine("zc: --minimal-kernel is for service images booted as microVMs; the node image boots bare metal and keeps the distro kernel (its drivers for disks and NICs)");
            return ZcCommand.UsageError;
        }

        if (minimalKernel && kernel != BootSpec.DistroKernel)
        {
            stderr.WriteLine($"zc: --minimal-kernel and spec.boot.kernel ({kernel}) both name a kernel: use one");
            return ZcCommand.UsageError;
        }

        string kernelPath, modules;
        string? release = null;
        try
        {
            if (minimalKernel)
            {
                (kernelPath, release) = MinimalKernel.Get(RepositoryRoot() ?? throw new InvalidOperationException("zc image build runs from a ZeroCloud checkout (ZeroCloud.sln not found)"), stderr);
                modules = "";
            }
            else if (kernel == BootSpec.DistroKernel)
            {
                (kernelPath, modules) = ImageBuilder.DistroKernel();
            }
            else
            {
                kernelPath = Path.GetFullPath(kernel, Path.GetDirectoryName(Path.GetFullPath(clusterFile!))!);
                var bzRelease = BzImage.Release(kernelPath) ?? throw new InvalidDataException($"{kernelPath} is not a bzImage (no HdrS setup header)");
                modules = Path.Combine("/lib/modules", bzRelease);
                if (!Directory.Exists(modules))
                {
                    throw new DirectoryNotFoundException($"the kernel {kernelPath} is release {bzRelease}, and /lib/modules/{bzRelease} does not exist");
                }
            }
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or InvalidOperationException)
        {
            stderr.WriteLine($"zc: {ex.Message}");
            return ZcCommand.Failed;
        }

        var repo = RepositoryRoot() ?? throw new InvalidOperationException("zc image build runs from a ZeroCloud checkout (ZeroCloud.sln not found)");
        var publish = Path.Combine(Path.GetFullPath(output), ".publish", name);
        var clock = Stopwatch.StartNew();
        stderr.WriteLine($"zc: publishing {source.Binary} {(name == "control" ? "as a self-contained single file" : "with NativeAOT")} ...");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "publish", Path.Combine(repo, source.Project), "-c", "Release", "-r", "linux-x64", "-o", publish, "-nologo", "-v", "q" })
        {
            info.ArgumentList.Add(arg);
        }

        using (var process = Process.Start(info)!)
        {
            var log = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                stderr.WriteLine(log.Result + errors);
                stderr.WriteLine($"zc: publishing {source.Binary} failed");
                return ZcCommand.Failed;
            }
        }

        var published = clock.Elapsed;
        var destination = Path.Combine(output, "images", name);
        (string, string)[] extra = [];
        if (name == "netboot")
        {
            var ipxe = IpxeFiles.Select(f => Path.Combine(ZeroCloud.Netboot.Http.NetbootHost.DebianIpxeDirectory, f)).ToList();
            if (ipxe.FirstOrDefault(f => !File.Exists(f)) is { } missing)
            {
                stderr.WriteLine($"zc: {missing}: no such file; the netboot image carries the iPXE binaries (apt-get install ipxe)");
                return ZcCommand.Failed;
            }

            extra = [.. ipxe.Select(f => (f, $"{ImageIpxeDirectory}/{Path.GetFileName(f)}"))];
        }

        ZeroCloud.Model.Images.ImageManifest manifest;
        try
        {
            var spec = new ImageSpec(name, Path.Combine(publish, source.Binary), kernelPath, modules, ZcCommand.Version, DefaultCommandLine) { Extra = extra, Oci = oci, Release = release };
            // The node image formats its data disk (spec.nodes.disks) and finds it behind any usual controller.
            manifest = ImageBuilder.Build(name switch { "node" => NodeImage.With(spec), "control" => ControlImage.With(spec), _ => spec }, destination);
        }
        catch (FileNotFoundException ex)
        {
            stderr.WriteLine($"zc: {ex.Message}");
            return ZcCommand.Failed;
        }

        stdout.WriteLine($"{destination}: {name} {manifest.Version} on kernel {manifest.Kernel}");
        foreach (var f in manifest.Files)
        {
            stdout.WriteLine($"  {f.Name,-11} {f.Size,11:N0} bytes  sha256:{f.Sha256}");
        }

        stdout.WriteLine($"  /init       {manifest.BinarySize,11:N0} bytes  ({source.Binary}); {manifest.Libraries.Count} libraries, {(manifest.Modules.Count == 0 ? "no modules (all built into its kernel)" : $"modules {string.Join(" ", manifest.Modules)}")}");
        if (manifest.Oci is { } digest)
        {
            stdout.WriteLine($"  oci         {digest} (zerocloud/{name}:{OciImage.Tag(manifest.Version)}; ./zc image load {name})");
        }
        stdout.WriteLine($"  built in {clock.Elapsed.TotalSeconds:0.0} s (publish {published.TotalSeconds:0.0} s, pack {(clock.Elapsed - published).TotalSeconds:0.0} s)");
        return ZcCommand.Ok;
    }

    /// <summary>
    /// <c>zc image build seed --oci</c>: every image this repository builds (those not built yet at this version are
    /// built first), packed into the seed's OCI image (<see cref="SeedImage"/>).
    /// </summary>
    private static int RunSeed(string output, string? clusterFile, TextWriter stdout, TextWriter stderr, bool oci)
    {
        if (!oci)
        {
            stderr.WriteLine("zc: the seed is a container image only (a machine boots the node image and starts it with zc-node --seed): zc image build seed --oci");
            return ZcCommand.UsageError;
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var newest = Artifacts.NewestSource();
        var binaries = new Dictionary<string, string>(StringComparer.Ordinal);
        var folders = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var image in SeedImage.Images)
        {
            var folder = Path.Combine(output, "images", image);
            var binary = Path.Combine(Path.GetFullPath(output), ".publish", image, Images[image].Binary);
            var manifest = Path.Combine(folder, "manifest.json");
            // Built at this version from the sources as they are (zc up's test): else built again.
            var built = File.Exists(binary) && File.Exists(manifest) && File.GetLastWriteTimeUtc(manifest) >= newest
                && ZeroCloud.Model.Images.ImageManifest.Parse(File.ReadAllBytes(manifest), out _)?.Version == ZcCommand.Version;
            if (!built && Run(image, output, clusterFile, stdout, stderr) != ZcCommand.Ok)
            {
                stderr.WriteLine($"zc: the seed carries the {image} image, and building it failed");
                return ZcCommand.Failed;
            }

            binaries[image] = binary;
            folders[image] = folder;
        }

        var ipxe = IpxeFiles.Select(f => Path.Combine(ZeroCloud.Netboot.Http.NetbootHost.DebianIpxeDirectory, f)).ToList();
        if (ipxe.FirstOrDefault(f => !File.Exists(f)) is { } missing)
        {
            stderr.WriteLine($"zc: {missing}: no such file; the seed's netboot serves the iPXE binaries (apt-get install ipxe)");
            return ZcCommand.Failed;
        }

        var destination = Path.Combine(output, "images", SeedImage.Name);
        ZeroCloud.Model.Images.ImageManifest seed;
        try
        {
            seed = SeedImage.Build(ZcCommand.Version, binaries, folders, ipxe, destination);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException)
        {
            stderr.WriteLine($"zc: {ex.Message}");
            return ZcCommand.Failed;
        }

        stdout.WriteLine($"{destination}: seed {seed.Version}: zc-node --seed with {string.Join(", ", SeedImage.Images)}, {seed.Libraries.Count} libraries");
        stdout.WriteLine($"  oci         {seed.Oci} (zerocloud/seed:{OciImage.Tag(seed.Version)}; ./zc image load seed)");
        stdout.WriteLine($"  built in {clock.Elapsed.TotalSeconds:0.0} s");
        return ZcCommand.Ok;
    }

    internal static int List(string output, TextWriter stdout, TextWriter stderr)
    {
        var images = Path.Combine(output, "images");
        var manifests = Directory.Exists(images) ? Directory.GetFiles(images, "manifest.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList() : [];
        if (manifests.Count == 0)
        {
            stderr.WriteLine($"zc: no images under {images} (build one with: ./zc image build node)");
            return ZcCommand.Failed;
        }

        stdout.WriteLine($"{"NAME",-10} {"VERSION",-18} {"KERNEL",-16} {"VMLINUZ",12} {"INITRD",12}  INITRD SHA256");
        foreach (var path in manifests)
        {
            var m = JsonSerializer.Deserialize(File.ReadAllText(path), ZeroCloud.Model.Images.ImageJsonContext.Default.ImageManifest)!;
            if (m.Files.Count == 0)
            {
                // The seed: a container image only.
                stdout.WriteLine($"{m.Name,-10} {m.Version,-18} {"(oci only)",-16} {"",12} {"",12}  {m.Oci}");
                continue;
            }

            var vmlinuz = m.Files.First(f => f.Name == "vmlinuz");
            var initrd = m.Files.First(f => f.Name == "initrd.img");
            stdout.WriteLine($"{m.Name,-10} {m.Version,-18} {m.Kernel,-16} {vmlinuz.Size,12:N0} {initrd.Size,12:N0}  {initrd.Sha256}");
        }

        return ZcCommand.Ok;
    }

    internal static string? RepositoryRoot() => ZeroCloud.Lab.Repository.Root();
}
