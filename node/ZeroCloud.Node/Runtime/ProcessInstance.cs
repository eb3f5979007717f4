using System.Diagnostics;
using System.Net.Sockets;
using ZeroCloud.Init;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Node.Runtime;

/// <summary>
/// How an instance runs: the program and its arguments (the image's binary with the spec's arguments for the
/// <c>process</c> driver; QEMU for <c>vm</c>), the address its health checks go to, what to do once it started (a VM's
/// tap gets its address) and what it holds until it stops.
/// </summary>
internal sealed record Launch(string File, IReadOnlyList<string> Arguments, string ProbeHost, string Driver, Func<CancellationToken, Task>? AfterStart = null, IDisposable? Holds = null);

/// <summary>
/// One instance on this node, for both runtime drivers: runs its <see cref="Launch"/> with the spec's environment in
/// the instance's data folder, output to <c>&lt;data&gt;/instances/&lt;id&gt;.log</c>, restarts it with backoff
/// (1 s doubling to 30 s) when it exits, runs the spec's health check (HTTP GET of a path, 2xx/3xx healthy, or a TCP
/// connect) and reports each change of state. Stop: SIGTERM (QEMU exits on it), then SIGKILL after 5 s.
/// </summary>
internal sealed class ProcessInstance : IAsyncDisposable
{
    private static readonly HttpClient Http = new() { Timeout = Timeout.InfiniteTimeSpan };
    private readonly Launch _launch;
    private readonly string _folder;
    private readonly string _log;
    private readonly Action<InstanceStateDto> _report;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _run;
    private Process? _process;
    private InstanceStateDto _state;

    public ProcessInstance(InstanceDto instance, Launch launch, string dataDirectory, Action<InstanceStateDto> report)
    {
        Instance = instance;
        _launch = launch;
        _folder = Path.Combine(dataDirectory, "instances", instance.Id);
        _log = Path.Combine(dataDirectory, "instances", instance.Id + ".log");
        _report = report;
        _state = new InstanceStateDto(instance.Id, instance.Node, InstanceState.Pending, false, 0, DateTime.UtcNow);
        _run = Task.Run(RunAsync);
    }

    public InstanceDto Instance { get; }

    public InstanceStateDto State => _state;

    private void Set(InstanceState state, bool healthy, string? detail = null, int? restarts = null)
    {
        var next = _state with { State = state, Healthy = healthy, Detail = detail, Restarts = restarts ?? _state.Restarts };
        if (next.State != _state.State || next.Healthy != _state.Healthy || next.Restarts != _state.Restarts || next.Detail != _state.Detail)
        {
            _state = next with { Since = next.State != _state.State ? DateTime.UtcNow : _state.Since };
            _report(_state);
        }
    }

    private async Task RunAsync()
    {
        Directory.CreateDirectory(_folder);
        var backoff = TimeSpan.FromSeconds(1);
        var restarts = 0;
        while (!_stop.IsCancellationRequested)
        {
            Set(InstanceState.Starting, false, null, restarts);
            var started = System.Diagnostics.Stopwatch.StartNew();
            int exit;
            try
            {
                exit = await RunOnceAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or IOException)
            {
                Set(InstanceState.Failed, false, $"cannot start {_launch.File}: {ex.Message}", restarts);
                exit = -1;
            }

            if (_stop.IsCancellationRequested)
            {
                break;
            }

            // A run that lasted a while resets the backoff, as systemd and kubelet do.
            backoff = started.Elapsed > TimeSpan.FromSeconds(30) ? TimeSpan.FromSeconds(1) : backoff;
            if (exit != -1)
            {
                // Exit 0 is a clean stop (Stopped), anything else a failure; both restart: a service's instance runs until unplaced.
                Set(exit == 0 ? InstanceState.Stopped : InstanceState.Failed, false, $"exited with code {exit}; restart in {backoff.TotalSeconds:0} s", restarts);
            }

            try
            {
                await Task.Delay(backoff, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
            restarts++;
        }
    }

    private async Task<int> RunOnceAsync()
    {
        var psi = new ProcessStartInfo(_launch.File)
        {
            WorkingDirectory = _folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in _launch.Arguments)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (k, v) in Instance.Env ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }

        psi.Environment["ZC_INSTANCE"] = Instance.Id;
        psi.Environment["ZC_SERVICE"] = Instance.Service;
        psi.Environment["ZC_NODE"] = Instance.Node;
        psi.Environment["ZC_DATA"] = _folder;

        using var log = new StreamWriter(new FileStream(_log, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        using var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        Children.Start(process);
        _process = process;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        Write(log, $"[zc-node] started {psi.FileName} {string.Join(' ', psi.ArgumentList)} as pid {process.Id} ({_launch.Driver} driver)");
        if (_launch.AfterStart is { } after)
        {
            try
            {
                await after(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is TimeoutException or IOException or InvalidOperationException or OperationCanceledException)
            {
                Write(log, $"[zc-node] {ex.Message}; stopping it");
                process.Kill();
            }
        }

        Set(InstanceState.Running, Instance.Health is null, null);

        using var healthStop = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        var health = Instance.Health is { } h ? HealthLoopAsync(h, healthStop.Token) : Task.CompletedTask;
        await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        await healthStop.CancelAsync().ConfigureAwait(false);
        await health.ConfigureAwait(false);
        Write(log, $"[zc-node] pid {process.Id} exited with code {process.ExitCode}");
        _process = null;
        return process.ExitCode;
    }

    private async Task HealthLoopAsync(HealthDto h, CancellationToken ct)
    {
        var failures = 0;
        var interval = TimeSpan.FromSeconds(Math.Max(0.2, h.IntervalSeconds));
        var timeout = TimeSpan.FromSeconds(Math.Max(0.1, h.TimeoutSeconds));

        // Probe quickly until the first success, then at the spec's interval.
        var first = true;
        while (!ct.IsCancellationRequested)
        {
            var ok = await ProbeAsync(_launch.ProbeHost, h, timeout, ct).ConfigureAwait(false);
            if (ct.IsCancellationRequested)
            {
                return;
            }

            failures = ok ? 0 : failures + 1;
            if (ok)
            {
                first = false;
                Set(InstanceState.Running, true, null);
            }
            else if (!first && failures >= h.FailureThreshold)
            {
                Set(InstanceState.Running, false, $"health check failed {failures} times in a row");
            }

            try
            {
                await Task.Delay(first ? TimeSpan.FromMilliseconds(200) : interval, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static async Task<bool> ProbeAsync(string host, HealthDto h, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            if (h.Path is { } path)
            {
                using var response = await Http.GetAsync(new Uri($"http://{host}:{h.Port}{path}"), cts.Token).ConfigureAwait(false);
                return (int)response.StatusCode is >= 200 and < 400;
            }

            using var tcp = new TcpClient();
            await tcp.ConnectAsync(host, h.Port, cts.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is HttpRequestException or SocketException or OperationCanceledException)
        {
            return false;
        }
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            try
            {
                log.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
                // the run ended while its output drained
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_process is { } p)
        {
            try
            {
                _ = Native.Kill(p.Id, Native.SIGTERM);
            }
            catch (InvalidOperationException)
            {
                // gone already
            }
        }

        if (await Task.WhenAny(_run, Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false) != _run)
        {
            try
            {
                _process?.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // gone already
            }

            await _run.ConfigureAwait(false);
        }

        _launch.Holds?.Dispose();
        _stop.Dispose();
    }
}
