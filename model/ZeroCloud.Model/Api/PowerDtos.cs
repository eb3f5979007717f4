namespace ZeroCloud.Model.Api;

/// <summary>What <c>zc power</c> asks of a machine's BMC.</summary>
public static class PowerActions
{
    /// <summary>Read the power state.</summary>
    public const string Status = "status";

    /// <summary>Power on, then read it back.</summary>
    public const string On = "on";

    /// <summary>Force off (no graceful shutdown: a node has nothing to save), then read it back.</summary>
    public const string Off = "off";

    /// <summary>Hard reset when on, power on when off, then read it back.</summary>
    public const string Cycle = "cycle";

    /// <summary>Boot from the network once (PXE), then as <see cref="Cycle"/>: the machine boots the node image again.</summary>
    public const string Pxe = "pxe";

    public static readonly IReadOnlyList<string> All = [Status, On, Off, Cycle, Pxe];
}

/// <summary>The states of a power job and of its steps.</summary>
public static class PowerJobStates
{
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";

    /// <summary>A step not run because an earlier one failed.</summary>
    public const string Skipped = "skipped";
}

/// <summary>POST /v1/nodes/&lt;name&gt;/power: one of <see cref="PowerActions.All"/>.</summary>
public sealed record PowerRequest(string Action);

/// <summary>One ordered step of a power job: how many attempts it took and what the BMC said.</summary>
public sealed record PowerStepDto(string Name, string State, int Attempts, string? Detail = null, string? Error = null);

/// <summary>
/// A recorded power job (<c>/zc/power/jobs/&lt;node&gt;/&lt;id&gt;</c>): who asked for what on which machine's BMC, the steps in
/// order, and the power state read back at the end (<c>on</c>, <c>off</c>, or null when the BMC could not be read).
/// </summary>
public sealed record PowerJobDto(
    string Id,
    string Node,
    string Action,
    string Bmc,
    string Who,
    string Member,
    DateTime Started,
    DateTime? Finished,
    string State,
    string? Power,
    IReadOnlyList<PowerStepDto> Steps,
    string? Error = null);

public sealed record PowerJobsResponse(IReadOnlyList<PowerJobDto> Jobs);
