using System.Collections.Concurrent;
using System.Diagnostics;

namespace ZeroCloud.Init;

/// <summary>
/// The processes PID 1 started through <see cref="System.Diagnostics.Process"/> (services, mkfs, QEMU): .NET waits for
/// them and reads their exit status, so PID 1's reaper must leave them alone and reap only the orphans the kernel
/// hands it. A reaper that took them (waitpid(-1)) left .NET waiting for an exit it never saw.
/// </summary>
public static class Children
{
    private static readonly ConcurrentDictionary<int, byte> Ours = new();

    /// <summary>Starts <paramref name="process"/> and records it as one of ours until it has exited.</summary>
    public static void Start(Process process)
    {
        process.Start();
        Ours[process.Id] = 0;
        process.EnableRaisingEvents = true;
        var pid = process.Id;
        process.Exited += (_, _) => Ours.TryRemove(pid, out _);
        if (process.HasExited)
        {
            Ours.TryRemove(pid, out _);
        }
    }

    /// <summary>Starts a process from <paramref name="info"/> (see <see cref="Start(Process)"/>).</summary>
    public static Process Start(ProcessStartInfo info)
    {
        var process = new Process { StartInfo = info };
        Start(process);
        return process;
    }

    public static bool IsOurs(int pid) => Ours.ContainsKey(pid);

    /// <summary>
    /// PID 1's reaper: waits for any child to exit without reaping it; one of ours is left to .NET, any other (an orphan)
    /// is reaped once it is still not ours after a moment (a process just started may exit before it is recorded).
    /// </summary>
    public static void Reap()
    {
        while (true)
        {
            var pid = Linux.NextExited();
            if (pid <= 0)
            {
                Thread.Sleep(1000); // no children yet
                continue;
            }

            if (IsOurs(pid))
            {
                Thread.Sleep(50); // .NET reaps it on its SIGCHLD
                continue;
            }

            Thread.Sleep(200);
            if (!IsOurs(pid))
            {
                Linux.Reap(pid);
            }
        }
    }
}
