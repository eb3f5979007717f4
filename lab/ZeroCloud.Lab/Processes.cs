using System.Diagnostics;
using System.Text;

namespace ZeroCloud.Lab;

/// <summary>Runs programs: to completion (output captured), or detached in a namespace with their output to a file.</summary>
public static class Processes
{
    /// <summary>
    /// Runs <paramref name="file"/> to completion: its exit code and its stdout and stderr together. A non-zero exit is
    /// returned, not thrown. <paramref name="input"/>, when given, is its standard input.
    /// </summary>
    public static async Task<(int Code, string Output)> RunAsync(string file, IEnumerable<string> args, TimeSpan? timeout = null, string? input = null, CancellationToken ct = default)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = input is not null, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = p.StandardOutput.ReadToEndAsync(ct);
        var stderr = p.StandardError.ReadToEndAsync(ct);
        if (input is not null)
        {
            await p.StandardInput.WriteAsync(input.AsMemory(), ct).ConfigureAwait(false);
            p.StandardInput.Close();
        }

        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        if (timeout is { } t)
        {
            limit.CancelAfter(t);
        }

        try
        {
            await p.WaitForExitAsync(limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"'{file} {string.Join(' ', args)}' did not finish within {timeout!.Value.TotalSeconds:0} s");
        }

        return (p.ExitCode, await stdout.ConfigureAwait(false) + await stderr.ConfigureAwait(false));
    }

    /// <summary>Starts a process in namespace <paramref name="ns"/>, detached from this one (setsid), its output to <paramref name="log"/>.</summary>
    public static async Task StartDetachedAsync(string ns, string log, string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null)
    {
        var line = new StringBuilder("exec ip netns exec ").Append(Quote(ns)).Append(" setsid -f ");
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            line.Append("env ").Append(Quote($"{k}={v}")).Append(' ');
        }

        line.Append(Quote(file));
        foreach (var a in args)
        {
            line.Append(' ').Append(Quote(a));
        }

        line.Append(" >").Append(Quote(log)).Append(" 2>&1 </dev/null");
        var (code, output) = await RunAsync("sh", ["-c", line.ToString()]).ConfigureAwait(false);
        if (code != 0)
        {
            throw new InvalidOperationException($"could not start {file} in {ns}: {output}");
        }
    }

    /// <summary>A shell word that stays one word whatever it holds.</summary>
    public static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
