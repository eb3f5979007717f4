using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Node.Tests;

public sealed class HeartbeatClockTests
{
    /// <summary>A clock whose wall time can be stepped (as NTP or an operator steps it); its timestamps stay monotonic.</summary>
    private sealed class SteppedClock : TimeProvider
    {
        public TimeSpan Step { get; set; }

        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Step;
    }

    [Fact]
    public async Task A_wall_clock_stepped_back_an_hour_during_a_beat_does_not_hold_the_next_beats_back()
    {
        // Before, the wait after a beat was interval - (wall now - wall start): a step back of an hour made it an hour,
        // and the node went Down.
        var clock = new SteppedClock();
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var beats = 0;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var served = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var context = await listener.GetContextAsync().WaitAsync(stop.Token);
                var body = context.Request.Url!.AbsolutePath.EndsWith("/heartbeat", StringComparison.Ordinal)
                    ? JsonSerializer.SerializeToUtf8Bytes(new NodeStatusDto("n1", NodeStatus.Ready, DateTime.UtcNow, 1, 1, 0, "", HeartbeatSeconds: 0.2), ControlJsonContext.Default.NodeStatusDto)
                    : null;
                if (body is not null && Interlocked.Increment(ref beats) == 2)
                {
                    clock.Step = -TimeSpan.FromHours(1); // stepped back while the second beat is answered
                }

                context.Response.StatusCode = body is null ? 404 : 200;
                context.Response.ContentType = "application/json";
                if (body is not null)
                {
                    await context.Response.OutputStream.WriteAsync(body, stop.Token);
                }

                context.Response.Close();
            }
        });

        using var endpoints = new ControlEndpoints([$"http://127.0.0.1:{port}"], "t", TimeSpan.FromSeconds(5));
        var heartbeat = new Heartbeat(endpoints, "n1", () => new HeartbeatRequest(1, 1), NullLogger.Instance, time: clock);
        using var running = new CancellationTokenSource();
        var run = heartbeat.RunAsync(running.Token);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (Volatile.Read(ref beats) < 8 && watch.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(50);
        }

        Assert.True(Volatile.Read(ref beats) >= 8, $"{beats} beats in {watch.Elapsed.TotalSeconds:0.0} s after the wall clock was stepped back an hour (every 0.2 s asked)");
        Assert.Equal(-TimeSpan.FromHours(1), clock.Step);
        await running.CancelAsync();
        await Task.WhenAny(run, Task.Delay(5000));
        await stop.CancelAsync();
        listener.Stop();
        await Task.WhenAny(served, Task.Delay(2000));
    }
}
