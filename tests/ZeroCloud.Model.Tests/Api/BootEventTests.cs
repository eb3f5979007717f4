using ZeroCloud.Model.Api;

namespace ZeroCloud.Model.Tests.Api;

/// <summary>The boot events zc-node writes and zc up reads: typed phases, one JSON line each.</summary>
public class BootEventTests
{
    [Fact]
    public void Events_round_trip_as_json_lines_and_a_torn_last_line_is_skipped()
    {
        var at = new DateTime(2026, 11, 30, 12, 0, 0, DateTimeKind.Utc);
        var text = new BootEvent(BootPhase.Dhcp, at, Address: "10.77.0.100").ToLine() + "\n"
            + new BootEvent(BootPhase.Booted, at, Name: "s001").ToLine() + "\n"
            + "{\"phase\":\"Jo";

        var events = BootEvent.ReadAll(text);

        Assert.Equal([BootPhase.Dhcp, BootPhase.Booted], events.Select(e => e.Phase));
        Assert.Equal(("10.77.0.100", "s001"), (events[0].Address, events[1].Name));
        Assert.Contains("\"phase\":\"Dhcp\"", text, StringComparison.Ordinal);
    }
}
