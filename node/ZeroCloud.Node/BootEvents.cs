using ZeroCloud.Model.Api;

namespace ZeroCloud.Node;

/// <summary>Where <c>--events FILE</c> sends the boot's phases: one JSON line each, appended and flushed.</summary>
internal static class BootEvents
{
    /// <summary>
    /// The events on the console, one line each behind <see cref="ZeroCloud.Model.Api.BootEvent.ConsolePrefix"/>: what
    /// a machine booted from the network reports, for whoever reads its serial console (the lab's QEMU machines).
    /// </summary>
    public static Action<BootEvent> ToConsole(Action<string> console) => e => console(BootEvent.ConsolePrefix + e.ToLine());

    public static Action<BootEvent> ToFile(string path)
    {
        var gate = new Lock();
        return e =>
        {
            lock (gate)
            {
                File.AppendAllText(path, e.ToLine() + "\n");
            }
        };
    }
}
