using System.Diagnostics;
using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Config;
using ZeroCloud.Model.Images;
using ZeroCloud.Node.Runtime;

namespace ZeroCloud.Node;

/// <summary>
/// <c>zc-node --seed cluster.yaml</c>: the first node of a cluster on an existing machine or in a container, what
/// <c>zc up</c> does in the lab. It starts a one-member control plane named after this node (<c>zc-control
/// --bootstrap</c> in <c>&lt;data&gt;/control</c>, a child process), applies cluster.yaml with the admin credential that
/// member made, runs this node's agent with the join token it made (so the scheduler places dhcp, netboot and storage
/// here, from the binaries beside zc-node), and, once this node's storage instance runs, pushes the images it carries
/// (<c>&lt;netboot root&gt;/images/&lt;name&gt;</c>) into the store and the catalogue, the node image first, so that netboot
/// serves the signed node image and every other node fetches what it runs from the store. Started again on the same
/// data folder it resumes: the member comes back on its log, cluster.yaml is applied again (as zc apply), and images
/// already in the catalogue are not pushed twice.
/// </summary>
internal static class Seed
{
    public const int ApiPort = 7070;
    public const int StoragePort = 8890;

    /// <summary>The node image's folder under a netboot root; a seed serves and pushes what it finds there.</summary>
    public static string ImagesOf(string root) => Path.Combine(root, "images");

    public static async Task<int> RunAsync(string clusterFile, AgentSettings given, ILogger log, CancellationToken stop)
    {
        // cluster.yaml first: a seed with a bad one would make a cluster that cannot take it.
        ClusterConfigResult loaded;
        try
        {
            loaded = ClusterConfigLoader.LoadFile(clusterFile, clusterFile);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync($"zc-node: --seed {clusterFile}: {ex.Message}").ConfigureAwait(false);
            return 2;
        }

        if (!loaded.IsValid)
        {
            foreach (var d in loaded.Diagnostics)
            {
                await Console.Error.WriteLineAsync($"zc-node: {d}").ConfigureAwait(false);
            }

            return 2;
        }

        var name = given.Name ?? "seed";
        var address = given.Address ?? Agent.FirstAddress();
        if (address is null)
        {
            await Console.Error.WriteLineAsync("zc-node: --seed: this machine has no IPv4 address on an interface that is up; give --address <ip> (the provisioning network's)").ConfigureAwait(false);
            return 2;
        }

        var control = ControlBinary(given);
        if (control is null)
        {
            await Console.Error.WriteLineAsync($"zc-node: --seed needs zc-control (the control image's binary): beside zc-node ({AppContext.BaseDirectory}), in --images, or --image builtin/control=<path>").ConfigureAwait(false);
            return 2;
        }

        var data = given.Data ?? "/var/lib/zerocloud";
        var memberData = Path.Combine(data, "control");
        Directory.CreateDirectory(memberData);
        var api = $"https://{address}:{ApiPort}";
        var netbootRoot = given.NetbootRoot ?? (File.Exists(Path.Combine(ImagesOf(AppContext.BaseDirectory), "node", "manifest.json")) ? AppContext.BaseDirectory : null);

        // The member: a child process that shares this one's output; the seed stops it after the agent.
        var info = new ProcessStartInfo(control) { UseShellExecute = false };
        foreach (var a in (string[])["--data", memberData, "--listen", $"{address}:{ApiPort}", "--name", name, "--bootstrap"])
        {
            info.ArgumentList.Add(a);
        }

        log.LogInformation("seed {Name}: starting the control plane's first member at {Api} ({Control}, data {Data})", name, api, control, memberData);
        using var member = Process.Start(info)!;
        try
        {
            var ready = await WaitForMemberAsync(member, memberData, stop).ConfigureAwait(false);
            if (ready is null)
            {
                if (stop.IsCancellationRequested)
                {
                    return 0;
                }

                await Console.Error.WriteLineAsync(member.HasExited
                    ? $"zc-node: --seed: the control member exited ({member.ExitCode}) before it was ready; its output is above"
                    : $"zc-node: --seed: the control member wrote no admin credential, root certificate and join token in {memberData} within 120 s").ConfigureAwait(false);
                return 1;
            }

            var (trust, admin, token) = ready.Value;
            using var http = trust.Client(TimeSpan.FromMinutes(5));
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", admin);
            using var client = new ControlClient(new Uri(api), trust.Client(TimeSpan.FromSeconds(30))) { Token = admin, RetryRefusalsFor = TimeSpan.FromSeconds(10) };
            if (!await ApplyAsync(client, clusterFile, log, stop).ConfigureAwait(false))
            {
                return stop.IsCancellationRequested ? 0 : 1;
            }

            var settings = given with
            {
                Control = [api, .. given.Control.Where(c => c != api)],
                Trust = trust,
                Token = token,
                Name = name,
                Address = address,
                Data = Path.Combine(data, "node"),
                NetbootRoot = netbootRoot,
            };
            using var agentStop = CancellationTokenSource.CreateLinkedTokenSource(stop);
            var agent = Agent.RunAsync(settings, log, agentStop.Token);
            var push = netbootRoot is null
                ? Task.CompletedTask
                : PushImagesAsync(client, http, name, new Uri($"https://{address}:{StoragePort}"), ImagesOf(netbootRoot), log, agentStop.Token);
            var code = await agent.ConfigureAwait(false);
            await agentStop.CancelAsync().ConfigureAwait(false);
            try
            {
                await push.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // stopping
            }

            return code;
        }
        finally
        {
            await StopAsync(member, log).ConfigureAwait(false);
        }
    }

