using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Orleans;

/// <summary>A membership row as the store keeps it.</summary>
public sealed record SiloRow(
    string Address,
    int Status,
    int ProxyPort,
    string? HostName,
    string? SiloName,
    string? RoleName,
    int UpdateZone,
    int FaultZone,
    DateTime StartTime,
    DateTime IAmAliveTime,
    IReadOnlyList<SuspectRow> Suspects);

public sealed record SuspectRow(string Silo, DateTime At);

/// <summary>The table's version row.</summary>
public sealed record TableVersionRow(int Version);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SiloRow))]
[JsonSerializable(typeof(TableVersionRow))]
public sealed partial class OrleansJsonContext : JsonSerializerContext;

/// <summary>
/// Orleans cluster membership kept in the control plane's Raft store: a version key and one key per silo under
/// <c>/zc/orleans/&lt;cluster&gt;/</c>. Etags are the keys' mod revisions; every change that Orleans versions is
/// one transaction that compares the version key's and the row's revisions and writes both, so a stale writer
/// changes nothing. IAmAlive updates only the row (Orleans does not version them), with a compare on the row.
/// </summary>
public sealed partial class RaftMembershipTable : IMembershipTable
{
    private readonly IControlStore _client;
    private readonly string _prefix;
    private readonly ILogger _logger;

    public RaftMembershipTable(IControlStore client, string clusterId, ILogger<RaftMembershipTable> logger)
    {
        _client = client;
        _prefix = $"/zc/orleans/{clusterId}/";
        _logger = logger;
    }

    private string VersionKey => _prefix + "version";

    private string RowsPrefix => _prefix + "silos/";

    private string RowKey(SiloAddress silo) => RowsPrefix + silo.ToParsableString();

