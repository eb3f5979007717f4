using System.Diagnostics;

namespace ZeroCloud.Lab;

/// <summary>A child process whose output (stdout and stderr, interleaved by line) can be awaited line by line.</summary>
public sealed class LabProcess
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly Lock _lock = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private LabProcess(Process process) => _process = process;

    public int Id => _process.Id;

    public int ExitCode => _process.HasExited ? _process.ExitCode : -1;

    public string Output
    {
        get
        {
            lock (_lock)
            {
                return string.Join('\n', _lines);
            }
        }
    }

    public static LabProcess Start(string file, string[] args)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var lab = new LabProcess(process);
        process.OutputDataReceived += (_, e) => lab.Add(e.Data);
        process.ErrorDataReceived += (_, e) => lab.Add(e.Data);
        process.Exited += (_, _) => lab.Signal();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return lab;
    }

    private void Add(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lock)
        {
            _lines.Add(line);
        }

        Signal();
    }

    private void Signal()
    {
        TaskCompletionSource done;
        lock (_lock)
        {
            done = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        done.TrySetResult();
    }

    public int CountLines(Func<string, bool> predicate)
    {
        lock (_lock)
        {
            return _lines.Count(predicate);
        }
    }

    /// <summary>Waits until <paramref name="count"/> lines match, failing with the output when the time is up or the process exits first.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> predicate, TimeSpan timeout, int count = 1, string? what = null)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                var matches = _lines.Where(predicate).ToList();
                if (matches.Count >= count)
                {
                    return matches[count - 1];
                }

                changed = _changed.Task;
            }

            if (_process.HasExited)
            {
                // One last look: output may have arrived with the exit.
                await Task.Delay(50);
                lock (_lock)
                {
                    if (_lines.Count(predicate) >= count)
                    {
                        continue;
                    }
                }

                throw new InvalidOperationException($"the process exited ({_process.ExitCode}) before {what ?? "the expected output"}; output:\n{Output}");
            }

            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"no {what ?? "expected output"} within {timeout.TotalSeconds:0}s; output:\n{Output}");
            }
        }
    }

    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>SIGTERM, then SIGKILL after <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan? grace = null)
    {
        if (_process.HasExited)
        {
            return;
        }

        var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
        if (!await WaitForExitAsync(grace ?? TimeSpan.FromSeconds(10)))
        {
            _process.Kill(entireProcessTree: true);
            await WaitForExitAsync(TimeSpan.FromSeconds(5));
        }
    }
}
