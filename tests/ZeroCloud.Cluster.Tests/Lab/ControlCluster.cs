using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Cluster.Tests.Lab;

/// <summary>One `zc serve control` process on loopback, with its own data folder; it can be killed and restarted.</summary>
internal sealed class ControlMember : IAsyncDisposable
{
    private readonly StringBuilder _output = new();
    private readonly string[] _extraArgs;
    private Process? _process;

    public ControlMember(string name, string dataDirectory, string[] extraArgs)
    {
        Name = name;
        DataDirectory = dataDirectory;
        ApiPort = ControlCluster.FreePort();
        RaftPort = ControlCluster.FreePort();
        SiloPort = ControlCluster.FreePort();
        _extraArgs = extraArgs;
        Http = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
        Client = new ControlClient(new Uri(Api), Http);
    }

    /// <summary>An HTTP client that trusts the cluster's root (once <see cref="Connect"/> gave it one).</summary>
    public HttpClient Http { get; private set; }

    /// <summary>From now on <see cref="Client"/> and <see cref="Http"/> trust <paramref name="trust"/> and send <paramref name="credential"/>.</summary>
    public void Connect(ZeroCloud.Model.Pki.ClusterTrust trust, string? credential)
    {
        Http = trust.Client(TimeSpan.FromSeconds(20));
        Client = new ControlClient(new Uri(Api), Http) { Token = credential };
    }

    public string Name { get; }

    public string DataDirectory { get; }

    public int ApiPort { get; }

    public int RaftPort { get; }

    public int SiloPort { get; }

    public string Api => $"https://127.0.0.1:{ApiPort}";

    public string RaftId => $"127.0.0.1:{RaftPort}";

    public ControlClient Client { get; private set; }

    public bool IsRunning => _process is { HasExited: false };

    public int? Pid => _process is { HasExited: false } p ? p.Id : null;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Environment variables every start of this member gets (a test hook, say).</summary>
    public Dictionary<string, string> Environment { get; } = new(StringComparer.Ordinal);

    /// <summary>Arguments every start of this member gets (a joining member's --token-file).</summary>
    public string[] Identity { get; set; } = [];

    /// <summary>Starts the process (again) with the same identity, data and first arguments.</summary>
    public void Start(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in (string[])[ControlCluster.ZcDll, "serve", "control", "--data", DataDirectory, "--listen", $"127.0.0.1:{ApiPort}", "--raft", RaftId, "--name", Name, .. (_extraArgs.Contains("--no-silo") ? (string[])[] : ["--silo-port", $"{SiloPort}"]), .. _extraArgs, .. Identity, .. args])
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (name, value) in Environment)
        {
            psi.Environment[name] = value;
        }

        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        process.Exited += (_, _) => Append($"[process exited with code {process.ExitCode}]");
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Append(Name).Append(": ").AppendLine(line);
        }
    }

    /// <summary>SIGTERM, then waits up to <paramref name="timeout"/> for the exit: its exit code, or null when it is still running (then it is killed).</summary>
    public async Task<int?> TerminateAsync(TimeSpan timeout)
    {
        if (_process is not { HasExited: false } p)
        {
            return _process?.ExitCode;
        }

        using (var term = Process.Start("kill", ["-TERM", $"{p.Id}"]))
        {
            await term.WaitForExitAsync();
        }

        using var wait = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(wait.Token);
            return p.ExitCode;
        }
        catch (OperationCanceledException)
        {
            await KillAsync();
            return null;
        }
    }

    /// <summary>Waits until the process has exited and its output is all read; its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        var p = _process ?? throw new InvalidOperationException($"{Name} was never started");
        using var wait = new CancellationTokenSource(timeout);
        await p.WaitForExitAsync(wait.Token);
        return p.ExitCode;
    }

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
        Client.Dispose();
    }
}

