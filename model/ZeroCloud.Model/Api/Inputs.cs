using System.Globalization;
using System.Text.RegularExpressions;

namespace ZeroCloud.Model.Api;

/// <summary>
/// The rules every name, image, argument and environment variable must pass wherever it becomes a path, a file name,
/// an argument or a kernel command line: checked when cluster.yaml is read, when a value is written to the store, and
/// again by the node agent before it runs anything. Each check returns null when the value is fine, otherwise what is
/// wrong with it.
/// </summary>
public static partial class Inputs
{
    /// <summary>Most arguments one instance may have.</summary>
    public const int MaxArguments = 64;

    /// <summary>Longest argument or environment value, in characters.</summary>
    public const int MaxArgumentLength = 4096;

    /// <summary>
    /// Environment variables a service may not set: the dynamic loader's and the .NET runtime's (they load code into
    /// the process: <c>LD_PRELOAD</c>, <c>DOTNET_STARTUP_HOOKS</c>, profilers), glibc's list of variables it drops for
    /// set-uid programs, and <c>ZC_</c>, which the agent sets itself.
    /// </summary>
    private static readonly string[] DeniedEnvPrefixes = ["LD_", "DOTNET_", "CORECLR_", "COMPlus_", "COREHOST_", "ZC_"];

    private static readonly HashSet<string> DeniedEnvNames = new(StringComparer.Ordinal)
    {
        "BASH_ENV", "ENV", "GCONV_PATH", "GETCONF_DIR", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH", "MALLOC_TRACE",
        "NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS", "TMPDIR", "TZDIR", "PATH", "IFS",
    };

    /// <summary>A name (node, service, instance id): an RFC 1123 DNS label, so it is safe as a path segment and a host name.</summary>
    public static string? Name(string? value, string what) =>
        value is not null && NameRegex().IsMatch(value)
            ? null
            : $"{what} {Quote(value)} is not a valid name: 1 to 63 lower-case letters, digits and '-', starting and ending with a letter or digit";

    /// <summary>An image reference: <c>builtin/&lt;name&gt;</c>, <c>&lt;name&gt;@sha256:&lt;64 hex digits&gt;</c> (pinned) or <c>sha256:&lt;64 hex digits&gt;</c>.</summary>
    public static string? Image(string? value) =>
        value is not null && (value.StartsWith("builtin/", StringComparison.Ordinal) ? NameRegex().IsMatch(value["builtin/".Length..])
            : value.IndexOf('@', StringComparison.Ordinal) is > 0 and var at ? NameRegex().IsMatch(value[..at]) && Sha256Regex().IsMatch(value[(at + 1)..])
            : Sha256Regex().IsMatch(value))
            ? null
            : $"image {Quote(value)} is not an image reference: builtin/<name>, <name>@sha256:<64 hex digits> or sha256:<64 hex digits>";

    /// <summary>An environment variable's name: the POSIX shape and not on the deny list.</summary>
    public static string? EnvName(string? name)
    {
        if (name is null || !EnvNameRegex().IsMatch(name))
        {
            return $"{Quote(name)} is not an environment variable name (letters, digits and _, not starting with a digit)";
        }

        if (DeniedEnvNames.Contains(name) || DeniedEnvPrefixes.Any(p => name.StartsWith(p, StringComparison.Ordinal)))
        {
            return $"environment variable '{name}' may not be set by a service (it changes how programs are loaded or is the agent's own; denied: {string.Join(", ", DeniedEnvPrefixes.Select(p => p + "*"))}, {string.Join(", ", DeniedEnvNames.Order(StringComparer.Ordinal))})";
        }

        return null;
    }

    /// <summary>An argument or environment value: bounded, no NUL and no line breaks (they would split a kernel command line or a log line).</summary>
    public static string? Argument(string? value, string what) =>
        value is null ? $"{what} is missing"
        : value.Length > MaxArgumentLength ? $"{what} is {value.Length.ToString(CultureInfo.InvariantCulture)} characters long; at most {MaxArgumentLength.ToString(CultureInfo.InvariantCulture)}"
        : value.AsSpan().IndexOfAny('\0', '\n', '\r') >= 0 ? $"{what} {Quote(value)} contains a NUL or a line break"
        : null;

    /// <summary>Every problem with a placement, each naming its field; empty when it may be run.</summary>
    public static IReadOnlyList<string> Instance(InstanceDto? instance)
    {
        if (instance is null)
        {
            return ["the placement is empty"];
        }

        var problems = new List<string>();
        Add(problems, Name(instance.Id, "id"));
        Add(problems, Name(instance.Service, "service"));
        Add(problems, Name(instance.Node, "node"));
        Add(problems, Image(instance.Image));
        if (instance.Runtime is not (null or "vm" or "process"))
        {
            problems.Add($"runtime {Quote(instance.Runtime)} is not vm, process or absent");
        }

        if (instance.CpuMillis < 0 || instance.MemoryBytes < 0)
        {
            problems.Add("cpu and memory cannot be negative");
        }

        foreach (var port in instance.Ports ?? [])
        {
            if (port is < 1 or > 65535)
            {
                problems.Add($"port {port.ToString(CultureInfo.InvariantCulture)} is not 1-65535");
            }
        }

        if (instance.Health is { Port: < 1 or > 65535 } health)
        {
            problems.Add($"health port {health.Port.ToString(CultureInfo.InvariantCulture)} is not 1-65535");
        }

        var args = instance.Args ?? [];
        if (args.Count > MaxArguments)
        {
            problems.Add($"{args.Count.ToString(CultureInfo.InvariantCulture)} arguments; at most {MaxArguments.ToString(CultureInfo.InvariantCulture)}");
        }

        for (var i = 0; i < args.Count; i++)
        {
            Add(problems, Argument(args[i], $"args[{i.ToString(CultureInfo.InvariantCulture)}]"));
        }

        foreach (var (name, value) in instance.Env ?? new Dictionary<string, string>())
        {
            Add(problems, EnvName(name));
            Add(problems, Argument(value, $"env {name}"));
        }

        return problems;
    }

    private static void Add(List<string> problems, string? problem)
    {
        if (problem is not null)
        {
            problems.Add(problem);
        }
    }

    private static string Quote(string? value) => value is null ? "(none)" : value.Length > 80 ? $"\"{value[..80]}…\"" : $"\"{value}\"";

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    private static partial Regex NameRegex();

    /// <summary>
    /// A stored object's name: 1 to 200 of lower-case letters, digits, '.', '_', '-' and '/', starting with a letter or
    /// digit, no empty, '.' or '..' segment (names become URL paths and keys, never file names).
    /// </summary>
    public static string? ObjectName(string? value, string what) =>
        value is not null && ObjectNameRegex().IsMatch(value) && value.Split('/').All(s => s.Length > 0 && s != "." && s != "..")
            ? null
            : $"{what} {Quote(value)} is not a valid object name: 1 to 200 lower-case letters, digits, '.', '_', '-' and '/', starting with a letter or digit, no empty, '.' or '..' part";

    /// <summary>A blob digest: <c>sha256:&lt;64 lower-case hex digits&gt;</c>.</summary>
    public static string? Digest(string? value) =>
        value is not null && Sha256Regex().IsMatch(value) ? null : $"{Quote(value)} is not a digest: sha256:<64 lower-case hex digits>";

    [GeneratedRegex("^[a-z0-9][a-z0-9._/-]{0,199}$")]
    private static partial Regex ObjectNameRegex();

    [GeneratedRegex("^sha256:[0-9a-f]{64}$")]
    private static partial Regex Sha256Regex();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex EnvNameRegex();
}
