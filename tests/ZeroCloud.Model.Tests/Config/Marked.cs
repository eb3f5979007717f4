using ZeroCloud.Model.Config;

namespace ZeroCloud.Model.Tests.Config;

/// <summary>
/// Test YAML with a '«' where a diagnostic is expected: the marker is removed and its line:column returned,
/// so that each test states the position in the text itself instead of in numbers that drift when lines move.
/// </summary>
internal static class Marked
{
    public const string File = "cluster.yaml";

    public static (string Text, TextPosition At) Parse(string marked)
    {
        var index = marked.IndexOf('«', StringComparison.Ordinal);
        Assert.True(index >= 0, "the test YAML has no « marker");
        var before = marked[..index];
        var line = before.Count(c => c == '\n') + 1;
        var column = index - (before.LastIndexOf('\n') + 1) + 1;
        return (marked.Remove(index, 1), new TextPosition(line, column));
    }

    public static ClusterConfigResult Load(string text) => ClusterConfigLoader.Load(text, File);

    /// <summary>Loads <paramref name="marked"/> and asserts that exactly one problem is reported, at the marker, for <paramref name="path"/>, with a message containing <paramref name="message"/>.</summary>
    public static Diagnostic AssertOne(string marked, string path, string message)
    {
        var (text, at) = Parse(marked);
        var result = Load(text);
        Assert.False(result.IsValid, "the file was accepted");
        var d = Assert.Single(result.Diagnostics);
        Assert.Equal(File, d.File);
        Assert.Equal(path, d.Path);
        Assert.Contains(message, d.Message, StringComparison.Ordinal);
        Assert.Equal(at, d.Position);
        Assert.StartsWith($"{File}:{at.Line}:{at.Column}: {(path.Length > 0 ? path + ": " : "")}", d.ToString(), StringComparison.Ordinal);
        return d;
    }
}
