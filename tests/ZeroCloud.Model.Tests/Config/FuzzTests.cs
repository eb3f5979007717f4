using System.Text;
using CsCheck;
using ZeroCloud.Model.Config;

namespace ZeroCloud.Model.Tests.Config;

/// <summary>
/// The loader must answer every input with a result, never an exception: mutated copies of the example
/// (bytes changed, lines dropped or duplicated, YAML punctuation spliced in) and arbitrary text.
/// Bounded by iteration count so CI time stays fixed; set ZC_FUZZ_ITER for a longer run by hand.
/// </summary>
public class FuzzTests
{
    private static readonly long Iterations = long.TryParse(Environment.GetEnvironmentVariable("ZC_FUZZ_ITER"), out var n) ? n : 4000;

    private static readonly byte[] Example = File.ReadAllBytes("cluster.yaml");
    private static readonly string[] Splices = ["- ", ": ", "{", "}", "[", "]", "&a ", "*a", "*b", "---\n", "\t", "'", "\"", "!!int ", "? ", "|\n", "~", "\n  ", "#", "\u00e9", "\0"];

    private static readonly Gen<byte[]> Mutated =
        Gen.Int[0, Example.Length - 1].Array[1, 8].SelectMany(positions =>
            Gen.OneOf(
                Gen.Byte.Array[positions.Length].Select(values =>
                {
                    var copy = (byte[])Example.Clone();
                    for (var i = 0; i < positions.Length; i++)
                    {
                        copy[positions[i]] = values[i];
                    }

                    return copy;
                }),
                Gen.Int[0, Splices.Length - 1].Array[positions.Length].Select(which =>
                {
                    var text = Encoding.UTF8.GetString(Example);
                    var order = positions.Select((p, i) => (Position: Math.Min(p, text.Length), Splice: Splices[which[i]])).OrderByDescending(x => x.Position);
                    foreach (var (position, splice) in order)
                    {
                        text = text.Insert(position, splice);
                    }

                    return Encoding.UTF8.GetBytes(text);
                }),
                Gen.Int[0, 60].Select(line =>
                {
                    var lines = Encoding.UTF8.GetString(Example).Split('\n').ToList();
                    var index = Math.Min(line, lines.Count - 1);
                    if (positions.Length % 2 == 0)
                    {
                        lines.RemoveAt(index);
                    }
                    else
                    {
                        lines.Insert(index, lines[index]);
                    }

                    return Encoding.UTF8.GetBytes(string.Join('\n', lines));
                })));

    private static void CheckResult(ClusterConfigResult result)
    {
        Assert.Equal(result.Config is null, result.Diagnostics.Length > 0);
        foreach (var d in result.Diagnostics)
        {
            Assert.True(d.Position.Line >= 1 && d.Position.Column >= 1, d.ToString());
            Assert.False(string.IsNullOrWhiteSpace(d.Message));
        }
    }

    [Fact]
    public void Mutated_examples_never_throw()
    {
        Mutated.Sample(bytes => CheckResult(ClusterConfigLoader.Load(bytes, "fuzz.yaml")), iter: Iterations);
    }

    [Fact]
    public void Arbitrary_text_never_throws()
    {
        Gen.String[Gen.Frequency((8, Gen.Char[' ', '~']), (1, Gen.Const('\n'))), 0, 200]
            .Sample(text => CheckResult(ClusterConfigLoader.Load(text, "fuzz.yaml")), iter: Iterations);
    }
}
