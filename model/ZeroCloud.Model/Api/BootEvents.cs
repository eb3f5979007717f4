using System.Text.Json;
using System.Text.Json.Serialization;

namespace ZeroCloud.Model.Api;

/// <summary>How far a machine got from power-on to a node of the cluster, in order.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<BootPhase>))]
public enum BootPhase
{
    PoweredOn,

    /// <summary>The firmware has an address and a boot file (PXE DHCP).</summary>
    Dhcp,

    /// <summary>The boot loader came over TFTP.</summary>
    Tftp,

    /// <summary>iPXE has its address and the URL of its script.</summary>
    Ipxe,

    /// <summary>The kernel and initrd came over HTTP and match the manifest.</summary>
    Http,

    /// <summary>The node image runs: the agent starts with the script's kernel command line.</summary>
    Booted,

    /// <summary>The control plane answered the agent's first heartbeat.</summary>
    Joined,

    /// <summary>A boot attempt failed (the firmware tries again); the detail says why.</summary>
    Failed,
}

/// <summary>One step of a machine's boot as <c>zc-node --events FILE</c> writes it: one JSON object per line.</summary>
public sealed record BootEvent(BootPhase Phase, DateTime At, string? Address = null, string? Name = null, string? Detail = null)
{
    /// <summary>Reads the events in <paramref name="text"/>, skipping a torn last line (the writer may be mid-line).</summary>
    public static IReadOnlyList<BootEvent> ReadAll(string text)
    {
        var events = new List<BootEvent>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            try
            {
                if (JsonSerializer.Deserialize(line, BootEventJsonContext.Default.BootEvent) is { } e)
                {
                    events.Add(e);
                }
            }
            catch (JsonException)
            {
                // a line being written
            }
        }

        return events;
    }

    /// <summary>What precedes an event on a machine's console (the node image's agent writes its events there).</summary>
    public const string ConsolePrefix = "zc.event ";

    /// <summary>
    /// The events in a console's text: the JSON after <see cref="ConsolePrefix"/> on each line that has it (anything before
    /// it on the line, such as a kernel message that got there first, is ignored); other lines are not events.
    /// </summary>
    public static IReadOnlyList<BootEvent> ReadConsole(string text) =>
        ReadAll(string.Join('\n', text.Split('\n').Select(l => l.IndexOf(ConsolePrefix, StringComparison.Ordinal) is var i and >= 0 ? l[(i + ConsolePrefix.Length)..] : "")));

    /// <summary>The event as one line of JSON (no newline).</summary>
    public string ToLine() => JsonSerializer.Serialize(this, BootEventJsonContext.Default.BootEvent);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(BootEvent))]
public sealed partial class BootEventJsonContext : JsonSerializerContext;
