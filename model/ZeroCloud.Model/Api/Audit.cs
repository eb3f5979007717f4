using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;

namespace ZeroCloud.Model.Api;

/// <summary>One entry of the audit log (<c>/zc/audit/&lt;time&gt;-&lt;random&gt;</c>): who did what to which subject, when.</summary>
public sealed record AuditDto(DateTime At, string Who, string Action, string Subject, string? Detail = null);

public sealed record AuditResponse(IReadOnlyList<AuditDto> Entries);

/// <summary>
/// The audit log: enrollments, approvals, refused joins, member changes and token changes, kept in the store. Keys
/// sort by time, so the oldest go first when the log is trimmed to <see cref="Keep"/> entries.
/// </summary>
public static class Audit
{
    /// <summary>Entries kept; the leader trims the oldest beyond this.</summary>
    public const int Keep = 10_000;

    public const string Enrolled = "enrolled";
    public const string Approved = "approved";
    public const string Refused = "refused";
    public const string MemberAdded = "member-added";
    public const string MemberRemoved = "member-removed";
    public const string TokenCreated = "token-created";
    public const string OperatorCreated = "operator-created";
    public const string OperatorRevoked = "operator-revoked";
    public const string CertificateIssued = "certificate-issued";
    public const string SecretSet = "secret-set";
    public const string SecretRemoved = "secret-removed";
    public const string ImagePushed = "image-pushed";
    public const string Power = "power";

    /// <summary>The key and value of a new entry, to put in the same transaction as the change it records where there is one.</summary>
    public static (string Key, string Value) Entry(string who, string action, string subject, string? detail = null)
    {
        var at = DateTime.UtcNow;
        var key = $"{StoreKeys.Audit}{at.ToString("yyyyMMdd'T'HHmmss.fffffff'Z'", CultureInfo.InvariantCulture)}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";
        return (key, JsonSerializer.Serialize(new AuditDto(at, who, action, subject, detail), ControlJsonContext.Default.AuditDto));
    }

    /// <summary>The entry as a put of a transaction.</summary>
    public static OpDto Op(string who, string action, string subject, string? detail = null)
    {
        var (key, value) = Entry(who, action, subject, detail);
        return new OpDto("put", key, value);
    }
}
