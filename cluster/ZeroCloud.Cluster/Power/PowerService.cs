using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using ZeroCloud.Cluster.Raft;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Config;
using ZeroCloud.Model.Pki;

namespace ZeroCloud.Cluster.Power;

/// <summary>A power job that could not start: the HTTP status, the error code and what to do.</summary>
public sealed class PowerRequestException(int status, string code, string message) : Exception(message)
{
    public int Status { get; } = status;

    public string Code { get; } = code;
}

/// <summary>
/// Runs power jobs on a member: finds the machine's BMC in the applied spec (<c>spec.nodes.known[].bmc</c>), opens its
/// credentials from the secret store with the cluster CA's key, runs the <see cref="PowerJob"/> and records it under
/// <c>/zc/power/jobs/&lt;node&gt;/</c> (the last <see cref="JobsKept"/>) with an audit entry in the same transaction; the
/// store forwards the records to the leader. One job per machine at a time on a member. <c>zc power</c> (through the
/// leader) and fencing (on the member whose silo saw the node go Down) both come here.
/// </summary>
public sealed class PowerService(ControlNode node, IControlStore store, Func<SecretBox?> box, PowerJobOptions? options = null)
{
    /// <summary>Jobs kept per node; the oldest go when a new one is recorded.</summary>
    public const int JobsKept = 20;

    private readonly ConcurrentDictionary<string, string> _running = new(StringComparer.Ordinal);

    /// <summary>The machine's BMC in the spec this member has applied; null with the reason when it has none.</summary>
    public BmcSpec? BmcOf(string name, out string why)
    {
        var (config, machine) = Known(name);
        why = config is null ? "no cluster spec has been applied" : machine is null ? $"spec.nodes.known has no machine named {name}" : $"machine {name} in spec.nodes.known has no bmc";
        return machine?.Bmc;
    }

    /// <summary>
    /// The newest recorded job that switched the machine (on, off, cycle or pxe; not a status read) and succeeded, or
    /// null: fencing leaves alone a machine that was switched a moment ago, since it is still booting.
    /// </summary>
    public PowerJobDto? LastSwitch(string name) =>
        Jobs(name)
            .Where(j => j.Action != PowerActions.Status && j.State == PowerJobStates.Succeeded && j.Finished is not null)
            .MaxBy(j => j.Finished);

