using System.Text.Json.Serialization;

namespace ZeroCloud.Model.Api;

/// <summary>A node's liveness as its grain decides it (written to <c>/zc/nodes/&lt;name&gt;</c> on every transition).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<NodeStatus>))]
public enum NodeStatus
{
    /// <summary>Never heard from (no record yet).</summary>
    Unknown,

    /// <summary>Heartbeating: placements go here.</summary>
    Ready,

    /// <summary>Silent past <c>nodes.heartbeat</c> × 3 (at most half of downAfter): keeps its instances, gets no new ones.</summary>
    Suspect,

    /// <summary>Silent past <c>nodes.downAfter</c>: its instances and its voter are placed elsewhere.</summary>
    Down,

    /// <summary>Under <c>nodes.enroll: approve</c>: heartbeating, waiting for an operator's <c>zc node approve</c>; gets nothing.</summary>
    Pending,
}

/// <summary>An instance's state as its node's agent reports it (<c>/zc/instance-state/&lt;node&gt;/&lt;id&gt;</c>).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<InstanceState>))]
public enum InstanceState
{
    Pending,
    Starting,
    Running,

    /// <summary>It exited with a non-zero code, or could not start (the detail says why); it is restarted with backoff.</summary>
    Failed,

    /// <summary>It exited with 0; it is restarted too.</summary>
    Stopped,
}

/// <summary>A Raft member's reachability as a member sees it.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<MemberStatus>))]
public enum MemberStatus
{
    [JsonStringEnumMemberName("unknown")]
    Unknown,

    [JsonStringEnumMemberName("available")]
    Available,

    [JsonStringEnumMemberName("unavailable")]
    Unavailable,
}

/// <summary>The statuses as the API writes them (and the CLI prints them).</summary>
public static class StatusText
{
    public static string Text(this MemberStatus status) => status switch
    {
        MemberStatus.Available => "available",
        MemberStatus.Unavailable => "unavailable",
        _ => "unknown",
    };
}
