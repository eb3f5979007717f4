using ZeroCloud.Control;

namespace ZeroCloud.Cli.Tests;

/// <summary>A member's options are validated before anything starts, and every problem is named at once.</summary>
public class ControlMemberOptionsTests
{
    [Fact]
    public void Every_problem_is_reported_with_its_option()
    {
        var options = new ControlMemberOptions
        {
            Listen = "nowhere",
            Raft = "0.0.0.0:7071",
            Advertise = "ftp://x",
            Bootstrap = true,
            Peers = ["https://10.0.0.2:7070", "10.0.0.3:7070"],
            ElectionTimeoutMs = 5,
            SnapshotEvery = 0,
        };

        var result = new ControlMemberOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        var failures = result.Failures!.ToList();
        Assert.Contains("--listen: \"nowhere\" is not ip:port", failures);
        Assert.Contains(failures, f => f.StartsWith("--raft:", StringComparison.Ordinal) && f.Contains("not a wildcard", StringComparison.Ordinal));
        Assert.Contains("--advertise: \"ftp://x\" is not an https:// URL", failures);
        Assert.Contains("--peers: \"10.0.0.3:7070\" is not an https:// URL of a member's API", failures);
        Assert.Contains(failures, f => f.Contains("not both", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("--election-timeout:", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("--snapshot-every:", StringComparison.Ordinal));
        Assert.Equal(7, failures.Count);
    }

    [Fact]
    public void Good_options_pass_and_give_the_derived_addresses()
    {
        var options = new ControlMemberOptions { Listen = "10.0.0.2:7070", Peers = ["https://10.0.0.3:7070"] };

        Assert.True(new ControlMemberOptionsValidator().Validate(null, options).Succeeded);
        Assert.Equal(("10.0.0.2:7071", "https://10.0.0.2:7070"), (options.RaftEndPoint.ToString(), options.AdvertisedApi));
    }
}
