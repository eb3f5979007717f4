namespace ZeroCloud.Cli.Tests;

/// <summary>The commands that talk to a control plane fail clearly when there is none or the URL is wrong.</summary>
[Trait("Category", "Lab")]
public sealed class ClusterCommandTests
{
    [Fact]
    public void Status_against_nothing_exits_2_and_says_where_it_looked()
    {
        var (code, _, stderr) = Zc.Run(["status", "--server", "http://127.0.0.1:9"]);
        Assert.Equal(2, code);
        Assert.Contains("cannot reach the control plane at http://127.0.0.1:9/", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void A_server_that_is_not_a_url_is_a_usage_error()
    {
        var (code, _, stderr) = Zc.Run(["get", "members", "--server", "127.0.0.1:7070"]);
        Assert.Equal(2, code);
        Assert.Contains("--server: \"127.0.0.1:7070\" is not an https:// URL", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Serve_control_refuses_bootstrap_with_peers_and_a_wildcard_raft_address()
    {
        var (code, _, stderr) = Zc.Run(["serve", "control", "--data", "/tmp/zc-unused", "--bootstrap", "--peers", "https://127.0.0.1:7070"]);
        Assert.Equal(2, code);
        Assert.Contains("not both", stderr, StringComparison.Ordinal);
        (code, _, stderr) = Zc.Run(["serve", "control", "--data", "/tmp/zc-unused", "--raft", "0.0.0.0:7071"]);
        Assert.Equal(2, code);
        Assert.Contains("not a wildcard", stderr, StringComparison.Ordinal);
    }
}
