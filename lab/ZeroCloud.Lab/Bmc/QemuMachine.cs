using System.Diagnostics;

namespace ZeroCloud.Lab.Bmc;

/// <summary>
/// A lab server that is a QEMU process, switched as a chassis is: power on starts QEMU (from the network when a PXE-once
/// boot is due: the arguments come from <c>arguments(pxe)</c>), a reset is QMP's <c>system_reset</c> (the firmware runs
/// again), power off is QMP's <c>quit</c>. Power is on while the process runs.
/// </summary>
public sealed class QemuMachine(string name, string qmpSocket, Func<bool, IReadOnlyList<string>> arguments, string qemu = "qemu-system-x86_64") : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private Process? _process;
    private QmpClient? _qmp;

    public string Name { get; } = name;

    public bool IsOn => _process is { HasExited: false };

    /// <summary>QEMU's own run state (<c>running</c>, <c>paused</c>, <c>shutdown</c> …) through QMP; null when off.</summary>
    public async Task<string?> RunStateAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return IsOn && _qmp is not null ? (await _qmp.ExecuteAsync("query-status", null, ct).ConfigureAwait(false))?["status"]?.GetValue<string>() : null;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task PowerOnAsync(bool pxe, CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (IsOn)
            {
                return;
            }

            await StopAsync().ConfigureAwait(false);
            File.Delete(qmpSocket);
            var psi = new ProcessStartInfo(qemu) { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in (string[])[.. arguments(pxe), "-qmp", $"unix:{qmpSocket},server=on,wait=off"])
            {
                psi.ArgumentList.Add(a);
            }

            var process = Process.Start(psi)!;
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, e) => LastError = e.Data ?? LastError;
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            _process = process;
            try
            {
                _qmp = await QmpClient.ConnectAsync(qmpSocket, TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or QmpException or IOException)
            {
                await StopAsync().ConfigureAwait(false);
                throw new QmpException($"machine {Name}: QEMU did not open its QMP socket ({ex.Message}; QEMU said: {LastError})");
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>What QEMU last wrote to its standard error.</summary>
    public string? LastError { get; private set; }

    public async Task ResetAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (!IsOn || _qmp is null)
            {
                throw new InvalidOperationException($"machine {Name} is off");
            }

            await _qmp.ExecuteAsync("system_reset", null, ct).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task PowerOffAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (IsOn && _qmp is not null)
            {
                try
                {
                    await _qmp.ExecuteAsync("quit", null, ct).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is QmpException or IOException)
                {
                    // It is going anyway.
                }
            }

            await StopAsync().ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task StopAsync()
    {
        if (_qmp is not null)
        {
            await _qmp.DisposeAsync().ConfigureAwait(false);
            _qmp = null;
        }

        if (_process is not null)
        {
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _process.WaitForExitAsync(wait.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            }

            _process.Dispose();
            _process = null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill(entireProcessTree: true);
        }

        await StopAsync().ConfigureAwait(false);
        _gate.Dispose();
    }
}
