using System.Globalization;

namespace ZeroCloud.Model.Config;

/// <summary>What applying one cluster.yaml over another changes, one line per change: "+" added, "-" removed, "~" changed.</summary>
public static class SpecDiff
{
    public static List<string> Describe(ClusterConfig? before, ClusterConfig after)
    {
        var lines = new List<string>();
        if (before is null)
        {
            lines.Add($"+ cluster {after.Metadata.Name}: {Count(after.Spec.Services.Length, "service")}, {Count(after.Spec.Nodes.Known.Length, "known node")}, control plane {after.Spec.ControlPlane.Replicas}");
            lines.AddRange(after.Spec.Services.Select(s => $"+ service {s.Name} ({s.Image} × {s.Replicas})"));
            return lines;
        }

        Changed(lines, "metadata.name", before.Metadata.Name, after.Metadata.Name);
        var (b, a) = (before.Spec, after.Spec);
        Changed(lines, "controlPlane.replicas", b.ControlPlane.Replicas, a.ControlPlane.Replicas);
        Changed(lines, "nodes.enroll", b.Nodes.Enroll, a.Nodes.Enroll);
        Changed(lines, "nodes.heartbeat", Durations.Format(b.Nodes.Heartbeat), Durations.Format(a.Nodes.Heartbeat));
        Changed(lines, "nodes.downAfter", Durations.Format(b.Nodes.DownAfter), Durations.Format(a.Nodes.DownAfter));
        Changed(lines, "nodes.bootTimeout", Durations.Format(b.Nodes.BootTimeout), Durations.Format(a.Nodes.BootTimeout));
        Changed(lines, "network.subnet", b.Network.Subnet, a.Network.Subnet);
        Changed(lines, "network.gateway", b.Network.Gateway, a.Network.Gateway);
        Changed(lines, "network.dhcp.mode", b.Network.Dhcp.Mode, a.Network.Dhcp.Mode);
        Changed(lines, "network.dhcp.range", b.Network.Dhcp.Range, a.Network.Dhcp.Range);
        Changed(lines, "boot.runtime", b.Boot.Runtime, a.Boot.Runtime);
        Changed(lines, "boot.kernel", b.Boot.Kernel, a.Boot.Kernel);

        var knownBefore = b.Nodes.Known.ToDictionary(k => k.Mac);
        var knownAfter = a.Nodes.Known.ToDictionary(k => k.Mac);
        lines.AddRange(a.Nodes.Known.Where(k => !knownBefore.ContainsKey(k.Mac)).Select(k => $"+ known node {k.Name} ({k.Mac})"));
        lines.AddRange(b.Nodes.Known.Where(k => !knownAfter.ContainsKey(k.Mac)).Select(k => $"- known node {k.Name} ({k.Mac})"));
        foreach (var k in a.Nodes.Known.Where(k => knownBefore.TryGetValue(k.Mac, out var old) && old != k && !Same(old, k)))
        {
            lines.Add($"~ known node {k.Name} ({k.Mac})");
        }

        var servicesBefore = b.Services.ToDictionary(s => s.Name, StringComparer.Ordinal);
        var servicesAfter = a.Services.ToDictionary(s => s.Name, StringComparer.Ordinal);
        lines.AddRange(a.Services.Where(s => !servicesBefore.ContainsKey(s.Name)).Select(s => $"+ service {s.Name} ({s.Image} × {s.Replicas})"));
        lines.AddRange(b.Services.Where(s => !servicesAfter.ContainsKey(s.Name)).Select(s => $"- service {s.Name} (its {Count(s.Replicas, "instance")} stop)"));
        foreach (var s in a.Services)
        {
            if (!servicesBefore.TryGetValue(s.Name, out var old))
            {
                continue;
            }

            var changes = new List<string>();
            Part(changes, "replicas", old.Replicas, s.Replicas);
            Part(changes, "image", old.Image, s.Image);
            Part(changes, "resources", $"{old.Resources.CpuMillis}m/{old.Resources.MemoryBytes >> 20}Mi", $"{s.Resources.CpuMillis}m/{s.Resources.MemoryBytes >> 20}Mi");
            Part(changes, "spread", old.Spread, s.Spread);
            Part(changes, "ports", string.Join(",", old.Ports), string.Join(",", s.Ports));
            Part(changes, "args", string.Join(" ", old.Args), string.Join(" ", s.Args));
            Part(changes, "env", Pairs(old.Env), Pairs(s.Env));
            Part(changes, "nodeSelector", Pairs(old.NodeSelector), Pairs(s.NodeSelector));
            Part(changes, "labels", Pairs(old.Labels), Pairs(s.Labels));
            Part(changes, "health", old.Health?.ToString() ?? "none", s.Health?.ToString() ?? "none");
            if (changes.Count > 0)
            {
                lines.Add($"~ service {s.Name}: {string.Join("; ", changes)}");
            }
        }

        return lines;
    }

    private static bool Same(KnownMachine a, KnownMachine b) =>
        a.Name == b.Name && Equals(a.Ip, b.Ip) && a.BootFile == b.BootFile && Pairs(a.Labels) == Pairs(b.Labels);

    private static string Pairs(IEnumerable<KeyValuePair<string, string>> pairs) =>
        string.Join(",", pairs.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"));

    private static string Count(int n, string what) => $"{n.ToString(CultureInfo.InvariantCulture)} {what}{(n == 1 ? "" : "s")}";

    private static void Changed<T>(List<string> lines, string field, T before, T after)
    {
        if (!EqualityComparer<T>.Default.Equals(before, after))
        {
            lines.Add($"~ {field}: {Show(before)} → {Show(after)}");
        }
    }

    private static void Part<T>(List<string> parts, string field, T before, T after)
    {
        if (!EqualityComparer<T>.Default.Equals(before, after))
        {
            parts.Add($"{field} {Show(before)} → {Show(after)}");
        }
    }

    private static string Show<T>(T value) => value switch
    {
        null => "none",
        string { Length: 0 } => "none",
        Enum e => e.ToString().ToLowerInvariant(),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "none",
    };
}
