using System.Runtime.InteropServices;

namespace ZeroCloud.Node.Runtime;

internal static partial class Native
{
    public const int SIGTERM = 15;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);
}
