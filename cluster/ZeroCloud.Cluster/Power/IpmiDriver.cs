using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;

namespace ZeroCloud.Cluster.Power;

/// <summary>
/// IPMI 2.0 over the LAN (RMCP+, <c>-I lanplus</c>) through the distro's <c>ipmitool</c>, as MAAS and Ironic drive it.
/// The password goes to ipmitool in its environment (<c>-E</c>, <c>IPMI_PASSWORD</c>), never on its command line,
/// where any user of the machine could read it.
/// </summary>
public sealed class IpmiDriver : IPowerDriver
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(20);

    /// <summary>What verbose ipmitool says on every call, success or not.</summary>
    private static readonly string[] Noise = ["Loading IANA PEN Registry", "Unable to Get Channel Cipher Suites", "Running Get VSO Capabilities", "Invalid completion code received: Invalid command", "Discovered IPMB address", "Get Auth Capabilities", "Get Device ID"];

    private readonly string _host;
    private readonly int _port;
    private readonly string _user;
    private readonly string _password;

    public IpmiDriver(string address, string user, string password, IpmiTool? tool = null)
    {
        var colon = address.LastIndexOf(':');
        (_host, _port) = colon < 0 ? (address, 623) : (address[..colon], int.Parse(address[(colon + 1)..], CultureInfo.InvariantCulture));
        _user = user;
        _password = password;
        Tool = tool ?? IpmiTool.Find();
    }

    /// <summary>The cipher suite (<c>-C</c>); null: ipmitool asks the BMC which it offers.</summary>
    public int? CipherSuite { get; init; }

    /// <summary>The ipmitool it runs: the control image's own, else the one in PATH.</summary>
    public IpmiTool Tool { get; }

    public async Task<PowerState> StatusAsync(CancellationToken ct)
    {
        var output = await RunAsync(ct, "chassis", "power", "status").ConfigureAwait(false);
        // "Chassis Power is on" / "Chassis Power is off"
        return output.Contains("Power is on", StringComparison.OrdinalIgnoreCase) ? PowerState.On
            : output.Contains("Power is off", StringComparison.OrdinalIgnoreCase) ? PowerState.Off
            : throw new BmcException($"ipmitool chassis power status answered \"{output.Trim()}\", not on or off");
    }

    public Task PowerOnAsync(CancellationToken ct) => RunAsync(ct, "chassis", "power", "on");

    public Task PowerOffAsync(CancellationToken ct) => RunAsync(ct, "chassis", "power", "off");

    public Task ResetAsync(CancellationToken ct) => RunAsync(ct, "chassis", "power", "reset");

    /// <summary>
    /// <c>chassis bootdev pxe</c> (without <c>options=persistent</c> the BMC applies it to the next boot only), read back
    /// from boot parameter 5: ipmitool's bootdev exits 0 even when the BMC refused the flags.
    /// </summary>
    public async Task PxeOnceAsync(CancellationToken ct)
    {
        await RunAsync(ct, "chassis", "bootdev", "pxe").ConfigureAwait(false);
        var flags = await RunAsync(ct, "chassis", "bootparam", "get", "5").ConfigureAwait(false);
        if (!flags.Contains("Force PXE", StringComparison.Ordinal))
        {
            var selector = flags.Split('\n').Select(l => l.Trim().TrimStart('-', ' ')).FirstOrDefault(l => l.StartsWith("Boot Device Selector", StringComparison.Ordinal));
            throw new BmcException($"the BMC at {_host}:{_port} did not keep the PXE boot flag ({selector ?? "no boot device selector in boot parameter 5"})");
        }
    }

    public void Dispose()
    {
    }

    private async Task<string> RunAsync(CancellationToken ct, params string[] command)
    {
        var psi = new ProcessStartInfo(Tool.File)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        // -N: seconds between retransmissions, -R: retransmissions; the job retries whole calls with its own backoff.
        // -v: only verbose ipmitool says why a session failed (RAKP 2: a wrong password or user name).
        foreach (var a in (string[])[.. Tool.Prefix, "-v", "-I", "lanplus", "-H", _host, "-p", _port.ToString(CultureInfo.InvariantCulture), "-U", _user, "-E", "-N", "2", "-R", "2", .. (CipherSuite is { } suite ? ["-C", suite.ToString(CultureInfo.InvariantCulture)] : Array.Empty<string>()), .. command])
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["IPMI_PASSWORD"] = _password;
        Process process;
        try
        {
            process = Process.Start(psi)!;
        }
        catch (Win32Exception ex)
        {
            throw new BmcException($"cannot run {Tool} ({ex.Message}): the member that runs power jobs needs it to reach an IPMI BMC (apt-get install ipmitool)", transient: false);
        }

        using (process)
        {
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync(ct);
            var stderr = process.StandardError.ReadToEndAsync(ct);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(CallTimeout);
            try
            {
                await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                if (ct.IsCancellationRequested)
                {
                    throw;
                }

                throw new BmcException($"ipmitool {string.Join(' ', command)} on {_host}:{_port} did not finish within {CallTimeout.TotalSeconds:0}s");
            }

            var output = await stdout.ConfigureAwait(false);
            if (process.ExitCode != 0)
            {
                var error = string.Join("; ", (await stderr.ConfigureAwait(false)).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(l => l.TrimStart('>', ' '))
                    .Where(l => !Noise.Any(n => l.StartsWith(n, StringComparison.Ordinal))));
                // RAKP failures are a wrong user or password: retrying cannot help, and some BMCs lock the account out.
                var auth = error.Contains("RAKP", StringComparison.Ordinal) || error.Contains("unauthorized name", StringComparison.OrdinalIgnoreCase)
                    || error.Contains("Invalid user name", StringComparison.OrdinalIgnoreCase);
                throw new BmcException($"ipmitool {string.Join(' ', command)} on {_host}:{_port} failed (exit {process.ExitCode}): {(error.Length == 0 ? output.Trim() : error)}{(auth ? " (the BMC refused the credentials)" : "")}", transient: !auth);
            }

            return output;
        }
    }
}
