using System.Text;
using System.Text.Json;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Model.Tests.Api;

/// <summary>Values under the store's typed prefixes must parse as their type and agree with their key.</summary>
public class TypedValuesTests
{
    private static string? Check(string key, string value) => TypedValues.Check(key, Encoding.UTF8.GetBytes(value));

    private static string Json(InstanceDto i) => JsonSerializer.Serialize(i, ControlJsonContext.Default.InstanceDto);

    private static InstanceDto Instance(string id = "hello-0", string node = "n1") => new(id, "hello", node, "builtin/hello", 100, 1 << 20, 1);

    [Fact]
    public void Good_records_pass_and_untyped_keys_are_not_checked()
    {
        Assert.Null(Check("/zc/instances/n1/hello-0", Json(Instance())));
        Assert.Null(Check("/zc/nodes/n1", JsonSerializer.Serialize(new NodeDto("n1", NodeStatus.Ready, DateTime.UtcNow, 2, 1 << 30, "10.0.0.5", null, null, 1), ControlJsonContext.Default.NodeDto)));
        Assert.Null(Check("/zc/leases/10.77.0.100", JsonSerializer.Serialize(new LeaseRecord("10.77.0.100", "52:54:00:aa:00:01", "52:54:00:aa:00:01", DateTimeOffset.UtcNow, "bound", null), ControlJsonContext.Default.LeaseRecord)));
        Assert.Null(Check("/app/anything", "not json at all"));
    }

    [Theory]
    [InlineData("/zc/nodes/n1", "not json")]
    [InlineData("/zc/nodes/n1", "null")]
    [InlineData("/zc/nodes/n1", "{\"name\":\"other\",\"status\":\"Ready\",\"since\":\"2026-01-01T00:00:00Z\",\"cpus\":1,\"memoryBytes\":1,\"transitions\":0}")]
    [InlineData("/zc/leases/10.77.0.100", "{\"address\":\"10.77.0.100\",\"mac\":\"52:54:00:aa:00:01\",\"expires\":\"2026-01-01T00:00:00Z\",\"state\":\"bound\"}")]
    [InlineData("/zc/leases/10.77.0.100", "{\"address\":\"10.77.0.101\",\"mac\":\"52:54:00:aa:00:01\",\"clientKey\":\"k\",\"expires\":\"2026-01-01T00:00:00Z\",\"state\":\"bound\"}")]
    [InlineData("/zc/tokens/abc", "{\"id\":\"abc\",\"secret\":\"\",\"created\":\"2026-01-01T00:00:00Z\"}")]
    [InlineData("/zc/spec", "apiVersion: nonsense")]
    public void Bad_records_are_refused_with_the_key_in_the_message(string key, string value)
    {
        var problem = Check(key, value);
        Assert.NotNull(problem);
        Assert.StartsWith(key, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_placement_must_be_safe_and_match_its_key()
    {
        Assert.Contains("not a valid name", Check("/zc/instances/n1/x", Json(Instance("../../../../tmp"))), StringComparison.Ordinal);
        Assert.Contains("the key says", Check("/zc/instances/n1/hello-1", Json(Instance("hello-0"))), StringComparison.Ordinal);
        Assert.Contains("LD_PRELOAD", Check("/zc/instances/n1/hello-0", Json(Instance() with { Env = new Dictionary<string, string> { ["LD_PRELOAD"] = "/tmp/evil.so" } })), StringComparison.Ordinal);
        Assert.Contains("image", Check("/zc/instances/n1/hello-0", Json(Instance() with { Image = "builtin/../.." })), StringComparison.Ordinal);
    }

    [Fact]
    public void A_list_skips_and_reports_a_bad_record_instead_of_failing()
    {
        var kvs = new[]
        {
            new KvDto("/zc/instances/n1/hello-0", Json(Instance()), 1, 1, 1),
            new KvDto("/zc/instances/n1/hello-1", "{broken", 2, 2, 1),
            new KvDto("/zc/instances/n1/hello-2", Json(Instance("hello-2")), 3, 3, 1),
        };
        var skipped = new List<string>();

        var read = TypedValues.ReadAll(kvs, ControlJsonContext.Default.InstanceDto, skipped);

        Assert.Equal(["hello-0", "hello-2"], read.Select(i => i.Id));
        Assert.StartsWith("/zc/instances/n1/hello-1", Assert.Single(skipped), StringComparison.Ordinal);
    }
}