/// <summary>A control plane of separate processes on loopback, for tests; everything it made goes away on dispose.</summary>
internal sealed class ControlCluster : IAsyncDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("zc-control-").FullName;
    private readonly string[] _memberArgs;

    public ControlCluster(params string[] memberArgs) => _memberArgs = memberArgs;

    /// <summary>Environment variables every member gets (set before the first member starts).</summary>
    public Dictionary<string, string> Environment { get; } = new(StringComparer.Ordinal);

    public List<ControlMember> Members { get; } = [];

    public static string ZcDll { get; } = ZeroCloud.TestSupport.NetnsLab.ServiceBinary("ZeroCloud.Cli", "zc.dll", "cli");

    /// <summary>Starts a member: the first with --bootstrap, the others with --peers pointing at the running ones.</summary>
    public ControlMember Add(string? name = null, bool bootstrap = false)
    {
        name ??= $"m{Members.Count + 1}";
        var member = new ControlMember(name, Path.Combine(_root, name), _memberArgs);
        foreach (var (key, value) in Environment)
        {
            member.Environment[key] = value;
        }

        var running = Members.Where(m => m.IsRunning).Select(m => m.Api).ToList();
        if (bootstrap || running.Count == 0)
        {
            member.Start("--bootstrap");
        }
        else
        {
            // A member started by hand joins with the admin credential the bootstrapped one made, and the root.
            member.Connect(Trust!, AdminCredential);
            member.Identity = ["--token-file", AdminCredentialFile!, "--ca-file", CaFile!];
            member.Start("--peers", string.Join(',', running));
        }

        Members.Add(member);
        return member;
    }

    /// <summary>A cluster of Raft members and APIs only (no Orleans silos: less to start, less CPU).</summary>
    public static Task<ControlCluster> StartAsync(int size, params string[] memberArgs) =>
        StartWithSilosAsync(size, [.. memberArgs, "--no-silo"]);

    /// <summary>A cluster whose members also host Orleans silos.</summary>
    public static Task<ControlCluster> StartWithSilosAsync(int size, params string[] memberArgs) =>
        StartWithSilosAsync(size, new Dictionary<string, string>(), memberArgs);

    /// <summary>A cluster whose members also host Orleans silos, each started with <paramref name="environment"/>.</summary>
    public static async Task<ControlCluster> StartWithSilosAsync(int size, IReadOnlyDictionary<string, string> environment, params string[] memberArgs)
    {
        var cluster = new ControlCluster(memberArgs);
        foreach (var (key, value) in environment)
        {
            cluster.Environment[key] = value;
        }

        cluster.Add(bootstrap: true);
        await cluster.WaitForAdminAsync(cluster.Members[0]);
        await cluster.WaitForAsync(async () => (await cluster.Members[0].Client.StatusAsync()).Role == "leader", "the first member to lead");
        for (var i = 1; i < size; i++)
        {
            cluster.Add();
            await cluster.WaitForMembersAsync(i + 1);
        }

        return cluster;
    }

    /// <summary>The admin credential the bootstrapped member made (null until <see cref="WaitForAdminAsync"/>).</summary>
    public string? AdminCredential { get; private set; }

    /// <summary>The operator's credentials file the bootstrapped member wrote (for zc: $ZC_CREDENTIALS).</summary>
    public string? CredentialsFile => AdminCredentialFile is null ? null : Path.Combine(Path.GetDirectoryName(AdminCredentialFile)!, "credentials.json");

    /// <summary>The cluster's root certificate (the bootstrapped member's pki/root.crt), and the trust in it.</summary>
    public string? CaFile { get; private set; }

    public ZeroCloud.Model.Pki.ClusterTrust? Trust { get; private set; }

    /// <summary>The file the bootstrapped member keeps it in.</summary>
    public string? AdminCredentialFile { get; private set; }

    /// <summary>Waits for the admin credential <paramref name="bootstrapped"/> makes; every member's client uses it from then on.</summary>
    public async Task WaitForAdminAsync(ControlMember bootstrapped)
    {
        var file = Path.Combine(bootstrapped.DataDirectory, "admin-credential");
        var root = Path.Combine(bootstrapped.DataDirectory, "pki", "root.crt");
        await WaitForAsync(() => Task.FromResult(File.Exists(file) && File.ReadAllText(file).Trim().Length > 0 && File.Exists(root)), "the admin credential and the CA made at bootstrap");
        AdminCredentialFile = file;
        AdminCredential = File.ReadAllText(file).Trim();
        CaFile = Path.Combine(bootstrapped.DataDirectory, "pki", "root.crt");
        Trust = ZeroCloud.Model.Pki.ClusterTrust.FromFile(CaFile);
        foreach (var m in Members)
        {
            m.Connect(Trust, AdminCredential);
        }
    }

    /// <summary>Waits until <paramref name="via"/> lists <paramref name="count"/> active silos.</summary>
    public Task WaitForActiveSilosAsync(int count, ControlMember via, string? what = null) =>
        WaitForAsync(
            async () => ((await via.Client.StatusAsync()).Silos ?? []).Count(s => s.Status == "active") == count,
            what ?? $"{count} active silos",
            TimeSpan.FromSeconds(60));

    public async Task WaitForMembersAsync(int count, ControlMember? via = null)
    {
        await WaitForAsync(
            async () =>
            {
                var members = await (via ?? Leader()).Client.MembersAsync();
                return members.Members.Count == count && members.Members.All(m => m.Status == MemberStatus.Available);
            },
            $"{count} available members");
    }

    /// <summary>The running member that says it leads (the first one that answers so).</summary>
    public ControlMember Leader()
    {
        foreach (var m in Members.Where(m => m.IsRunning))
        {
            try
            {
                if (m.Client.StatusAsync().GetAwaiter().GetResult().Role == "leader")
                {
                    return m;
                }
            }
            catch (ControlApiException)
            {
                // not up yet
            }
        }

        throw new InvalidOperationException("no running member leads");
    }

    public async Task<ControlMember> WaitForLeaderAsync(ControlMember? notThis = null)
    {
        ControlMember? leader = null;
        await WaitForAsync(
            () =>
            {
                try
                {
                    leader = Leader();
                    return Task.FromResult(leader != notThis);
                }
                catch (InvalidOperationException)
                {
                    return Task.FromResult(false);
                }
            },
            "a leader");
        return leader!;
    }

    /// <summary>Runs <c>dotnet &lt;dll&gt; args</c> to completion (30 s at most): exit code and stdout + stderr.</summary>
    public static Task<(int Code, string Output)> RunDllAsync(string dll, params string[] args) => RunDllAsync(dll, null, args);

    /// <summary>Runs a dll with <paramref name="credentials"/> as $ZC_CREDENTIALS (zc's credentials file) when given.</summary>
    public static async Task<(int Code, string Output)> RunDllAsync(string dll, string? credentials, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        if (credentials is not null)
        {
            psi.Environment["ZC_CREDENTIALS"] = credentials;
        }

        foreach (var a in (string[])[dll, .. args])
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await p.WaitForExitAsync(timeout.Token);
        return (p.ExitCode, await stdout + await stderr);
    }

    /// <summary>The join token made at bootstrap (waits for it).</summary>
    public async Task<string> JoinTokenAsync()
    {
        string? token = null;
        await WaitForAsync(
            async () =>
            {
                var tokens = await Members.First(m => m.IsRunning).Client.TokensAsync();
                token = tokens.Tokens.Count > 0 ? $"{tokens.Tokens[0].Id}.{tokens.Tokens[0].Secret}" : null;
                return token is not null;
            },
            "the bootstrap join token");
        return token!;
    }

    /// <summary>A client of <paramref name="via"/> that sends the join token, as an agent does.</summary>
    public static ControlClient NodeClient(ControlMember via, string token) =>
        new(new Uri(via.Api), via.Http) { Token = token };

    public async Task WaitForAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = Stopwatch.StartNew();
        Exception? last = null;
        while (deadline.Elapsed < (timeout ?? TimeSpan.FromSeconds(30)))
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is ControlApiException or HttpRequestException or InvalidOperationException)
            {
                last = ex;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"waited {(timeout ?? TimeSpan.FromSeconds(30)).TotalSeconds:0}s for {what}; last error: {last?.Message}\n{Logs()}\n{await RaftStatesAsync()}");
    }

    /// <summary>What each running member says of its Raft state (last in a failure's message, where a log's tail shows it).</summary>
    public async Task<string> RaftStatesAsync()
    {
        var lines = new List<string>();
        foreach (var m in Members.Where(m => m.IsRunning))
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
                var s = await m.Client.StatusAsync(timeout.Token);
                lines.Add($"{m.Name} says: {s.Role}, term {s.Term}, leader {s.Leader ?? "none"}, commit {s.CommitIndex}, last {s.LastIndex}, members "
                    + string.Join(' ', s.Members.Select(x => $"{x.Id}={x.Status}{(x.Leader ? "*" : "")}")));
            }
            catch (Exception ex) when (ex is ControlApiException or HttpRequestException or OperationCanceledException or InvalidOperationException)
            {
                lines.Add($"{m.Name}: no status ({ex.Message})");
            }
        }

        return string.Join("\n", lines);
    }

    public string Logs()
    {
        var states = Members.Select(m => $"{m.Name}: pid {m.Pid?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}, api {m.ApiPort}, raft {m.RaftPort}, " +
            (m.Pid is { } pid && File.Exists($"/proc/{pid}/status") ? File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("State", StringComparison.Ordinal)) : "gone"));
        string sockets;
        try
        {
            using var ss = Process.Start(new ProcessStartInfo("ss", "-ltnp") { RedirectStandardOutput = true })!;
            sockets = ss.StandardOutput.ReadToEnd();
            ss.WaitForExit();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            sockets = ex.Message;
        }

        return string.Join("\n", states) + "\n" + sockets + "\n" + string.Join("\n", Members.Select(m => m.Output));
    }

    private static readonly HashSet<int> HandedOut = [];

    /// <summary>A port nothing listens on, never the same one twice in a test run (the kernel may hand one out again).</summary>
    public static int FreePort()
    {
        lock (HandedOut)
        {
            while (true)
            {
                using var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                var port = ((IPEndPoint)listener.LocalEndpoint).Port;
                if (HandedOut.Add(port))
                {
                    return port;
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var m in Members)
        {
            await m.DisposeAsync();
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // a file still held; the temp folder is cleaned by the OS
        }
    }
}
