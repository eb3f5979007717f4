using System.CommandLine;

namespace ZeroCloud.Cli;

/// <summary><c>zc down</c>: removes what <c>zc up</c> made (processes, namespaces, bridge, files). Safe to run twice.</summary>
internal static class DownCommand
{
    public static Command Build()
    {
        var downFile = new Option<string>("--file", "-f") { Description = "The cluster.yaml whose lab to remove (default: every lab zc up made here).", HelpName = "path" };
        var down = new Command("down", "Remove what zc up made: processes, namespaces, bridge, files. Safe to run twice.") { downFile };
        down.SetAction((parse, ct) => DownAsync(parse.GetValue(downFile), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        return down;
    }

    private static async Task<int> DownAsync(string? path, TextWriter stdout, TextWriter stderr)
    {
        if (Environment.UserName != "root")
        {
            stderr.WriteLine("zc down: it removes network namespaces: run it as root");
            return ZcCommand.UsageError;
        }

        List<string> clusters;
        if (path is not null)
        {
            if (!ConfigFile.TryLoad(path, stderr, out var result))
            {
                return ZcCommand.UsageError;
            }

            if (result.Config is null)
            {
                foreach (var d in result.Diagnostics)
                {
                    stderr.WriteLine(d);
                }

                return ZcCommand.Failed;
            }

            clusters = [result.Config.Metadata.Name];
        }
        else
        {
            clusters = [.. Lab.All().Select(l => l.Cluster)];
        }

        if (clusters.Count == 0)
        {
            stdout.WriteLine("zc down: no lab to remove");
            return ZcCommand.Ok;
        }

        foreach (var cluster in clusters)
        {
            var (processes, namespaces) = await Lab.RemoveAsync(cluster).ConfigureAwait(false);
            stdout.WriteLine(namespaces == 0 && processes == 0
                ? $"zc down: cluster {cluster}: nothing left to remove"
                : $"zc down: cluster {cluster}: stopped {processes} processes, removed {namespaces} namespaces and {Lab.DirectoryOf(cluster)}");
        }

        return ZcCommand.Ok;
    }
}
