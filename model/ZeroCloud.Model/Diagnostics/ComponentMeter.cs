using System.Diagnostics.Metrics;

namespace ZeroCloud.Model.Diagnostics;

/// <summary>
/// One component's <see cref="Meter"/> with its in-process <see cref="MeterTotals"/>: the base of the DHCP, TFTP,
/// boot-HTTP and API metrics, which add their instruments to <see cref="Meter"/>. Instruments created after the
/// totals are counted too (the listener is told of every instrument published).
/// </summary>
public abstract class ComponentMeter : IDisposable
{
    protected ComponentMeter(string name)
    {
        Meter = new Meter(name);
        Totals = new MeterTotals(Meter);
    }

    /// <summary>The meter the component's instruments belong to.</summary>
    protected Meter Meter { get; }

    /// <summary>The instruments' totals in this process.</summary>
    public MeterTotals Totals { get; }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            Totals.Dispose();
            Meter.Dispose();
        }
    }
}
