using System.Diagnostics;
using System.Globalization;

namespace ZeroCloud.Cluster.Tests.Lab;

/// <summary>
/// OpenIPMI's <c>ipmi_sim</c> (Debian's openipmi) as a machine's BMC on 127.0.0.1: IPMI 2.0 over the LAN with user
/// <see cref="User"/>/<see cref="Password"/>, its chassis wired to a script that keeps the machine's power and boot device
/// in files, logs every call, applies a PXE-once boot flag at the next power-on or reset (the flag is then spent, as on
/// a real BMC), and fails the next <see cref="FailNext"/> calls the way a busy BMC does.
/// </summary>
internal sealed class IpmiSim : IAsyncDisposable
{
    public const string User = "admin";
    public const string Password = "s3cret-bmc";

    /// <summary>What ipmi_sim offers (it does not answer Get Channel Cipher Suites: without -C each call waits seconds for it).</summary>
    public const int CipherSuite = 3;

    private readonly string _dir;
    private readonly Process _process;

    private IpmiSim(string dir, int port, Process process)
    {
        _dir = dir;
        Port = port;
        _process = process;
    }

    public int Port { get; }

    public string Address => $"127.0.0.1:{Port}";

    /// <summary>The chassis script's calls, oldest first: <c>get power</c>, <c>set boot pxe</c>, <c>set reset 1</c> …</summary>
    public IReadOnlyList<string> Calls => File.Exists(Path.Combine(_dir, "calls")) ? File.ReadAllLines(Path.Combine(_dir, "calls")).Select(l => l.Trim()).ToList() : [];

    /// <summary>The machine's boots, oldest first, each with the device it booted from (<c>pxe</c> or <c>default</c>).</summary>
    public IReadOnlyList<string> Boots => File.Exists(Path.Combine(_dir, "boots")) ? File.ReadAllLines(Path.Combine(_dir, "boots")) : [];

    public bool PoweredOn => File.ReadAllText(Path.Combine(_dir, "power")).Trim() == "1";

    /// <summary>The calls the chassis fails from now on before it answers again.</summary>
    public int FailNext { set => File.WriteAllText(Path.Combine(_dir, "fail"), value.ToString(CultureInfo.InvariantCulture)); }

    public void ClearCalls() => File.Delete(Path.Combine(_dir, "calls"));

    public static async Task<IpmiSim> StartAsync(bool poweredOn = false)
    {
        var dir = Directory.CreateTempSubdirectory("zc-ipmi-").FullName;
        var port = ControlCluster.FreePort();
        await File.WriteAllTextAsync(Path.Combine(dir, "power"), poweredOn ? "1\n" : "0\n");
        await File.WriteAllTextAsync(Path.Combine(dir, "boot"), "default\n");
        await File.WriteAllTextAsync(Path.Combine(dir, "fail"), "0\n");
        var chassis = Path.Combine(dir, "chassis");
        // Called as: chassis get <param>... | chassis set <param> <value> ...
        await File.WriteAllTextAsync(chassis, $$"""
            #!/bin/sh
            d={{dir}}
            echo "$*" >> $d/calls
            n=$(cat $d/fail)
            if [ "$n" -gt 0 ]; then echo $((n - 1)) > $d/fail; echo "BMC busy"; exit 1; fi
            op=$1; shift
            boot() { echo "$(cat $d/boot)" >> $d/boots; [ "$(cat $d/boot)" = pxe ] && echo default > $d/boot; }
            if [ "$op" = get ]; then
              for p in "$@"; do
                case $p in
                  power) echo "power:$(cat $d/power)" ;;
                  boot) echo "boot:$(cat $d/boot)" ;;
                esac
              done
              exit 0
            fi
            while [ $# -ge 2 ]; do
              case $1 in
                power) [ "$2" = 1 ] && [ "$(cat $d/power)" = 0 ] && boot; echo $2 > $d/power ;;
                reset) [ "$(cat $d/power)" = 1 ] && boot ;;
                boot) echo $2 > $d/boot ;;
              esac
              shift 2
            done
            """.Replace("\r", "", StringComparison.Ordinal));
        if (OperatingSystem.IsLinux())
        {
            File.SetUnixFileMode(chassis, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        await File.WriteAllTextAsync(Path.Combine(dir, "lan.conf"), $$"""
            name "zc-test-bmc"
            set_working_mc 0x20
              startlan 1
                addr 127.0.0.1 {{port}}
                priv_limit admin
                allowed_auths_callback none md2 md5 straight
                allowed_auths_user none md2 md5 straight
                allowed_auths_operator none md2 md5 straight
                allowed_auths_admin none md2 md5 straight
                guid a123456789abcdefa123456789abcdef
              endlan
              chassis_control "{{chassis}}"
            user 2 true  "{{User}}" "{{Password}}" admin 10 none md2 md5 straight
            """);
        await File.WriteAllTextAsync(Path.Combine(dir, "cmds"), """
            mc_setbmc 0x20
            mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
            mc_enable 0x20

            """);
        Directory.CreateDirectory(Path.Combine(dir, "state"));
        var psi = new ProcessStartInfo("ipmi_sim") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])["-c", Path.Combine(dir, "lan.conf"), "-f", Path.Combine(dir, "cmds"), "-s", Path.Combine(dir, "state"), "-n"])
        {
            psi.ArgumentList.Add(a);
        }

        var process = Process.Start(psi)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var sim = new IpmiSim(dir, port, process);
        // Up when it answers over the LAN.
        using var driver = new ZeroCloud.Cluster.Power.IpmiDriver(sim.Address, User, Password) { CipherSuite = CipherSuite };
        for (var i = 0; ; i++)
        {
            try
            {
                await driver.StatusAsync(CancellationToken.None);
                sim.ClearCalls();
                return sim;
            }
            catch (ZeroCloud.Cluster.Power.BmcException) when (i < 50 && !process.HasExited)
            {
                await Task.Delay(100);
            }
            catch (ZeroCloud.Cluster.Power.BmcException ex)
            {
                await sim.DisposeAsync();
                throw new InvalidOperationException($"ipmi_sim did not answer on {sim.Address}: {ex.Message}", ex);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