    public async Task InitializeMembershipTable(bool tryInitTableVersion)
    {
        if (!tryInitTableVersion)
        {
            return;
        }

        // Create the version row once; losing this race to another silo is fine. A member that has just joined may
        // not know its leader yet (an election, a busy machine): Orleans gives up on the silo, and the member with it,
        // at the first exception, so the write is retried for a while first.
        var txn = new TxnRequest(
            [new CompareDto(VersionKey, "version", "=", Number: 0)],
            [new OpDto("put", VersionKey, Json(new TableVersionRow(0), OrleansJsonContext.Default.TableVersionRow))],
            []);
        var until = Environment.TickCount64 + 60_000;
        for (var pause = TimeSpan.FromMilliseconds(250); ; pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromSeconds(2).Ticks)))
        {
            try
            {
                await _client.TxnAsync(txn).ConfigureAwait(false);
                return;
            }
            catch (ControlApiException ex) when (ex.Status is 0 or 503 or 504 && Environment.TickCount64 < until)
            {
                LogInitRetry(ex.Message);
                await Task.Delay(pause).ConfigureAwait(false);
            }
        }
    }

    public async Task DeleteMembershipTableEntries(string clusterId) =>
        await _client.DeleteAsync($"/zc/orleans/{clusterId}/", prefix: true).ConfigureAwait(false);

    public async Task CleanupDefunctSiloEntries(DateTimeOffset beforeDate)
    {
        var range = await _client.RangeAsync(RowsPrefix).ConfigureAwait(false);
        foreach (var kv in range.Kvs)
        {
            var row = JsonSerializer.Deserialize(kv.Value, OrleansJsonContext.Default.SiloRow)!;
            if ((SiloStatus)row.Status == SiloStatus.Dead && row.IAmAliveTime < beforeDate.UtcDateTime)
            {
                await _client.TxnAsync(new TxnRequest([new CompareDto(kv.Key, "mod", "=", Number: kv.ModRevision)], [new OpDto("delete", kv.Key)], [])).ConfigureAwait(false);
                LogDefunct(row.Address);
            }
        }
    }

    public async Task<MembershipTableData> ReadRow(SiloAddress key)
    {
        var data = await ReadAll().ConfigureAwait(false);
        var row = data.Members.Where(m => m.Item1.SiloAddress.Equals(key)).ToList();
        return new MembershipTableData(row, data.Version);
    }

    public async Task<MembershipTableData> ReadAll()
    {
        // One range over the prefix reads the version and every row at one revision.
        var range = await _client.RangeAsync(_prefix).ConfigureAwait(false);
        var version = new TableVersion(0, "0");
        var rows = new List<Tuple<MembershipEntry, string>>();
        foreach (var kv in range.Kvs)
        {
            if (kv.Key == VersionKey)
            {
                version = new TableVersion(JsonSerializer.Deserialize(kv.Value, OrleansJsonContext.Default.TableVersionRow)!.Version, Etag(kv.ModRevision));
            }
            else if (kv.Key.StartsWith(RowsPrefix, StringComparison.Ordinal))
            {
                rows.Add(Tuple.Create(ToEntry(JsonSerializer.Deserialize(kv.Value, OrleansJsonContext.Default.SiloRow)!), Etag(kv.ModRevision)));
            }
        }

        return new MembershipTableData(rows, version);
    }

    public async Task<bool> InsertRow(MembershipEntry entry, TableVersion tableVersion)
    {
        var key = RowKey(entry.SiloAddress);
        var result = await _client.TxnAsync(new TxnRequest(
            [VersionCompare(tableVersion), new CompareDto(key, "version", "=", Number: 0)],
            [VersionPut(tableVersion), new OpDto("put", key, Json(ToRow(entry), OrleansJsonContext.Default.SiloRow))],
            [])).ConfigureAwait(false);
        return result.Succeeded;
    }

    public async Task<bool> UpdateRow(MembershipEntry entry, string etag, TableVersion tableVersion)
    {
        var key = RowKey(entry.SiloAddress);
        var result = await _client.TxnAsync(new TxnRequest(
            [VersionCompare(tableVersion), new CompareDto(key, "mod", "=", Number: ParseEtag(etag))],
            [VersionPut(tableVersion), new OpDto("put", key, Json(ToRow(entry), OrleansJsonContext.Default.SiloRow))],
            [])).ConfigureAwait(false);
        return result.Succeeded;
    }

    public async Task UpdateIAmAlive(MembershipEntry entry)
    {
        var key = RowKey(entry.SiloAddress);
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var current = await _client.GetAsync(key).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"no membership row for {entry.SiloAddress}");
            var row = JsonSerializer.Deserialize(current.Value, OrleansJsonContext.Default.SiloRow)! with { IAmAliveTime = entry.IAmAliveTime };
            var result = await _client.TxnAsync(new TxnRequest(
                [new CompareDto(key, "mod", "=", Number: current.ModRevision)],
                [new OpDto("put", key, Json(row, OrleansJsonContext.Default.SiloRow))],
                [])).ConfigureAwait(false);
            if (result.Succeeded)
            {
                return;
            }
        }

        throw new InvalidOperationException($"the membership row of {entry.SiloAddress} kept changing during an IAmAlive update");
    }

    /// <summary>The table version's etag must still be current; a new version is written with the change.</summary>
    private CompareDto VersionCompare(TableVersion version) =>
        new(VersionKey, "mod", "=", Number: ParseEtag(version.VersionEtag));

    private OpDto VersionPut(TableVersion version) =>
        new("put", VersionKey, Json(new TableVersionRow(version.Version), OrleansJsonContext.Default.TableVersionRow));

    private static string Etag(long modRevision) => modRevision.ToString(CultureInfo.InvariantCulture);

    private static long ParseEtag(string? etag) =>
        long.TryParse(etag, NumberStyles.None, CultureInfo.InvariantCulture, out var revision) ? revision : -1;

    private static string Json<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) => JsonSerializer.Serialize(value, type);

    internal static SiloRow ToRow(MembershipEntry e) => new(
        e.SiloAddress.ToParsableString(),
        (int)e.Status,
        e.ProxyPort,
        e.HostName,
        e.SiloName,
        e.RoleName,
        e.UpdateZone,
        e.FaultZone,
        e.StartTime,
        e.IAmAliveTime,
        [.. (e.SuspectTimes ?? []).Select(s => new SuspectRow(s.Item1.ToParsableString(), s.Item2))]);

    internal static MembershipEntry ToEntry(SiloRow r) => new()
    {
        SiloAddress = SiloAddress.FromParsableString(r.Address),
        Status = (SiloStatus)r.Status,
        ProxyPort = r.ProxyPort,
        HostName = r.HostName ?? "",
        SiloName = r.SiloName ?? "",
        RoleName = r.RoleName ?? "",
        UpdateZone = r.UpdateZone,
        FaultZone = r.FaultZone,
        StartTime = r.StartTime,
        IAmAliveTime = r.IAmAliveTime,
        SuspectTimes = [.. r.Suspects.Select(s => Tuple.Create(SiloAddress.FromParsableString(s.Silo), s.At))],
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "removed the defunct membership row of {Silo}")]
    private partial void LogDefunct(string silo);

    [LoggerMessage(Level = LogLevel.Warning, Message = "the silo's membership table cannot be written yet ({Reason}); retrying")]
    private partial void LogInitRetry(string reason);
}
