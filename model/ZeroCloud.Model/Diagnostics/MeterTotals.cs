using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace ZeroCloud.Model.Diagnostics;

/// <summary>
/// Totals of one <see cref="Meter"/>'s long counters, kept in-process by a <see cref="MeterListener"/> (by instrument
/// and tag values), for a component's own summary lines and its status endpoint. Exporters (OpenTelemetry,
/// dotnet-counters) read the same instruments. AOT-safe: BCL only.
/// </summary>
public sealed class MeterTotals : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<(string Instrument, string Tags), long> _totals = new();

    public MeterTotals(Meter meter)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter == meter)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var key = tags.Length == 0 ? "" : string.Join(',', tags.ToArray().Select(t => $"{t.Key}={t.Value}"));
            _totals.AddOrUpdate((instrument.Name, key), value, (_, total) => total + value);
        });
        _listener.Start();
    }

    /// <summary>The total of <paramref name="instrument"/> over every tag combination.</summary>
    public long Total(string instrument) => _totals.Where(t => t.Key.Instrument == instrument).Sum(t => t.Value);

    /// <summary>The total of <paramref name="instrument"/> for one tag combination (written as "key=value,key=value").</summary>
    public long Total(string instrument, string tags) => _totals.GetValueOrDefault((instrument, tags));

    /// <summary>Every (instrument, tags) total.</summary>
    public IReadOnlyList<(string Instrument, string Tags, long Total)> All() =>
        [.. _totals.OrderBy(t => t.Key).Select(t => (t.Key.Instrument, t.Key.Tags, t.Value))];

    public void Dispose() => _listener.Dispose();
}
