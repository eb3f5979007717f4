using Microsoft.Extensions.Logging;

namespace ZeroCloud.Node;

/// <summary>
/// The agent's logger: one line per message, "zc-node: …" (warnings and errors say so), to the sink it is given —
/// standard error for a process, the console through init for PID 1. Small on purpose: the node image carries no
/// logging framework, only the abstractions.
/// </summary>
internal sealed class LineLogger(Action<string> sink, LogLevel minimum = LogLevel.Information) : ILogger
{
    public static LineLogger StandardError { get; } = new(line => Console.Error.WriteLine(line));

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum && logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel))
        {
            return;
        }

        var level = logLevel switch
        {
            LogLevel.Warning => "warning: ",
            LogLevel.Error or LogLevel.Critical => "error: ",
            _ => "",
        };
        sink($"zc-node: {level}{formatter(state, exception)}{(exception is null ? "" : $" ({exception.GetType().Name}: {exception.Message})")}");
    }
}
