namespace ZeroCloud.Model.Api;

/// <summary>
/// Who may do what on the API. Operators hold <see cref="Admin"/> (everything) or <see cref="ReadOnly"/> (every read but
/// credentials); a node may heartbeat as itself, read, write its own instance states, and what the services placed on
/// it need (a dhcp instance: the leases; a voter: what a member writes); a join token or a ticket only enrolls.
/// </summary>
public static class Roles
{
    public const string Admin = "admin";

    public const string ReadOnly = "read-only";

    public const string Node = "node";

    /// <summary>What an operator credential may be.</summary>
    public static bool IsOperatorRole(string? role) => role is Admin or ReadOnly;

    /// <summary>What an operator credential looks like in a bearer header: <c>op:&lt;id&gt;.&lt;secret&gt;</c>.</summary>
    public const string OperatorPrefix = "op:";

    /// <summary>How long an operator credential lives unless asked otherwise (the one made at bootstrap lives a year).</summary>
    public static readonly TimeSpan OperatorLifetime = TimeSpan.FromHours(1);

    /// <summary>How long the admin credential made at bootstrap lives.</summary>
    public static readonly TimeSpan BootstrapAdminLifetime = TimeSpan.FromDays(365);
}
