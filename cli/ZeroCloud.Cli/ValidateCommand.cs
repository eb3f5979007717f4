using System.CommandLine;
using ZeroCloud.Model.Config;

namespace ZeroCloud.Cli;

/// <summary><c>zc validate [-f cluster.yaml]</c>: every problem at once, as file:line:column: path: message.</summary>
internal static class ValidateCommand
{
    public static Command Build()
    {
        var file = new Option<string>("--file", "-f")
        {
            Description = "The cluster.yaml to check.",
            DefaultValueFactory = _ => "cluster.yaml",
            HelpName = "path",
        };
        var command = new Command("validate", "Check a cluster.yaml and report every problem with its line and column.") { file };
        command.SetAction(parse => Execute(parse.GetValue(file)!, parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        return command;
    }

    internal static int Execute(string path, TextWriter stdout, TextWriter stderr)
    {
        if (!ConfigFile.TryLoad(path, stderr, out var result))
        {
            return ZcCommand.UsageError;
        }

        if (!result.IsValid)
        {
            foreach (var diagnostic in result.Diagnostics)
            {
                stdout.WriteLine(diagnostic);
            }

            var count = result.Diagnostics.Length;
            stderr.WriteLine($"{path}: {count} problem{(count == 1 ? "" : "s")}; nothing was applied");
            return ZcCommand.Failed;
        }

        stdout.WriteLine($"{path}: ok — {Summary(result.Config!)}");
        return ZcCommand.Ok;
    }

    internal static string Summary(ClusterConfig config)
    {
        var services = config.Spec.Services.Length;
        var known = config.Spec.Nodes.Known.Length;
        return $"{services} service{(services == 1 ? "" : "s")}, {known} known node{(known == 1 ? "" : "s")}, control plane {config.Spec.ControlPlane.Replicas}";
    }
}
