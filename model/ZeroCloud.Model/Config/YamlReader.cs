using System.Collections.Immutable;
using System.Globalization;

namespace ZeroCloud.Model.Config;

/// <summary>
/// Reads typed values out of a <see cref="YNode"/> tree and records a <see cref="Diagnostic"/> for every
/// problem, so that one pass reports them all. Every read returns a usable value (the default when the input
/// was wrong); callers check <see cref="HasErrors"/> before they trust the result.
/// </summary>
internal sealed class YamlReader
{
    private readonly string _file;
    private readonly List<Diagnostic> _diagnostics = [];

    public YamlReader(string file) => _file = file;

    public IReadOnlyList<Diagnostic> Diagnostics => _diagnostics;

    public bool HasErrors => _diagnostics.Count > 0;

    public void Error(TextPosition at, string path, string message) => _diagnostics.Add(new Diagnostic(_file, at, path, message));

    public void Error(YNode at, string path, string message) => Error(at.Start, path, message);

    /// <summary>Opens <paramref name="node"/> as a mapping with the given fields; reports it when it is another kind of node.</summary>
    public Section? Section(YNode? node, string path, params string[] fields)
    {
        if (node is null)
        {
            return null;
        }

        if (node is YMapping map)
        {
            return new Section(this, map, path, fields);
        }

        Error(node, path, $"expected a mapping (fields such as {string.Join(", ", fields.Take(3))}), found {node.Describe()}");
        return null;
    }

    public IReadOnlyList<(YNode Node, string Path)> List(YNode? node, string path, string what)
    {
        if (node is null)
        {
            return [];
        }

        if (node is YSequence seq)
        {
            return [.. seq.Items.Select((item, i) => (item, $"{path}[{i}]"))];
        }

        Error(node, path, $"expected a list of {what}, found {node.Describe()}");
        return [];
    }

    public string? String(YNode? node, string path)
    {
        if (node is null)
        {
            return null;
        }

        if (node is YScalar scalar)
        {
            return scalar.Value;
        }

        Error(node, path, $"expected a string, found {node.Describe()}");
        return null;
    }

