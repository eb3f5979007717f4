using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Net;

namespace ZeroCloud.Netboot.Dhcp;

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(LeaseRecord))]
public sealed partial class LeaseJsonContext : JsonSerializerContext;

/// <summary>
/// Leases kept in the control plane's Raft store, so several DHCP replicas share one pool. A commit is a
/// compare-and-swap on the address's key: it succeeds only if the key is unchanged since it was read and not held by
/// another client, so two replicas can never both lease an address; the loser gets <see cref="LeaseConflictException"/>.
/// Other replicas' leases arrive through a watch on the prefix.
/// </summary>
public sealed partial class ClusterLeaseStore : ISharedLeaseStore, IDisposable
{
    public const string Prefix = StoreKeys.Leases;

    private readonly ControlClient _client;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private long _loadedRevision;

    public ClusterLeaseStore(ControlClient client, TimeProvider time, ILogger<ClusterLeaseStore> logger)
    {
        _client = client;
        _time = time;
        _logger = logger;
    }

    public static string Key(uint address) => Prefix + Ipv4.FromUInt32(address);

    public async Task<IReadOnlyList<Lease>> LoadAsync(CancellationToken cancellationToken)
    {
        var range = await _client.RangeAsync(Prefix, ct: cancellationToken).ConfigureAwait(false);
        _loadedRevision = range.Revision;
        var leases = new List<Lease>();
        foreach (var kv in range.Kvs)
        {
            if (Decode(kv.Value) is { } lease)
            {
                leases.Add(lease);
            }
            else
            {
                LogUnreadable(kv.Key);
            }
        }

        return leases;
    }

    /// <summary>The addresses the scheduler reserved for trusted nodes at their enrollment (<c>/zc/reservations/</c>).</summary>
    public async Task<IReadOnlyList<(MacAddress Mac, uint Address)>> ReservationsAsync(CancellationToken cancellationToken)
    {
        var skipped = new List<string>();
        var range = await _client.RangeAsync(StoreKeys.Reservations, ct: cancellationToken).ConfigureAwait(false);
        var reservations = TypedValues.ReadAll(range.Kvs, ControlJsonContext.Default.ReservationDto, skipped);
        foreach (var key in skipped)
        {
            LogUnreadable(key);
        }

        // ReadAll checked each record (TypedValues: a MAC and an IPv4 address) and skipped a bad one.
        return [.. reservations.Select(r => (MacAddress.Parse(r.Mac), Ipv4.ToUInt32(System.Net.IPAddress.Parse(r.Address))))];
    }

    public async Task CommitAsync(Lease lease, CancellationToken cancellationToken)
    {
        var key = Key(lease.Address);
        var value = Encode(lease);
        for (var attempt = 0; ; attempt++)
        {
            var current = await _client.GetAsync(key, ct: cancellationToken).ConfigureAwait(false);
            if (current is not null && Decode(current.Value) is { } held && held.ClientKey != lease.ClientKey && held.HoldsAddress(_time.GetUtcNow()))
            {
                throw new LeaseConflictException(held);
            }

            var txn = new TxnRequest(
                [current is null ? new CompareDto(key, "version", "=", Number: 0) : new CompareDto(key, "mod", "=", Number: current.ModRevision)],
                [new OpDto("put", key, value)],
                []);
            try
            {
                if ((await _client.TxnAsync(txn, cancellationToken).ConfigureAwait(false)).Succeeded)
                {
                    return;
                }
            }
            catch (ControlApiException ex) when (ErrorCodes.IsOutcomeUnknown(ex.Code) || ErrorCodes.IsSafeToRetry(ex.Code))
            {
                // Maybe written, maybe not: read what is there before trying again, so a lease is never applied twice.
                if (attempt == 5)
                {
                    throw;
                }

                if ((await _client.GetAsync(key, ct: cancellationToken).ConfigureAwait(false))?.Value == value)
                {
                    return;
                }

                continue;
            }

            if (attempt == 5)
            {
                throw new IOException($"{key} kept changing under this replica's commit; giving up after {attempt + 1} tries");
            }
        }
    }

    public void Follow(Action<Lease> onLease, CancellationToken cancellationToken) =>
        _ = Task.Run(() => FollowAsync(onLease, cancellationToken), cancellationToken);

    private async Task FollowAsync(Action<Lease> onLease, CancellationToken cancellationToken)
    {
        var from = _loadedRevision + 1;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await foreach (var e in _client.WatchAsync(Prefix, from, cancellationToken).ConfigureAwait(false))
                {
                    from = e.Revision + 1;
                    if (e.Type != "put")
                    {
                        continue;
                    }

                    if (Decode(e.Value) is { } lease)
                    {
                        onLease(lease);
                    }
                    else
                    {
                        LogUnreadable(e.Key); // one bad record is skipped; the watch goes on
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (ControlApiException ex) when (ex.Status == 410 || ex.Code == ErrorCodes.Compacted)
            {
                // The history from `from` is compacted away: what is current now is read whole, and the watch resumes
                // after it (retrying the same revision would fail forever).
                try
                {
                    from = await ResyncAsync(onLease, cancellationToken).ConfigureAwait(false);
                    LogResynced(from - 1);
                    continue;
                }
                catch (Exception inner) when (inner is ControlApiException or HttpRequestException or IOException or JsonException)
                {
                    LogWatchBroken(inner.Message);
                }
            }
#pragma warning disable CA1031 // whatever breaks the watch (a bad record included), it is logged and resumed, never left dead
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
#pragma warning restore CA1031
            {
                LogWatchBroken(ex.Message);
            }

            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>Every current shared lease, handed to <paramref name="onLease"/>; the revision to watch from next.</summary>
    private async Task<long> ResyncAsync(Action<Lease> onLease, CancellationToken cancellationToken)
    {
        var range = await _client.RangeAsync(Prefix, ct: cancellationToken).ConfigureAwait(false);
        foreach (var kv in range.Kvs)
        {
            if (Decode(kv.Value) is { } lease)
            {
                onLease(lease);
            }
            else
            {
                LogUnreadable(kv.Key);
            }
        }

        return range.Revision + 1;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "dhcp: the shared leases' history was compacted past this replica's watch; read them whole at revision {Revision} and watching from there")]
    private partial void LogResynced(long revision);

    public static string Encode(Lease lease) => JsonSerializer.Serialize(
        new LeaseRecord(Ipv4.FromUInt32(lease.Address).ToString(), lease.Mac.ToString(), lease.ClientKey, lease.Expires, lease.State.ToString().ToLowerInvariant(), lease.HostName),
        LeaseJsonContext.Default.LeaseRecord);

    public static Lease? Decode(string json)
    {
        try
        {
            var r = JsonSerializer.Deserialize(json, LeaseJsonContext.Default.LeaseRecord);
            if (r is null || r.Problem() is not null || !Ipv4.TryParse(r.Address, out var address) || !MacAddress.TryParse(r.Mac, out var mac) ||
                !Enum.TryParse<LeaseState>(r.State, ignoreCase: true, out var state) || !Enum.IsDefined(state))
            {
                return null;
            }

            return new Lease(Ipv4.ToUInt32(address), mac, r.ClientKey, r.Expires, state, r.HostName);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public void Dispose() => _client.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "dhcp: the lease under {Key} cannot be read; ignored")]
    private partial void LogUnreadable(string key);

    [LoggerMessage(Level = LogLevel.Warning, Message = "dhcp: the watch on the shared leases broke ({Problem}); resuming")]
    private partial void LogWatchBroken(string problem);
}
