using ZeroCloud.Model.Api;

namespace ZeroCloud.Node;

/// <summary>Where <c>--events FILE</c> sends the boot's phases: one JSON line each, appended and flushed.</summary>
internal static class BootEvents
{
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
