namespace ZeroCloud.Cluster.Power;

/// <summary>
/// The ipmitool a member runs: the one the control image carries beside zc-control (<c>usr/bin/ipmitool</c>, started
/// through the image's own loader with the image's libraries, since a node booted from the network has neither
/// ipmitool nor its libraries in its root), else <c>ipmitool</c> from PATH (a member installed by hand, the tests).
/// </summary>
public sealed record IpmiTool(string File, IReadOnlyList<string> Prefix)
{
    /// <summary>ipmitool in PATH.</summary>
    public static IpmiTool FromPath { get; } = new("ipmitool", []);

    /// <summary>Where the control image puts ipmitool, relative to the image's root.</summary>
    public const string InImage = "usr/bin/ipmitool";

    /// <summary>The image's dynamic loader, relative to its root (PT_INTERP of Debian's x86-64 binaries).</summary>
    public const string Loader = "lib64/ld-linux-x86-64.so.2";

    /// <summary>The one in the image unpacked at <paramref name="root"/> (default: beside this program), else the one in PATH.</summary>
    public static IpmiTool Find(string? root = null)
    {
        root ??= AppContext.BaseDirectory;
        var tool = Path.Combine(root, InImage);
        var loader = Path.Combine(root, Loader);
        if (!System.IO.File.Exists(tool) || !System.IO.File.Exists(loader))
        {
            return FromPath;
        }

        string[] folders = ["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "usr/lib"];
        var path = string.Join(':', folders.Select(f => Path.Combine(root, f)).Where(Directory.Exists));
        return new IpmiTool(loader, ["--library-path", path, tool]);
    }

    public override string ToString() => Prefix.Count == 0 ? File : Prefix[^1];
}
