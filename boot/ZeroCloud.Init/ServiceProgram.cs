using System.CommandLine;

namespace ZeroCloud.Init;

/// <summary>
/// The entry point every service binary shares: as /init of its image, PID 1 brings the machine up and the command
/// runs with the arguments from zc.config / zc.args; as a process, it runs with its own arguments (exit 2 on usage errors).
/// </summary>
public static class ServiceProgram
{
    public static int Main(string name, RootCommand root, string[] args, params string[] imageDefaults)
    {
        if (SystemInit.IsPid1)
        {
            return SystemInit.Run(name, async init => await root.Parse(await SystemInit.ServiceArgumentsAsync(init, imageDefaults).ConfigureAwait(false)).InvokeAsync().ConfigureAwait(false));
        }

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors)
            {
                Console.Error.WriteLine($"zc-{name}: {error.Message}");
            }

            return 2;
        }

        return parse.Invoke();
    }
}
