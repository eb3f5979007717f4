namespace ZeroCloud.Cli.Tests;

/// <summary>Runs the zc command tree in-process, capturing what it writes.</summary>
internal static class Zc
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = ZcCommand.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
