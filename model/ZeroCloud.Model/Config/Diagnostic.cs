namespace ZeroCloud.Model.Config;

/// <summary>A position in a text file: 1-based line and column.</summary>
public readonly record struct TextPosition(int Line, int Column) : IComparable<TextPosition>
{
    public int CompareTo(TextPosition other) =>
        Line != other.Line ? Line.CompareTo(other.Line) : Column.CompareTo(other.Column);

    public static bool operator <(TextPosition left, TextPosition right) => left.CompareTo(right) < 0;

    public static bool operator >(TextPosition left, TextPosition right) => left.CompareTo(right) > 0;

    public static bool operator <=(TextPosition left, TextPosition right) => left.CompareTo(right) <= 0;

    public static bool operator >=(TextPosition left, TextPosition right) => left.CompareTo(right) >= 0;

    public override string ToString() => $"{Line}:{Column}";
}

/// <summary>
/// One problem found in a cluster.yaml: where it is (file, line, column, field path)
/// and what is wrong, phrased so that the operator knows what to change.
/// </summary>
public sealed record Diagnostic(string File, TextPosition Position, string Path, string Message)
{
    /// <summary>
    /// The form every tool prints: <c>cluster.yaml:14:14: spec.network.dhcp.range: end 10.77.0.5 is before start 10.77.0.100</c>.
    /// </summary>
    public override string ToString() =>
        Path.Length == 0 ? $"{File}:{Position}: {Message}" : $"{File}:{Position}: {Path}: {Message}";
}
