namespace ZeroCloud.Boot;

/// <summary>
/// Kernel modules from a kernel's modules.dep: the ones asked for and everything they depend on, in an order that
/// loads every dependency before its users.
/// </summary>
public static class KernelModules
{
    /// <summary>
    /// virtio-net (with the PCI transport QEMU's PCs use and the MMIO transport of <c>-M microvm</c>, which the Debian
    /// kernel has as a module) and Intel e1000, the NICs the lab and most hypervisors give.
    /// </summary>
    public static readonly IReadOnlyList<string> NetworkDrivers = ["virtio_mmio", "virtio_pci", "virtio_net", "e1000"];

    /// <summary>
    /// What the node image adds to find and mount its data disk: virtio, NVMe, SATA (AHCI) and SCSI disks, and ext4 with
    /// the crc32c its metadata checksums need (the image has no modprobe to load it on demand).
    /// </summary>
    public static readonly IReadOnlyList<string> StorageDrivers = ["virtio_blk", "nvme", "ahci", "sd_mod", "crc32c_generic", "ext4"];

    /// <summary>Relative paths (as in modules.dep) of <paramref name="names"/> and their dependencies, dependencies first.</summary>
    public static List<string> Resolve(string modulesDep, IEnumerable<string> names)
    {
        var deps = new Dictionary<string, string[]>(StringComparer.Ordinal);
        foreach (var line in modulesDep.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                deps[line[..colon]] = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            }
        }

        var byName = deps.Keys.ToDictionary(ModuleName, p => p, StringComparer.Ordinal);
        var order = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Visit(string path)
        {
            if (!seen.Add(path))
            {
                return;
            }

            foreach (var dep in deps.GetValueOrDefault(path, []))
            {
                Visit(dep);
            }

            order.Add(path);
        }

        foreach (var name in names)
        {
            Visit(byName.TryGetValue(name.Replace('-', '_'), out var path)
                ? path
                : throw new KeyNotFoundException($"the kernel has no module '{name}' in modules.dep (built in, or not built?)"));
        }

        return order;
    }

    /// <summary>"kernel/drivers/net/virtio_net.ko" → "virtio_net" (also for .ko.xz / .ko.zst).</summary>
    public static string ModuleName(string path)
    {
        var file = Path.GetFileName(path);
        var dot = file.IndexOf(".ko", StringComparison.Ordinal);
        return (dot < 0 ? file : file[..dot]).Replace('-', '_');
    }
}