    /// <summary>zc-control: --image builtin/control, else in the image folders (beside zc-node when none are given).</summary>
    private static string? ControlBinary(AgentSettings settings)
    {
        if (settings.ImagePaths.TryGetValue("builtin/control", out var path))
        {
            return path;
        }

        return (settings.ImageFolders.Count > 0 ? settings.ImageFolders : [AppContext.BaseDirectory])
            .Select(folder => Path.Combine(folder, "zc-control"))
            .FirstOrDefault(File.Exists);
    }

    /// <summary>Waits for what the bootstrapped member writes: the cluster's root, the admin credential and the first join token.</summary>
    private static async Task<(ZeroCloud.Model.Pki.ClusterTrust Trust, string Admin, string Token)?> WaitForMemberAsync(Process member, string memberData, CancellationToken stop)
    {
        var root = Path.Combine(memberData, "pki", "root.crt");
        var adminFile = Path.Combine(memberData, "admin-credential");
        var tokenFile = Path.Combine(memberData, "join-token");
        var clock = Stopwatch.StartNew();
        while (!stop.IsCancellationRequested && !member.HasExited && clock.Elapsed < TimeSpan.FromSeconds(120))
        {
            if (File.Exists(root) && File.Exists(adminFile) && File.Exists(tokenFile)
                && ZeroCloud.Model.Pki.ClusterTrust.TryFromFile(root, out _) is { } trust
                && ZeroCloud.Model.SecretFile.Read(adminFile, out _) is { Length: > 0 } admin
                && ZeroCloud.Model.SecretFile.Read(tokenFile, out _) is { Length: > 0 } token)
            {
                return (trust, admin, token);
            }

            try
            {
                await Task.Delay(200, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return null;
            }
        }

        return null;
    }

    /// <summary>Applies cluster.yaml (again, on a restart: an unchanged file changes nothing) while the member comes up.</summary>
    private static async Task<bool> ApplyAsync(ControlClient client, string clusterFile, ILogger log, CancellationToken stop)
    {
        var bytes = await File.ReadAllBytesAsync(clusterFile, stop).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                var applied = await client.ApplyAsync(bytes, Path.GetFileName(clusterFile), stop).ConfigureAwait(false);
                log.LogInformation("seed: {File} applied (revision {Revision})", clusterFile, applied.Revision);
                return true;
            }
            catch (ControlApiException ex) when (ex.Code is ErrorCodes.Unreachable or ErrorCodes.NoLeader or ErrorCodes.NoQuorum or ErrorCodes.SiloNotReady or ErrorCodes.GrainUnavailable or ErrorCodes.Timeout or ErrorCodes.LeaderUnreachable or ErrorCodes.NotLeader or ErrorCodes.LeaderChanged
                && clock.Elapsed < TimeSpan.FromSeconds(120))
            {
                await Task.Delay(500, stop).ConfigureAwait(false);
            }
            catch (ControlApiException ex)
            {
                await Console.Error.WriteLineAsync($"zc-node: --seed: applying {clusterFile}: {ex.Message}").ConfigureAwait(false);
                return false;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return false;
            }
        }
    }

    /// <summary>
    /// Once this node's storage instance runs: every image under <paramref name="images"/> the catalogue does not have
    /// at that digest, the node image first (netboot then serves it signed). A push that fails is tried again.
    /// </summary>
    private static async Task PushImagesAsync(ControlClient client, HttpClient http, string node, Uri storage, string images, ILogger log, CancellationToken stop)
    {
        var folders = Directory.Exists(images)
            ? Directory.GetDirectories(images).Where(f => File.Exists(Path.Combine(f, "manifest.json")))
                .OrderBy(f => Path.GetFileName(f) == "node" ? 0 : 1).ThenBy(f => f, StringComparer.Ordinal).ToList()
            : [];
        if (folders.Count == 0)
        {
            return;
        }

        while (true)
        {
            try
            {
                var instances = await client.InstancesAsync(node, stop).ConfigureAwait(false);
                if (instances.Instances.Any(v => v.Instance.Image == "builtin/storage" && v.State?.State == InstanceState.Running))
                {
                    break;
                }
            }
            catch (ControlApiException)
            {
                // the member is busy; asked again below
            }

            await Task.Delay(1000, stop).ConfigureAwait(false);
        }

        foreach (var folder in folders)
        {
            var image = Path.GetFileName(folder);
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    var digest = ImageManifest.DigestOf(await File.ReadAllBytesAsync(Path.Combine(folder, "manifest.json"), stop).ConfigureAwait(false));
                    var catalogue = await client.ImagesAsync(stop).ConfigureAwait(false);
                    if (catalogue.Images.Any(i => (i.Name == image || i.Name == $"builtin/{image}") && i.Versions.Any(v => v.Digest == digest)))
                    {
                        log.LogInformation("seed: the catalogue has image {Image} {Digest} already", image, digest);
                        break;
                    }

                    var done = await ImagePush.PushAsync(http, storage, client, folder, image, null, stop).ConfigureAwait(false);
                    log.LogInformation("seed: pushed image {Image} {Version}: {Digest}, {MiB:0.0} MiB in {Seconds:0.0} s, signed by the cluster", image, done.Response.Version, done.Response.Digest, done.Sent / 1048576.0, done.Took.TotalSeconds);
                    break;
                }
                catch (ImagePushException ex) when (ex.Local)
                {
                    log.LogError("seed: image {Image} is not pushed: {Problem}", image, ex.Message);
                    break;
                }
                catch (Exception ex) when (ex is ImagePushException or ControlApiException or HttpRequestException or IOException)
                {
                    var wait = TimeSpan.FromSeconds(Math.Min(30, attempt * 2));
                    log.LogWarning("seed: pushing image {Image} failed ({Problem}); again in {Seconds} s", image, ex.Message, wait.TotalSeconds);
                    await Task.Delay(wait, stop).ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary>SIGTERM to the member (it leaves cleanly), SIGKILL after 30 s.</summary>
    private static async Task StopAsync(Process member, ILogger log)
    {
        if (member.HasExited)
        {
            return;
        }

        _ = Native.Kill(member.Id, Native.SIGTERM);
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await member.WaitForExitAsync(wait.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            log.LogWarning("seed: the control member did not stop within 30 s of SIGTERM; killing it");
            member.Kill();
        }
    }
}