    /// <summary>
    /// The machine's recorded jobs (the last <see cref="JobsKept"/>), as this member's store has them, in key order;
    /// records that do not parse are left out and named in <paramref name="skipped"/>.
    /// </summary>
    public IReadOnlyList<PowerJobDto> Jobs(string name, List<string>? skipped = null) =>
        [.. node.Read(s => s.Range(StoreKeys.PowerJobs + name + "/", 0))
            .Select(kv => TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.PowerJobDto, skipped ?? []))
            .OfType<PowerJobDto>()];

    /// <summary>spec.nodes.bootTimeout of the applied spec (its default when none is applied).</summary>
    public TimeSpan BootTimeout => Known("").Config?.Spec.Nodes.BootTimeout ?? NodesSpec.DefaultBootTimeout;

    /// <summary>The machine's labels in spec.nodes.known (empty when it is not listed).</summary>
    public IReadOnlyDictionary<string, string> LabelsOf(string name) =>
        Known(name).Machine?.Labels ?? (IReadOnlyDictionary<string, string>)new Dictionary<string, string>();

    private (ClusterConfig? Config, KnownMachine? Machine) Known(string name)
    {
        var spec = node.Read(s => s.Get(StoreKeys.Spec));
        var config = spec is null ? null : ClusterConfigLoader.Load(spec.Value, StoreKeys.Spec).Config;
        return (config, config?.Spec.Nodes.Known.FirstOrDefault(k => k.Name == name));
    }

    /// <summary>
    /// Runs <paramref name="action"/> on <paramref name="name"/>'s BMC for <paramref name="who"/> and returns the job as
    /// recorded. A <see cref="PowerRequestException"/> when it cannot start (no BMC, no credentials, one running).
    /// </summary>
    public async Task<PowerJobDto> RunAsync(string name, string action, string who, CancellationToken ct)
    {
        if (PowerJob.Validate(action) is { } badAction)
        {
            throw new PowerRequestException(400, ErrorCodes.InvalidArgument, badAction);
        }

        if (BmcOf(name, out var why) is not { } bmc)
        {
            throw new PowerRequestException(404, ErrorCodes.NotFound, $"{why}: give it bmc: {{ ipmi: <host> | redfish: <URL>, credentials: <secret> }} and zc apply");
        }

        var secretKey = StoreKeys.SecretOf(bmc.Credentials);
        var secretKv = node.Read(s => s.Get(secretKey));
        var secret = secretKv is null ? null : TypedValues.Read(secretKey, secretKv.Value, ControlJsonContext.Default.SecretDto, new List<string>());
        if (secret is null)
        {
            throw new PowerRequestException(404, ErrorCodes.NotFound, $"machine {name}'s BMC credentials are secret {bmc.Credentials}, which is not set: zc secret set {bmc.Credentials} (its value: username:password)");
        }

        if (box() is not { } sealer)
        {
            throw new PowerRequestException(503, ErrorCodes.NotFound, "this member has no cluster CA, so it cannot open the BMC's credentials");
        }

        var started = DateTime.UtcNow;
        var id = $"{started.ToString("yyyyMMdd'T'HHmmss.fff'Z'", CultureInfo.InvariantCulture)}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";
        if (!_running.TryAdd(name, id))
        {
            throw new PowerRequestException(409, ErrorCodes.RevisionMismatch, $"power job {_running.GetValueOrDefault(name)} is running on {name}; wait for it (zc power jobs {name})");
        }

        try
        {
            var job = new PowerJobDto(id, name, action, bmc.ToString(), who, node.Options.Name is { Length: > 0 } member ? member : node.Id, started, null, PowerJobStates.Running, null, []);
            await RecordAsync(job, ct).ConfigureAwait(false);
            var outcome = await RunAsync(bmc, sealer, secret, action, ct).ConfigureAwait(false);
            job = job with { Finished = DateTime.UtcNow, State = outcome.State, Power = outcome.Power, Steps = outcome.Steps, Error = outcome.Error };
            await RecordAsync(job, ct).ConfigureAwait(false);
            return job;
        }
        finally
        {
            _running.TryRemove(name, out _);
        }
    }

    private async Task<PowerJob.Outcome> RunAsync(BmcSpec bmc, SecretBox sealer, SecretDto secret, string action, CancellationToken ct)
    {
        byte[] credentials;
        try
        {
            credentials = sealer.Open(secret);
        }
        catch (CryptographicException ex)
        {
            return new PowerJob.Outcome(PowerJobStates.Failed, [], null, $"secret {bmc.Credentials} cannot be opened: {ex.Message}");
        }

        try
        {
            using var driver = PowerDrivers.For(bmc, credentials);
            return await new PowerJob(driver, options).RunAsync(action, ct).ConfigureAwait(false);
        }
        catch (BmcException ex)
        {
            return new PowerJob.Outcome(PowerJobStates.Failed, [], null, ex.Message);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(credentials);
        }
    }

    /// <summary>Writes the job; when it is done, with its audit entry and the trim of the node's oldest jobs.</summary>
    private async Task RecordAsync(PowerJobDto job, CancellationToken ct)
    {
        var key = StoreKeys.PowerJob(job.Node, job.Id);
        var ops = new List<OpDto> { new("put", key, JsonSerializer.Serialize(job, ControlJsonContext.Default.PowerJobDto)) };
        if (job.State != PowerJobStates.Running)
        {
            ops.Add(Audit.Op(job.Who, Audit.Power, job.Node, $"{job.Action} via {job.Bmc}: {job.State}{(job.Power is null ? "" : $", power {job.Power}")}{(job.Error is null ? "" : $" ({job.Error})")}"));
            var older = node.Read(s => s.Range(StoreKeys.PowerJobs + job.Node + "/", 0)).Select(kv => kv.Key).Where(k => k != key).Order(StringComparer.Ordinal).ToList();
            ops.AddRange(older.Take(Math.Max(0, older.Count - (JobsKept - 1))).Select(k => new OpDto("delete", k)));
        }

        await store.TxnAsync(new TxnRequest([], ops, []), ct).ConfigureAwait(false);
    }
}
