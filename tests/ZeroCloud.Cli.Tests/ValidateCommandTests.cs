namespace ZeroCloud.Cli.Tests;

public sealed class ValidateCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("zc-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => Zc.Run(args);

    [Fact]
    public void Valid_file_exits_0_with_a_one_line_summary()
    {
        var (code, stdout, _) = Run("validate", "-f", "cluster.yaml");
        Assert.Equal(0, code);
        Assert.Equal("cluster.yaml: ok — 4 services, 3 known nodes, control plane 3" + Environment.NewLine, stdout);
    }

    [Fact]
    public void Invalid_file_exits_1_with_one_line_per_problem()
    {
        var path = Path.Combine(_dir, "bad.yaml");
        File.WriteAllText(path, File.ReadAllText("cluster.yaml")
            .Replace("replicas: 3                  # Raft", "replicas: 2                  # Raft", StringComparison.Ordinal)
            .Replace("range: 10.77.0.100-10.77.0.250", "range: 10.77.0.250-10.77.0.100", StringComparison.Ordinal));
        var (code, stdout, stderr) = Run("validate", "--file", path);
        Assert.Equal(1, code);
        var lines = stdout.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith($"{path}:16:14: spec.network.dhcp.range: end 10.77.0.100 is before start 10.77.0.250", lines[0], StringComparison.Ordinal);
        Assert.StartsWith($"{path}:19:15: spec.controlPlane.replicas: 2 is not one of 1, 3, 5, 7", lines[1], StringComparison.Ordinal);
        Assert.Contains("2 problems", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_file_is_a_usage_error()
    {
        var (code, stdout, stderr) = Run("validate", "-f", Path.Combine(_dir, "nope.yaml"));
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Contains("no such file", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Directory_is_a_usage_error()
    {
        var (code, _, stderr) = Run("validate", "-f", _dir);
        Assert.Equal(2, code);
        Assert.Contains("it is a directory", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_option_is_a_usage_error()
    {
        var (code, _, stderr) = Run("validate", "--frobnicate");
        Assert.Equal(2, code);
        Assert.Contains("--frobnicate", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Help_lists_validate()
    {
        var (code, stdout, _) = Run("--help");
        Assert.Equal(0, code);
        Assert.Contains("validate", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Version_prints_the_product_version()
    {
        var (code, stdout, _) = Run("--version");
        Assert.Equal(0, code);
        Assert.StartsWith("0.1.0", stdout, StringComparison.Ordinal);
    }
}
