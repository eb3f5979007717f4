using System.Diagnostics;
using ZeroCloud.Lab;

namespace ZeroCloud.Cli.Tests;

/// <summary>
/// Runs the built zc (<c>dotnet zc.dll</c>, the CLI's own build of this configuration) as its own process, with its
/// labs under <c>labRoot</c> ($ZC_LAB_ROOT) and no $ZC_SERVER or $ZC_CREDENTIALS of the caller: what the lab tests use.
/// </summary>
internal static class ZcProcess
{
    public static Process Start(string labRoot, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])[Repository.Built("cli", "ZeroCloud.Cli", "zc.dll"), .. args])
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["ZC_LAB_ROOT"] = labRoot;
        psi.Environment.Remove("ZC_SERVER");
        psi.Environment.Remove("ZC_CREDENTIALS");
        return Process.Start(psi)!;
    }

    /// <summary>Runs zc to its end (failing the test past <paramref name="timeout"/>): exit code, standard output, standard error.</summary>
    public static async Task<(int Code, string Out, string Err)> RunAsync(string labRoot, TimeSpan timeout, params string[] args)
    {
        using var p = Start(labRoot, args);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, await stdout, await stderr);
    }

    /// <summary>Runs a shell command line to its end: its standard output, then its standard error.</summary>
    public static async Task<string> ShAsync(string command)
    {
        var psi = new ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(command);
        using var p = Process.Start(psi)!;
        var text = await p.StandardOutput.ReadToEndAsync() + await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return text;
    }
}
