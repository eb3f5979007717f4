using System.Diagnostics;
using System.Security.Cryptography;

namespace ZeroCloud.Netboot.Tests.Lab;

/// <summary>
/// A throwaway L2 lab: one network namespace per host, each with an <c>eth0</c> veth whose peer sits on a
/// bridge in a switch namespace. Private addresses exist only inside it; nothing is routed out. Needs root and
/// iproute2 (scripts/setup installs the rest). Everything it made is removed on dispose.
/// </summary>
internal sealed class NetnsLab : IAsyncDisposable
{
    private readonly string _id;
    private readonly List<string> _namespaces = [];
    private readonly List<LabProcess> _processes = [];

    private NetnsLab(string id) => _id = id;

    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("zc-lab-").FullName;

    public static async Task<NetnsLab> CreateAsync(params string[] hosts)
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root")
        {
            throw new InvalidOperationException("the namespace lab needs Linux and root (run the tests as root, as CI does)");
        }

        var lab = new NetnsLab("zt" + RandomNumberGenerator.GetHexString(4, lowercase: true));
        try
        {
            var sw = lab.Add("sw");
            await Ip("netns", "add", sw);
            await Ip("-n", sw, "link", "add", "br0", "type", "bridge");
            await Ip("-n", sw, "link", "set", "br0", "up");
            for (var i = 0; i < hosts.Length; i++)
            {
                var ns = lab.Add(hosts[i]);
                string inner = $"{lab._id}{i}a", outer = $"{lab._id}{i}b";
                await Ip("netns", "add", ns);
                await Ip("link", "add", inner, "type", "veth", "peer", "name", outer);
                await Ip("link", "set", inner, "netns", ns);
                await Ip("link", "set", outer, "netns", sw);
                await Ip("-n", sw, "link", "set", outer, "master", "br0", "up");
                await Ip("-n", ns, "link", "set", inner, "name", "eth0");
                await Ip("-n", ns, "link", "set", "eth0", "up");
                await Ip("-n", ns, "link", "set", "lo", "up");
            }
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }

        return lab;
    }

    private string Add(string host)
    {
        var ns = $"{_id}-{host}";
        _namespaces.Add(ns);
        return ns;
    }

    public string Namespace(string host) => $"{_id}-{host}";

    public Task AddressAsync(string host, string cidr) => Ip("-n", Namespace(host), "addr", "add", cidr, "dev", "eth0");

    /// <summary>A tap device on the lab's bridge, for a QEMU started in the switch namespace ("sw").</summary>
    public async Task TapAsync(string name)
    {
        await Ip("-n", Namespace("sw"), "tuntap", "add", name, "mode", "tap");
        await Ip("-n", Namespace("sw"), "link", "set", name, "master", "br0", "up");
    }

    public string Id => _id;

    public Task MacAsync(string host, string mac) => Ip("-n", Namespace(host), "link", "set", "eth0", "address", mac);

    public string PathOf(string name) => Path.Combine(Directory, name);

    /// <summary>The repository's root: the folder above the tests that holds ZeroCloud.sln.</summary>
    public static string RepoRoot()
    {
        var repo = new DirectoryInfo(AppContext.BaseDirectory);
        while (repo is not null && !File.Exists(Path.Combine(repo.FullName, "ZeroCloud.sln")))
        {
            repo = repo.Parent;
        }

        return repo?.FullName ?? throw new InvalidOperationException("ZeroCloud.sln not found above the test folder");
    }

    /// <summary>The built binary (zc-dhcp, zc-netboot, zc-node, zc) of the same configuration as these tests.</summary>
    public static string ServiceBinary(string project, string assembly, string folder = "netboot")
    {
        var testOutput = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')); // tests/X/bin/<Configuration>/<tfm>
        var path = Path.Combine(RepoRoot(), folder, project, "bin", testOutput.Parent!.Name, testOutput.Name, assembly);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{path} is not built (dotnet build ZeroCloud.sln)");
    }

    /// <summary>Runs a command in <paramref name="host"/> to completion; a non-zero exit is returned, not thrown.</summary>
    public async Task<(int Code, string Output)> RunAsync(string host, TimeSpan timeout, string file, params string[] args)
    {
        var process = Start(host, file, args);
        if (!await process.WaitForExitAsync(timeout))
        {
            await process.StopAsync();
            throw new TimeoutException($"'{file} {string.Join(' ', args)}' in {host} did not finish within {timeout.TotalSeconds:0}s; output:\n{process.Output}");
        }

        return (process.ExitCode, process.Output);
    }

    /// <summary>Starts a command in <paramref name="host"/> in the background; stopped on dispose.</summary>
    public LabProcess Start(string host, string file, params string[] args)
    {
        var process = LabProcess.Start("ip", ["netns", "exec", Namespace(host), file, .. args]);
        _processes.Add(process);
        return process;
    }

    private static async Task Ip(params string[] args)
    {
        var p = LabProcess.Start("ip", args);
        if (!await p.WaitForExitAsync(TimeSpan.FromSeconds(20)) || p.ExitCode != 0)
        {
            throw new InvalidOperationException($"ip {string.Join(' ', args)} failed ({p.ExitCode}): {p.Output}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _processes)
        {
            await process.StopAsync();
        }

        foreach (var ns in Enumerable.Reverse(_namespaces))
        {
            // Anything still running in the namespace goes first, then the namespace and its links.
            var pids = LabProcess.Start("ip", ["netns", "pids", ns]);
            await pids.WaitForExitAsync(TimeSpan.FromSeconds(10));
            foreach (var pid in pids.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (int.TryParse(pid, out var id))
                {
                    try
                    {
                        Process.GetProcessById(id).Kill(entireProcessTree: true);
                    }
                    catch (ArgumentException)
                    {
                    }
                }
            }

            await LabProcess.Start("ip", ["netns", "del", ns]).WaitForExitAsync(TimeSpan.FromSeconds(10));
        }

        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A child process whose output (stdout and stderr, interleaved by line) can be awaited line by line.</summary>
internal sealed class LabProcess
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
