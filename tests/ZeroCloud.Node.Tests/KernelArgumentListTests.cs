using ZeroCloud.Init;

namespace ZeroCloud.Node.Tests;

/// <summary>A VM's arguments travel in one kernel parameter and come back exactly, whatever they hold.</summary>
public class KernelArgumentListTests
{
    [Fact]
    public void Arguments_with_spaces_commas_quotes_and_equals_round_trip_as_one_parameter()
    {
        string[] args = ["--port", "8080", "a b,c", "zc.token=stolen", "\"quoted\" 'too'", "ünïcode", ""];

        var encoded = KernelArgumentList.Encode(args);

        Assert.Matches("^[A-Za-z0-9_-]*$", encoded);
        Assert.Equal(args, KernelArgumentList.Decode(encoded));
    }

    [Fact]
    public void Nothing_encodes_to_nothing_and_bad_text_decodes_to_null()
    {
        Assert.Empty(KernelArgumentList.Decode("")!);
        Assert.Null(KernelArgumentList.Decode("not base64!"));
        Assert.Throws<ArgumentException>(() => KernelArgumentList.Encode(["a\0b"]));
    }
}
