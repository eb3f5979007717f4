using System.Globalization;
using Spectre.Console;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Cli.Up;

/// <summary>What <c>zc up</c> shows: a live table on a terminal or a line every 5 s otherwise, then the node and service tables, or why it is not up.</summary>
internal static class UpView
{
    private static readonly (ServerPhase Phase, string Label)[] Rows =
    [
        (ServerPhase.PoweredOn, "powered on"), (ServerPhase.Dhcp, "DHCP (PXE)"), (ServerPhase.Tftp, "TFTP"), (ServerPhase.Ipxe, "DHCP (iPXE)"),
        (ServerPhase.Http, "HTTP"), (ServerPhase.Booted, "booted"), (ServerPhase.Joined, "joined"), (ServerPhase.Ready, "Ready"),
    ];

    public static string Since(DateTime started) => $"{(DateTime.UtcNow - started).TotalSeconds:0.0} s";

    public static void Fill(Table t, BringUpMonitor m, DateTime started)
    {
        t.Rows.Clear();
        foreach (var (phase, label) in Rows)
        {
            t.AddRow(label, m.Passed(phase).ToString(CultureInfo.InvariantCulture));
        }

        t.AddRow("lost", m.Lost.ToString(CultureInfo.InvariantCulture));
        t.AddRow("voters", $"{m.Voters}/{m.Config.Spec.ControlPlane.Replicas}");
        t.AddRow("services", string.Join(", ", m.Services.Select(x => $"{x.Name} {x.Running}/{x.Desired}")));
        t.Caption($"{Since(started)} since zc up");
    }

    public static string ProgressLine(BringUpMonitor m, DateTime started) =>
        $"zc up: {Since(started)}: dhcp {m.Passed(ServerPhase.Dhcp)}, tftp {m.Passed(ServerPhase.Tftp)}, http {m.Passed(ServerPhase.Http)}, booted {m.Passed(ServerPhase.Booted)}, joined {m.Passed(ServerPhase.Joined)}, Ready {m.Passed(ServerPhase.Ready)}/{m.Servers.Count}, lost {m.Lost}; voters {m.Voters}/{m.Config.Spec.ControlPlane.Replicas}; services {string.Join(", ", m.Services.Select(x => $"{x.Name} {x.Running}/{x.Desired}"))}";

    public static void Summary(BringUpMonitor m, IReadOnlyList<InstanceView> instances, TextWriter stdout)
    {
        var macOf = m.Servers.Where(v => v.Name is not null).ToDictionary(v => v.Name!, v => v.Server.Mac, StringComparer.Ordinal);
        var voters = instances.Where(i => i.Instance.Service == "control").Select(i => i.Instance.Node).ToHashSet(StringComparer.Ordinal);
        const string seed = BringUpMonitor.SeedName;
        stdout.WriteLine($"{"NODE",-20} {"MAC",-17} {"IP",-15} {"STATUS",-8} {"ROLE",-14} INSTANCES");
        foreach (var n in m.Nodes.OrderBy(n => n.Name == seed ? "" : n.Name, StringComparer.Ordinal))
        {
            var role = n.Name == seed ? "seed, voter" : voters.Contains(n.Name) ? "voter" : "worker";
            var mine = instances.Where(i => i.Instance.Node == n.Name).Select(i => i.Instance.Id).Order(StringComparer.Ordinal);
            stdout.WriteLine($"{n.Name,-20} {(n.Name == seed ? "-" : macOf.GetValueOrDefault(n.Name, "?")),-17} {n.Address ?? "-",-15} {n.Status,-8} {role,-14} {string.Join(" ", mine)}");
        }

        stdout.WriteLine();
        stdout.WriteLine($"{"SERVICE",-12} {"DESIRED",7} {"RUNNING",7} {"HEALTHY",7}");
        foreach (var x in m.Services)
        {
            stdout.WriteLine($"{x.Name,-12} {x.Desired,7} {x.Running,7} {x.Healthy,7}");
        }

        stdout.WriteLine();
        stdout.WriteLine($"API: {m.State.Api} inside the lab (namespace {m.State.SeedNamespace}); ./zc get and ./zc status find it by themselves");
    }

    public static void Up(BringUpMonitor m, DateTime started, TextWriter stdout)
    {
        var lost = m.Servers.Where(v => v.IsLost).ToList();
        stdout.WriteLine($"zc up: cluster {m.Config.Metadata.Name} is up: {m.Nodes.Count(n => n.Status == NodeStatus.Ready)} nodes Ready, every service at its replicas, in {Since(started)}" +
            (lost.Count > 0 ? $"; lost on the way: {string.Join(", ", lost.Select(l => $"{l.Server.Id} ({l.Name ?? l.Server.Mac}, {l.PhaseText}{(l.Problem is null ? "" : ": " + l.Problem)})"))}; the cluster healed around {(lost.Count == 1 ? "it" : "them")}" : ""));
        stdout.WriteLine("zc up: look at it with ./zc get nodes|services|instances and ./zc status; remove it with ./zc down");
    }

    public static void NotUp(BringUpMonitor m, DateTime started, TimeSpan timeout, TextWriter stderr)
    {
        stderr.WriteLine(m.Hopeless
            ? $"zc up: every server is in, and the scheduler cannot place everything ({Since(started)}):"
            : $"zc up: not done after {timeout.TotalSeconds:0} s:");
        foreach (var reason in m.Unplaced)
        {
            stderr.WriteLine($"  {reason}");
        }

        foreach (var v in m.Servers.Where(v => v.Phase != ServerPhase.Ready))
        {
            stderr.WriteLine($"  {v.Server.Id} ({v.Server.Mac}{(v.Name is null ? "" : ", " + v.Name)}): stuck at {v.PhaseText}{(v.Problem is null ? "" : ": " + v.Problem)}; last line: {v.LastLine} (log {Path.Combine(v.Server.Directory, "node.log")})");
        }

        foreach (var x in m.Services.Where(x => x.Running < x.Desired || x.Healthy < x.Desired))
        {
            stderr.WriteLine($"  service {x.Name}: {x.Running} of {x.Desired} running, {x.Healthy} healthy");
        }

        stderr.WriteLine("zc up: the lab is left running to look at (zc get ...); remove it with zc down");
    }
}
