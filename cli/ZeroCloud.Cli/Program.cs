namespace ZeroCloud.Cli;

public static class Program
{
    public static int Main(string[] args) => ZcCommand.Run(args, Console.Out, Console.Error);
}
