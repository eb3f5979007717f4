using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Node;

/// <summary>
/// The agent's heartbeat: POST /v1/nodes/{name}/heartbeat to a control-plane member every nodes.heartbeat (the
/// answer says how often); when a member does not answer, the next one, so a lost member costs one beat. Every
/// 10 s it also refreshes the list of members. Inventory goes with every beat; the node's grain writes only what
/// changed. A refusal (401 token, 403 enrollment) ends it with <see cref="UnauthorizedAccessException"/>. Its pace runs on
/// monotonic time (<see cref="TimeProvider.GetTimestamp"/>): a wall clock stepped back never holds a beat back (before, a
/// step of an hour during a beat made the next wait an hour, and the node went Down).
/// </summary>
internal sealed class Heartbeat(ControlEndpoints endpoints, string name, Func<HeartbeatRequest> report, ILogger log, Action<NodeStatus>? joined = null, Action<string>? keyReceived = null, Action<System.Security.Cryptography.X509Certificates.X509Certificate2>? certificateReceived = null, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    private TaskCompletionSource _nudge = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Sends the next beat now rather than at the next interval: what the node reports changed (the images it read from the catalogue).</summary>
    public void Nudge() => _nudge.TrySetResult();

    private readonly TaskCompletionSource<NodeStatusDto> _first = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public NodeStatusDto? Last { get; private set; }

    /// <summary>Called when a beat's answer carries another placements token than the one before (the instance agent reads them then).</summary>
    public Action? PlacementsChanged { get; set; }

    /// <summary>Called with the available members' API addresses each time the list is refreshed (every 10 s).</summary>
    public Action<IReadOnlyList<string>>? MembersLearned { get; set; }

    /// <summary>The control plane's first answer (the join's): it carries the applied spec's nodes.disks.</summary>
    public Task<NodeStatusDto> FirstAnswer => _first.Task;

    public async Task RunAsync(CancellationToken ct)
    {
        var interval = TimeSpan.FromSeconds(1);
        NodeStatus? lastStatus = null;
        long? lastRefresh = null;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var started = _time.GetTimestamp();
                var beat = report();
                // The joining beat (a ticket or the join token) carries a CSR: the join signs the node's certificate.
                var joining = endpoints.Certificate is { Current: null } && endpoints.Credential?.StartsWith("node:", StringComparison.Ordinal) != true;
                if (joining)
                {
                    beat = beat with { Csr = endpoints.Certificate!.Request() };
                }

                for (var tried = 0; tried < endpoints.Count; tried++)
                {
                    var client = joining ? endpoints.ForJoin() : endpoints.Current;
                    try
                    {
                        var before = Last?.Placements;
                        Last = await client.HeartbeatAsync(name, beat, ct).ConfigureAwait(false);
                        if (Last.Placements != before)
                        {
                            PlacementsChanged?.Invoke();
                        }

                        if (Last.Key is { } key)
                        {
                            // The ticket is used up: from now on the node speaks with its own key.
                            endpoints.Credential = key;
                            keyReceived?.Invoke(key);
                            log.LogInformation("enrolled: node {Name} has its own key (the ticket is used up)", name);
                        }

                        if (Last.Certificate is { } pem)
                        {
                            Accepted(pem);
                        }

                        interval = TimeSpan.FromSeconds(Math.Clamp(Last.HeartbeatSeconds, 0.1, 60));
                        if (lastStatus is null)
                        {
                            joined?.Invoke(Last.Status);
                        }

                        _first.TrySetResult(Last);

                        if (Last.Status != lastStatus && Last.Status == NodeStatus.Pending)
                        {
                            log.LogInformation("heartbeat via {Server}: node {Name} waits for approval (nodes.enroll is approve): an operator runs zc node approve {Name}", client.Server, name, name);
                            lastStatus = Last.Status;
                        }
                        else if (Last.Status != lastStatus)
                        {
                            log.LogInformation("heartbeat via {Server}: node {Name} is {Status} (every {Seconds:0.###} s)", client.Server, name, Last.Status, interval.TotalSeconds);
                            lastStatus = Last.Status;
                        }

                        break;
                    }
                    catch (ControlApiException ex) when (ex.Status is 401 or 403)
                    {
                        // A refusal is final: a wrong token or a machine the cluster does not enroll.
                        throw new UnauthorizedAccessException($"{client.Server} refused this node: {ex.Message}");
                    }
                    catch (ControlApiException ex) when (!ct.IsCancellationRequested)
                    {
                        log.LogWarning("heartbeat via {Server}: {Problem}", client.Server, ex.Message);
                        endpoints.Failed(client);
                    }
                }

                await RenewCertificateAsync(ct).ConfigureAwait(false);
                if (lastRefresh is not { } refreshed || _time.GetElapsedTime(refreshed) > TimeSpan.FromSeconds(10))
                {
                    lastRefresh = _time.GetTimestamp();
                    try
                    {
                        var members = await endpoints.Current.MembersAsync(ct).ConfigureAwait(false);
                        var apis = members.Members.Where(m => m.Status == MemberStatus.Available && m.Api is not null).Select(m => m.Api!).ToList();
                        endpoints.Update(apis);
                        if (apis.Count > 0)
                        {
                            MembersLearned?.Invoke(apis);
                        }
                    }
                    catch (ControlApiException)
                    {
                        // next time
                    }
                }

                var wait = interval - _time.GetElapsedTime(started);
                if (wait > TimeSpan.Zero)
                {
                    var nudged = _nudge.Task;
                    await Task.WhenAny(Task.Delay(wait, ct), nudged).ConfigureAwait(false);
                    ct.ThrowIfCancellationRequested();
                    if (nudged.IsCompleted)
                    {
                        _nudge = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // stopping
        }
    }

    private long? _lastRenewal;

    private void Accepted(string pem)
    {
        if (endpoints.Certificate?.Accept(pem) == true)
        {
            endpoints.CertificateChanged();
            certificateReceived?.Invoke(endpoints.Certificate.Current!);
            log.LogInformation("node {Name} speaks with its certificate from now on (until {Until:u})", name, endpoints.Certificate.Current!.NotAfter.ToUniversalTime());
        }
    }

    /// <summary>
    /// At two thirds of its certificate's life (or when it has none but holds a node key: an agent restarted after its
    /// join), the node asks for a new one with what it has; at most every 30 s while that fails.
    /// </summary>
    private async Task RenewCertificateAsync(CancellationToken ct)
    {
        if (endpoints.Certificate is not { Due: true } certificate || _lastRenewal is { } renewed && _time.GetElapsedTime(renewed) < TimeSpan.FromSeconds(30)
            || (certificate.Current is null && endpoints.Credential?.StartsWith("node:", StringComparison.Ordinal) != true))
        {
            return;
        }

        _lastRenewal = _time.GetTimestamp();
        var client = endpoints.Current;
        try
        {
            if (await certificate.RenewIfDueAsync(async csr => (await client.RenewNodeCertificateAsync(csr, ct).ConfigureAwait(false)).Certificate).ConfigureAwait(false))
            {
                endpoints.CertificateChanged();
                certificateReceived?.Invoke(certificate.Current!);
                log.LogInformation("node {Name} renewed its certificate via {Server} (until {Until:u})", name, client.Server, certificate.Current!.NotAfter.ToUniversalTime());
            }
        }
        catch (Exception ex) when (ex is ControlApiException or System.Security.Cryptography.CryptographicException && !ct.IsCancellationRequested)
        {
            log.LogWarning("node {Name} could not renew its certificate via {Server}: {Problem}", name, client.Server, ex.Message);
        }
    }
}
