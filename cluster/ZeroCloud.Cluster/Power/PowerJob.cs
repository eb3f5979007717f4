using ZeroCloud.Model.Api;

namespace ZeroCloud.Cluster.Power;

/// <summary>How hard a <see cref="PowerJob"/> tries.</summary>
public sealed record PowerJobOptions
{
    /// <summary>The pauses between attempts of a step: its attempts are one more than their number.</summary>
    public IReadOnlyList<TimeSpan> Backoff { get; init; } = [TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2)];

    /// <summary>How long a confirming step reads the state back before it gives up (a machine takes a moment to switch).</summary>
    public TimeSpan ConfirmWithin { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Between two reads of a confirming step.</summary>
    public TimeSpan ConfirmEvery { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The whole job's limit (the API answers within its clients' 30 s).</summary>
    public TimeSpan Deadline { get; init; } = TimeSpan.FromSeconds(25);
}

/// <summary>
/// A power job as Rufio and Ironic run them: ordered steps (set PXE once, reset or power on, read the state back to
/// confirm), each retried with backoff while the BMC's failure is transient, the first that fails ending the job with
/// the rest marked skipped. The result is the record the control plane keeps.
/// </summary>
public sealed class PowerJob(IPowerDriver driver, PowerJobOptions? options = null, TimeProvider? time = null)
{
    private readonly PowerJobOptions _options = options ?? new PowerJobOptions();
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>The result of a run: the job's state, the steps, the power state read last (null when none was read), the first error.</summary>
    public sealed record Outcome(string State, IReadOnlyList<PowerStepDto> Steps, string? Power, string? Error);

    public static string? Validate(string action) =>
        PowerActions.All.Contains(action, StringComparer.Ordinal) ? null : $"unknown power action \"{action}\": use one of {string.Join(", ", PowerActions.All)}";

    public async Task<Outcome> RunAsync(string action, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(_options.Deadline);
        var steps = new List<PowerStepDto>();
        PowerState? last = null;
        string? error = null;

        // Each step returns its detail or throws; Step records it and says whether the job goes on.
        async Task<bool> Step(string name, Func<CancellationToken, Task<string?>> run, bool retry = true)
        {
            if (error is not null)
            {
                steps.Add(new PowerStepDto(name, PowerJobStates.Skipped, 0));
                return false;
            }

            var attempts = 0;
            while (true)
            {
                attempts++;
                try
                {
                    var detail = await run(deadline.Token).ConfigureAwait(false);
                    steps.Add(new PowerStepDto(name, PowerJobStates.Succeeded, attempts, detail));
                    return true;
                }
                catch (BmcException ex) when (retry && ex.Transient && attempts <= _options.Backoff.Count && !deadline.IsCancellationRequested)
                {
                    try
                    {
                        await Task.Delay(_options.Backoff[attempts - 1], _time, deadline.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                        error = $"{name}: {ex.Message} (the job's {_options.Deadline.TotalSeconds:0}s ran out before attempt {attempts + 1})";
                    }
                }
                catch (BmcException ex)
                {
                    error = $"{name}: {ex.Message}{(attempts > 1 ? $" (after {attempts} attempts)" : "")}";
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    error = $"{name}: the job's {_options.Deadline.TotalSeconds:0}s ran out";
                }

                if (error is not null)
                {
                    steps.Add(new PowerStepDto(name, PowerJobStates.Failed, attempts, Error: error[(name.Length + 2)..]));
                    return false;
                }
            }
        }

        async Task<string?> Read(CancellationToken token)
        {
            last = await driver.StatusAsync(token).ConfigureAwait(false);
            return Name(last.Value);
        }

        // Reads until the machine is in the wanted state; errors while it switches are retried within the window.
        async Task<string?> Confirm(PowerState wanted, CancellationToken token)
        {
            var until = _time.GetTimestamp() + (long)(_options.ConfirmWithin.TotalSeconds * _time.TimestampFrequency);
            var reads = 0;
            string? lastError = null;
            while (true)
            {
                reads++;
                try
                {
                    last = await driver.StatusAsync(token).ConfigureAwait(false);
                    lastError = null;
                    if (last == wanted)
                    {
                        return $"{Name(wanted)} after {reads} read{(reads == 1 ? "" : "s")}";
                    }
                }
                catch (BmcException ex) when (ex.Transient)
                {
                    lastError = ex.Message;
                }

                if (_time.GetTimestamp() >= until)
                {
                    throw new BmcException(lastError is null
                        ? $"still {(last is { } s ? Name(s) : "unknown")} after {reads} reads in {_options.ConfirmWithin.TotalSeconds:0}s (wanted {Name(wanted)})"
                        : $"no state read in {_options.ConfirmWithin.TotalSeconds:0}s: {lastError}", transient: false);
                }

                await Task.Delay(_options.ConfirmEvery, _time, token).ConfigureAwait(false);
            }
        }

        async Task Restart()
        {
            await Step("read power state", Read).ConfigureAwait(false);
            var wasOn = last != PowerState.Off;
            await Step(wasOn ? "reset" : "power on", async token =>
            {
                await (wasOn ? driver.ResetAsync(token) : driver.PowerOnAsync(token)).ConfigureAwait(false);
                return null;
            }).ConfigureAwait(false);
            await Step("confirm on", token => Confirm(PowerState.On, token), retry: false).ConfigureAwait(false);
        }

        switch (action)
        {
            case PowerActions.Status:
                await Step("read power state", Read).ConfigureAwait(false);
                break;
            case PowerActions.On:
                await Step("power on", async token => { await driver.PowerOnAsync(token).ConfigureAwait(false); return null; }).ConfigureAwait(false);
                await Step("confirm on", token => Confirm(PowerState.On, token), retry: false).ConfigureAwait(false);
                break;
            case PowerActions.Off:
                await Step("power off", async token => { await driver.PowerOffAsync(token).ConfigureAwait(false); return null; }).ConfigureAwait(false);
                await Step("confirm off", token => Confirm(PowerState.Off, token), retry: false).ConfigureAwait(false);
                break;
            case PowerActions.Cycle:
                await Restart().ConfigureAwait(false);
                break;
            case PowerActions.Pxe:
                await Step("set next boot to PXE", async token => { await driver.PxeOnceAsync(token).ConfigureAwait(false); return "once"; }).ConfigureAwait(false);
                await Restart().ConfigureAwait(false);
                break;
            default:
                throw new ArgumentException(Validate(action), nameof(action));
        }

        ct.ThrowIfCancellationRequested();
        return new Outcome(error is null ? PowerJobStates.Succeeded : PowerJobStates.Failed, steps, last is { } p ? Name(p) : null, error);
    }

    public static string Name(PowerState state) => state switch
    {
        PowerState.On => "on",
        PowerState.Off => "off",
        _ => "changing",
    };
}
