using System.Runtime.InteropServices;

namespace ZeroCloud.Node.Runtime;

internal static partial class Native
{
    public const int SIGTERM = 15;

    /// <summary>execv(3): replaces this process with <paramref name="path"/>; returns only on failure. <paramref name="argv"/> ends with null.</summary>
    [LibraryImport("libc", EntryPoint = "execv", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Execv(string path, string?[] argv);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);
}
