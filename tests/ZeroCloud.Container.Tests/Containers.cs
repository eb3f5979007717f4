using System.Diagnostics;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Containers;
using ZeroCloud.Lab;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Container.Tests;

/// <summary>What the container tests share: building and loading an image as an operator does, starting, waiting, logs.</summary>
internal static class Containers
{
    public static readonly TimeSpan Long = TimeSpan.FromMinutes(5);

    public static string Zc { get; } = NetnsLab.ServiceBinary("ZeroCloud.Cli", "zc.dll", "cli");

    /// <summary>
    /// The build folder <c>zc up</c> uses (<c>.build/out</c>): scripts/test publishes every image's binary there before the
    /// tests, so building an image there again only packs it (the publish is incremental).
    /// </summary>
    public static string BuildFolder { get; } = Path.Combine(Repository.RequireRoot("the container tests"), ".build", "out");

    /// <summary>
    /// <c>zc image build &lt;name&gt; [--oci] -o .build/out</c>, then (for an OCI build) <c>zc image load</c> into podman;
    /// the tag it was loaded as (null without --oci).
    /// </summary>
    public static async Task<string?> BuildAsync(string name, bool oci)
    {
        var outFolder = BuildFolder;
        var (code, log) = await Processes.RunAsync("dotnet", [Zc, "image", "build", name, "-o", outFolder, .. (oci ? (string[])["--oci"] : [])], Long);
        Assert.True(code == 0, log);
        if (!oci)
        {
            return null;
        }

        (code, log) = await Processes.RunAsync("dotnet", [Zc, "image", "load", name, "--out", outFolder, "--engine", "podman"], Long);
        Assert.True(code == 0, log);
        var tag = System.Text.RegularExpressions.Regex.Match(log, @"(zerocloud/[a-z]+:\S+): loaded into podman").Groups[1].Value;
        Assert.False(string.IsNullOrEmpty(tag), log);
        return tag;
    }

    /// <summary>A container of <paramref name="tag"/> (never pulled: no registry) on the network of the lab namespace <paramref name="netns"/>.</summary>
    public static ContainerBuilder Builder(string tag, string prefix, string netns) =>
        new ContainerBuilder(tag)
            .WithDockerEndpoint(Podman.Endpoint)
            .WithImagePullPolicy(_ => false)
            .WithName($"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 13, 40)])
            .WithCreateParameterModifier(p => p.HostConfig!.NetworkMode = $"ns:/run/netns/{netns}")
            .WithWaitStrategy(Wait.ForUnixContainer());

    /// <summary>Removes every container a test started (one the test removed itself already is only reported).</summary>
    public static async Task DisposeAllAsync(IEnumerable<IContainer?> containers, Xunit.Abstractions.ITestOutputHelper output)
    {
        foreach (var container in containers.OfType<IContainer>())
        {
            try
            {
                await container.DisposeAsync();
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                output.WriteLine($"{container.Name}: {ex.Message}");
            }
        }
    }

    /// <summary>The operator's zc in the lab namespace <paramref name="host"/>, with the credentials file the bootstrapped member wrote.</summary>
    public static Task<(int Code, string Output)> ZcAsync(NetnsLab lab, string host, string credentials, params string[] args) =>
        lab.RunAsync(host, TimeSpan.FromMinutes(2), "env", [$"ZC_CREDENTIALS={credentials}", "dotnet", Zc, .. args]);

    public static async Task StartAsync(IContainer container)
    {
        using var start = new CancellationTokenSource(Long);
        await container.StartAsync(start.Token);
    }

    /// <summary>The last lines of every container's log, for a failure's message.</summary>
    public static async Task<string> LogsAsync(IEnumerable<IContainer?> containers)
    {
        var text = new System.Text.StringBuilder();
        foreach (var c in containers.OfType<IContainer>())
        {
            try
            {
                var (stdout, stderr) = await c.GetLogsAsync();
                var lines = (stdout + stderr).Split('\n');
                text.Append("\n--- ").Append(c.Name).Append(" (last 30 lines) ---\n").AppendJoin('\n', lines.TakeLast(30));
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                text.Append("\n--- ").Append(c.Name).Append(": no logs: ").Append(ex.Message);
            }
        }

        return text.ToString();
    }

    /// <summary>Polls <paramref name="done"/> every 0.5 s; fails after <paramref name="seconds"/> with the containers' logs.</summary>
    public static async Task WaitAsync(Func<Task<bool>> done, string what, IEnumerable<IContainer?> containers, int seconds = 90)
    {
        var watch = Stopwatch.StartNew();
        while (!await done())
        {
            if (watch.Elapsed > TimeSpan.FromSeconds(seconds))
            {
                Assert.Fail($"waited {seconds} s for {what}{await LogsAsync(containers)}");
            }

            await Task.Delay(500);
        }
    }
}
