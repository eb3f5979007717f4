using System.Collections.Immutable;
using System.Text;

namespace ZeroCloud.Model.Config;

/// <summary>The outcome of loading a cluster.yaml: the config when it is valid, and every problem found.</summary>
public sealed record ClusterConfigResult(ClusterConfig? Config, ImmutableArray<Diagnostic> Diagnostics)
{
    public bool IsValid => Config is not null;
}

/// <summary>
/// Parses and validates a cluster.yaml in one pass. Every problem is collected, with file:line:column and the
/// field path, before anything is returned; a config comes back only when there are none, with every default filled in.
/// </summary>
public static partial class ClusterConfigLoader
{
    /// <summary>Reads and validates the file at <paramref name="path"/>. I/O failures (missing file, no permission) throw.</summary>
    public static ClusterConfigResult LoadFile(string path, string? displayName = null)
    {
        var bytes = File.ReadAllBytes(path);
        return Load(bytes, displayName ?? path);
    }

    /// <summary>Validates raw file content; rejects what is not UTF-8 text before handing it to the YAML parser.</summary>
    public static ClusterConfigResult Load(ReadOnlySpan<byte> content, string fileName)
    {
        var bom = content.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? 3 : 0;
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(content[bom..]);
        }
        catch (DecoderFallbackException)
        {
            var offset = FirstInvalidUtf8(content[bom..]);
            var at = PositionOf(Encoding.UTF8.GetString(content[bom..(bom + offset)]), offset);
            return Fail(fileName, at, $"not a YAML file: byte {offset} is not UTF-8 text (is this a binary file?)");
        }

        return Load(text, fileName);
    }

    /// <summary>Validates YAML text.</summary>
    public static ClusterConfigResult Load(string text, string fileName)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if ((c < 0x20 && c is not ('\t' or '\n' or '\r')) || c == 0x7F)
            {
                return Fail(fileName, PositionOf(text, i), $"not a YAML file: control character U+{(int)c:X4} (is this a binary file?)");
            }
        }

        var parseErrors = new List<(TextPosition Position, string Message)>();
        var root = YamlTree.Parse(text, parseErrors);
        var reader = new YamlReader(fileName);
        foreach (var (position, message) in parseErrors)
        {
            reader.Error(position, "", message);
        }

        if (root is null && parseErrors.Count == 0)
        {
            reader.Error(new TextPosition(1, 1), "", "the file is empty: a cluster.yaml needs apiVersion, kind, metadata and spec (start from the cluster.yaml at the repository root)");
        }

        ClusterConfig? config = null;
        if (root is not null)
        {
            config = BindRoot(reader, root);
        }

        var diagnostics = reader.Diagnostics.OrderBy(d => d.Position).ToImmutableArray();
        return new ClusterConfigResult(diagnostics.IsEmpty ? config : null, diagnostics);
    }

    private static ClusterConfigResult Fail(string file, TextPosition at, string message) =>
        new(null, [new Diagnostic(file, at, "", message)]);

    private static TextPosition PositionOf(string text, int index)
    {
        int line = 1, column = 1;
        for (var i = 0; i < index && i < text.Length; i++)
        {
            if (text[i] == '\n')
            {
                line++;
                column = 1;
            }
            else
            {
                column++;
            }
        }

        return new TextPosition(line, column);
    }

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        var offset = 0;
        while (offset < bytes.Length)
        {
            var status = System.Text.Rune.DecodeFromUtf8(bytes[offset..], out _, out var consumed);
            if (status != System.Buffers.OperationStatus.Done)
            {
                return offset;
            }

            offset += consumed;
        }

        return offset;
    }
}
