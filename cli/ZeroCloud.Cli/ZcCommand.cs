using System.CommandLine;
using System.CommandLine.Invocation;
using System.Reflection;

namespace ZeroCloud.Cli;

/// <summary>The <c>zc</c> command tree. Exit codes: 0 success, 1 the command ran and found problems, 2 usage or I/O errors.</summary>
public static class ZcCommand
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int UsageError = 2;

    public static RootCommand Build()
    {
        var root = new RootCommand("zc — ZeroCloud's operator command line: turn a rack of bare servers into a private cloud that runs itself.");
        root.Subcommands.Add(ValidateCommand.Build());
        root.Subcommands.Add(ServeCommand.Build());
        root.Subcommands.Add(ImageCommand.Build());
        root.Subcommands.Add(PkiCommand.Build());
        foreach (var command in UpCommand.Build())
        {
            root.Subcommands.Add(command);
        }

        foreach (var command in ClusterCommands.Build())
        {
            root.Subcommands.Add(command);
        }

        // The default prints the entry assembly's version, which is the test host's under a test runner.
        foreach (var option in root.Options.OfType<VersionOption>())
        {
            option.Action = new PrintVersion();
        }

        return root;
    }

    private static readonly HashSet<string> ClusterVerbs = new(StringComparer.Ordinal) { "status", "get", "apply", "kv", "watch", "member", "token", "node", "audit", "operator", "secret", "storage", "power" };

    /// <summary>
    /// A lab from <c>zc up</c> keeps the cluster's addresses inside its namespaces: a cluster command without
    /// <c>--server</c> (and no $ZC_SERVER) runs again inside the seed's namespace, against the seed's API.
    /// </summary>
    private static int? LabRedirect(string[] args)
    {
        if (args.Length == 0 || !(ClusterVerbs.Contains(args[0]) || (args is ["image", "push" or "ls", ..] && !args.Contains("--built"))) || args.Any(a => a is "--server" or "-s" or "--help" or "-h" || a.StartsWith("--server=", StringComparison.Ordinal))
            || Environment.GetEnvironmentVariable("ZC_SERVER") is { Length: > 0 } || !OperatingSystem.IsLinux())
        {
            return null;
        }

        List<LabState> labs;
        try
        {
            labs = Lab.All();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            return null;
        }

        if (labs.Count != 1)
        {
            return null;
        }

        var psi = new System.Diagnostics.ProcessStartInfo("ip") { UseShellExecute = false };
        foreach (var a in (string[])["netns", "exec", labs[0].SeedNamespace, .. Artifacts.SelfCommand(), .. args])
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["ZC_SERVER"] = labs[0].Api;
        if (Environment.GetEnvironmentVariable("ZC_CREDENTIALS") is not { Length: > 0 })
        {
            psi.Environment["ZC_CREDENTIALS"] = Lab.CredentialsPath(labs[0].Cluster);
        }

        using var p = System.Diagnostics.Process.Start(psi)!;
        p.WaitForExit();
        return p.ExitCode;
    }

    /// <summary>The product version: the informational version of this assembly, with the commit when the build knew it.</summary>
    public static string Version =>
        typeof(ZcCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    private sealed class PrintVersion : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            parseResult.InvocationConfiguration.Output.WriteLine(Version);
            return Ok;
        }
    }

    /// <summary>Parses and runs <paramref name="args"/>, writing to the given streams (tests pass their own).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (LabRedirect(args) is { } code)
        {
            return code;
        }

        var root = Build();
        var result = root.Parse(args);
        var config = new InvocationConfiguration { Output = stdout, Error = stderr };
        if (result.Errors.Count > 0)
        {
            foreach (var error in result.Errors)
            {
                stderr.WriteLine($"zc: {error.Message}");
            }

            stderr.WriteLine("Run 'zc --help' for usage.");
            return UsageError;
        }

        return result.InvokeAsync(config).GetAwaiter().GetResult();
    }
}
