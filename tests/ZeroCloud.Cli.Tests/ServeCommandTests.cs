namespace ZeroCloud.Cli.Tests;

/// <summary>`zc serve dhcp` refuses to start, with a clear message, before it touches the network.</summary>
[Trait("Category", "Lab")]
public sealed class ServeCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("zc-serve-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => Zc.Run(args);

    [Fact]
    public void Invalid_cluster_yaml_exits_1_with_its_problems()
    {
        var path = Path.Combine(_dir, "bad.yaml");
        File.WriteAllText(path, File.ReadAllText("cluster.yaml").Replace("mode: full", "mode: fulll", StringComparison.Ordinal));
        var (code, _, stderr) = Run("serve", "dhcp", "-f", path, "--data", _dir);
        Assert.Equal(1, code);
        Assert.Contains("spec.network.dhcp.mode: \"fulll\" is not one of full | proxy | off (did you mean 'full'?)", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_interface_exits_2_and_says_which()
    {
        var (code, _, stderr) = Run("serve", "dhcp", "-f", "cluster.yaml", "--interface", "zc-nope0", "--data", _dir);
        Assert.Equal(2, code);
        Assert.Contains("there is no network interface 'zc-nope0'", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Interface_without_an_address_in_the_subnet_exits_2_with_the_fix()
    {
        var (code, _, stderr) = Run("serve", "dhcp", "-f", "cluster.yaml", "--interface", "lo", "--data", _dir);
        Assert.Equal(2, code);
        Assert.Contains("interface 'lo' has no address in 10.77.0.0/24; give it one, such as: ip addr add 10.77.0.2/24 dev lo", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_next_server_is_a_usage_error()
    {
        var (code, _, stderr) = Run("serve", "dhcp", "--next-server", "10.0.0.300");
        Assert.Equal(2, code);
        Assert.Contains("--next-server: \"10.0.0.300\" is not an IPv4 address", stderr, StringComparison.Ordinal);
    }
}