    public int? Int(YNode? node, string path)
    {
        if (node is null)
        {
            return null;
        }

        if (node is YScalar { IsQuoted: false } scalar &&
            int.TryParse(scalar.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        var hint = node is YScalar { IsQuoted: true } q && int.TryParse(q.Value, CultureInfo.InvariantCulture, out _) ? " (remove the quotes)" : "";
        Error(node, path, $"expected an integer, found {node.Describe()}{hint}");
        return null;
    }

    public TEnum? Enum<TEnum>(YNode? node, string path)
        where TEnum : struct, System.Enum
    {
        var text = String(node, path);
        if (text is null)
        {
            return null;
        }

        var names = System.Enum.GetNames<TEnum>().Select(n => n.ToLowerInvariant()).ToArray();
        var index = Array.IndexOf(names, text);
        if (index >= 0)
        {
            return System.Enum.GetValues<TEnum>()[index];
        }

        var suggestion = Suggest.Closest(text, names);
        Error(node!, path, $"\"{text}\" is not one of {string.Join(" | ", names)}{(suggestion is null ? "" : $" (did you mean '{suggestion}'?)")}");
        return null;
    }

    public TimeSpan? Duration(YNode? node, string path)
    {
        var text = String(node, path);
        if (text is null)
        {
            return null;
        }

        if (Durations.TryParse(text, out var value))
        {
            return value;
        }

        Error(node!, path, $"\"{text}\" is not a duration: write {Durations.Hint}");
        return null;
    }

    /// <summary>A mapping of string to string (labels, env, node selectors), each key checked by <paramref name="keyRule"/>.</summary>
    public ImmutableSortedDictionary<string, string> StringMap(YNode? node, string path, Func<string, string?> keyRule, Func<string, string?> valueRule)
    {
        var result = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        if (node is null)
        {
            return result.ToImmutable();
        }

        if (node is not YMapping map)
        {
            Error(node, path, $"expected a mapping of names to values, found {node.Describe()}");
            return result.ToImmutable();
        }

        var seen = new Dictionary<string, YNode>(StringComparer.Ordinal);
        foreach (var (keyNode, valueNode) in map.Entries)
        {
            if (keyNode is not YScalar { IsNull: false } key)
            {
                Error(keyNode, path, $"expected a name as the key, found {keyNode.Describe()}");
                continue;
            }

            var entryPath = $"{path}.{key.Value}";
            if (seen.TryGetValue(key.Value, out var first))
            {
                Error(keyNode, entryPath, $"duplicate key '{key.Value}' (first at line {first.Start.Line}:{first.Start.Column}); keep one");
                continue;
            }

            seen[key.Value] = keyNode;
            if (keyRule(key.Value) is { } keyProblem)
            {
                Error(keyNode, entryPath, keyProblem);
            }

            var value = valueNode is YScalar { IsNull: true } ? "" : String(valueNode, entryPath);
            if (value is null)
            {
                continue;
            }

            if (valueRule(value) is { } valueProblem)
            {
                Error(valueNode, entryPath, valueProblem);
            }

            result[key.Value] = value;
        }

        return result.ToImmutable();
    }
}

/// <summary>One mapping being read: knows its fields, reports unknown and duplicate keys once, at open.</summary>
internal sealed class Section
{
    private readonly YamlReader _reader;
    private readonly Dictionary<string, (YNode Key, YNode Value)> _values = new(StringComparer.Ordinal);

    public Section(YamlReader reader, YMapping map, string path, string[] fields)
    {
        _reader = reader;
        Map = map;
        Path = path;
        foreach (var (keyNode, valueNode) in map.Entries)
        {
            if (keyNode is not YScalar { IsNull: false } key)
            {
                reader.Error(keyNode, path, $"expected a field name as the key, found {keyNode.Describe()}");
                continue;
            }

            if (!fields.Contains(key.Value, StringComparer.Ordinal))
            {
                var suggestion = Suggest.Closest(key.Value, fields);
                var hint = suggestion is not null
                    ? $" (did you mean '{suggestion}'?)"
                    : $"; the fields here are {string.Join(", ", fields)}";
                reader.Error(keyNode, Join(key.Value), $"unknown field '{key.Value}'{hint}");
                continue;
            }

            if (_values.TryGetValue(key.Value, out var first))
            {
                reader.Error(keyNode, Join(key.Value), $"duplicate field '{key.Value}' (first at line {first.Key.Start.Line}:{first.Key.Start.Column}); keep one");
                continue;
            }

            _values[key.Value] = (keyNode, valueNode);
        }
    }

    public YMapping Map { get; }

    public string Path { get; }

    public string Join(string field) => Path.Length == 0 ? field : $"{Path}.{field}";

    /// <summary>The value of <paramref name="field"/>, or null when it is absent or written as YAML null.</summary>
    public YNode? this[string field] =>
        _values.TryGetValue(field, out var entry) && entry.Value is not YScalar { IsNull: true } ? entry.Value : null;

    /// <summary>Like the indexer, but reports a missing or empty field.</summary>
    public YNode? Required(string field, string what)
    {
        var value = this[field];
        if (value is null)
        {
            if (_values.TryGetValue(field, out var entry))
            {
                _reader.Error(entry.Key, Join(field), $"'{field}' has no value: give {what}");
            }
            else
            {
                _reader.Error(Map, Join(field), $"missing required field '{field}': give {what}");
            }
        }

        return value;
    }
}

/// <summary>"Did you mean" suggestions by edit distance.</summary>
internal static class Suggest
{
    public static string? Closest(string input, IEnumerable<string> candidates)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var distance = string.Equals(input, candidate, StringComparison.OrdinalIgnoreCase) ? 0 : Distance(input.ToLowerInvariant(), candidate.ToLowerInvariant());
            if (distance < bestDistance)
            {
                (best, bestDistance) = (candidate, distance);
            }
        }

        var allowed = Math.Max(1, Math.Min(3, (input.Length + 2) / 4));
        return bestDistance <= allowed ? best : null;
    }

    /// <summary>Optimal string alignment distance: insertions, deletions, substitutions and adjacent transpositions.</summary>
    public static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }
}
