using System.Diagnostics;
using System.Net.Sockets;
using ZeroCloud.Lab;

namespace ZeroCloud.Container.Tests;

/// <summary>
/// The container engine the tests drive through Testcontainers: podman's Docker-compatible API (<c>podman system
/// service</c>), started on a socket of its own when none answers there, stopped with the collection. scripts/setup
/// installs podman and runc and writes the containers.conf this machine needs (cgroupfs, runc, no default ulimits).
/// Testcontainers' reaper (Ryuk) is off: its image comes from a registry, and none is reachable; every container is
/// removed by the test that made it.
/// </summary>
public sealed class Podman : IAsyncLifetime
{
    public const string Socket = "/run/zc-test-podman/podman.sock";

    public static Uri Endpoint => new($"unix://{Socket}");

    private Process? _service;

    public async Task InitializeAsync()
    {
        Environment.SetEnvironmentVariable("TESTCONTAINERS_RYUK_DISABLED", "true");
        if (await AnswersAsync())
        {
            return;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Socket)!);
        File.Delete(Socket);
        var info = new ProcessStartInfo("podman") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "system", "service", "--time=0", Endpoint.ToString() })
        {
            info.ArgumentList.Add(a);
        }

        _service = Process.Start(info) ?? throw new InvalidOperationException("podman did not start (apt-get install podman: scripts/setup)");
        _service.OutputDataReceived += (_, _) => { };
        _service.ErrorDataReceived += (_, _) => { };
        _service.BeginOutputReadLine();
        _service.BeginErrorReadLine();
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await AnswersAsync())
        {
            if (_service.HasExited || DateTime.UtcNow > until)
            {
                throw new InvalidOperationException($"podman system service did not answer on {Socket} within 30 s (exit {(_service.HasExited ? _service.ExitCode : "none yet")})");
            }

            await Task.Delay(200);
        }
    }

    /// <summary>Runs podman's CLI (what an operator types), to completion.</summary>
    public static Task<(int Code, string Output)> RunAsync(params string[] args) => Processes.RunAsync("podman", args);

    private static async Task<bool> AnswersAsync()
    {
        if (!File.Exists(Socket))
        {
            return false;
        }

        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await s.ConnectAsync(new UnixDomainSocketEndPoint(Socket), ct);
                return new NetworkStream(s, ownsSocket: true);
            },
        };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            return (await http.GetStringAsync(new Uri("http://podman/_ping"))) == "OK";
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    public async Task DisposeAsync()
    {
        if (_service is { HasExited: false } service)
        {
            service.Kill(entireProcessTree: true);
            await service.WaitForExitAsync();
        }

        _service?.Dispose();
    }
}

[CollectionDefinition("podman")]
public sealed class PodmanTests : ICollectionFixture<Podman>;
