using System.Globalization;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Node;

/// <summary>Hardware inventory from /proc and /sys, as any Linux exposes it. Every reader tolerates what is missing.</summary>
internal static class Inventory
{
    public static NodeInventory Collect(IReadOnlyList<string>? blockDevices, string proc = "/proc", string sys = "/sys")
    {
        var cpuinfo = Read(Path.Combine(proc, "cpuinfo")) ?? "";
        var cpus = cpuinfo.Split('\n').Count(l => l.StartsWith("processor", StringComparison.Ordinal));
        var model = cpuinfo.Split('\n').FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim();
        var memKb = (Read(Path.Combine(proc, "meminfo")) ?? "").Split('\n')
            .Where(l => l.StartsWith("MemTotal:", StringComparison.Ordinal))
            .Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture))
            .FirstOrDefault();
        // The disks as the data disk sees them (Disks/BlockDevices): only those this agent may see (--block-devices).
        var disks = Disks.BlockDevices.Scan(blockDevices, sys, proc).Select(d => d.ToInfo()).ToList();

        var nics = new List<NicInfo>();
        foreach (var net in Entries(Path.Combine(sys, "class", "net")))
        {
            var name = Path.GetFileName(net);
            if (name == "lo")
            {
                continue;
            }

            int? speed = int.TryParse(Read(Path.Combine(net, "speed"))?.Trim(), CultureInfo.InvariantCulture, out var sp) && sp > 0 ? sp : null;
            nics.Add(new NicInfo(
                name,
                Read(Path.Combine(net, "address"))?.Trim() ?? "",
                Read(Path.Combine(net, "operstate"))?.Trim() ?? "unknown",
                speed,
                int.TryParse(Read(Path.Combine(net, "mtu"))?.Trim(), CultureInfo.InvariantCulture, out var mtu) ? mtu : 0));
        }

        var dmi = Path.Combine(sys, "class", "dmi", "id");
        return new NodeInventory(
            Read(Path.Combine(proc, "sys", "kernel", "hostname"))?.Trim() ?? Environment.MachineName,
            Read(Path.Combine(proc, "sys", "kernel", "osrelease"))?.Trim() ?? "",
            cpus,
            model,
            memKb * 1024,
            [.. disks.OrderBy(d => d.Name, StringComparer.Ordinal)],
            [.. nics.OrderBy(n => n.Name, StringComparer.Ordinal)],
            Read(Path.Combine(dmi, "product_name"))?.Trim(),
            Read(Path.Combine(dmi, "product_serial"))?.Trim(),
            Read(Path.Combine(dmi, "sys_vendor"))?.Trim());
    }

    private static string? Read(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static IEnumerable<string> Entries(string directory) =>
        Directory.Exists(directory) ? Directory.GetFileSystemEntries(directory).Order(StringComparer.Ordinal) : [];
}
