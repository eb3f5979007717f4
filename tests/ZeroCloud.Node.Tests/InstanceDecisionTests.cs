using ZeroCloud.Model.Api;
using ZeroCloud.Node.Runtime;

namespace ZeroCloud.Node.Tests;

/// <summary>The instance runtime's decisions each round: what stops, what starts, and with which driver.</summary>
public class InstanceDecisionTests
{
    private static InstanceDto Placement(string id, string image = "builtin/hello", long specRevision = 1, string? runtime = null) =>
        new(id, id.Split('-')[0], "n1", image, 100, 64L << 20, specRevision, Runtime: runtime);

    [Fact]
    public void New_placements_start_and_what_runs_as_placed_is_left_alone()
    {
        var running = new Dictionary<string, InstanceDto> { ["hello-0"] = Placement("hello-0") };

        var (stop, start) = InstanceAgent.Decide([Placement("hello-0"), Placement("hello-1")], running);

        Assert.Empty(stop);
        Assert.Equal(["hello-1"], start.Select(s => s.Id));
    }

    [Fact]
    public void An_instance_no_longer_placed_stops_with_its_data_and_a_changed_one_restarts_as_placed()
    {
        var running = new Dictionary<string, InstanceDto>
        {
            ["hello-0"] = Placement("hello-0"),
            ["hello-1"] = Placement("hello-1"),
            ["dhcp-0"] = Placement("dhcp-0", "builtin/dhcp"),
        };

        var (stop, start) = InstanceAgent.Decide([Placement("hello-0", specRevision: 2), Placement("dhcp-0", "builtin/dhcp")], running);

        Assert.Equal([("hello-0", false), ("hello-1", true)], stop);
        Assert.Equal(["hello-0"], start.Select(s => s.Id));
        Assert.Equal(2, start[0].SpecRevision);
    }

    [Fact]
    public void A_change_of_runtime_is_a_changed_placement()
    {
        var running = new Dictionary<string, InstanceDto> { ["hello-0"] = Placement("hello-0") };

        var (stop, start) = InstanceAgent.Decide([Placement("hello-0", runtime: "process")], running);

        Assert.Equal([("hello-0", false)], stop);
        Assert.Single(start);
    }

    [Fact]
    public void An_empty_answer_stops_everything_that_runs()
    {
        var running = new Dictionary<string, InstanceDto> { ["hello-0"] = Placement("hello-0") };

        var (stop, start) = InstanceAgent.Decide([], running);

        Assert.Equal([("hello-0", true)], stop);
        Assert.Empty(start);
    }

    [Theory]
    [InlineData(null, true, true, false, "vm")]
    [InlineData(null, true, true, true, "process")]
    [InlineData(null, true, false, false, "process")]
    [InlineData(null, false, true, false, "process")]
    [InlineData("process", true, true, false, "process")]
    [InlineData("vm", true, true, false, "vm")]
    [InlineData("vm", true, true, true, "vm")]
    public void The_driver_is_a_vm_only_where_one_is_asked_for_or_auto_can_have_one_with_kvm(string? runtime, bool bootable, bool runsVms, bool emulated, string driver)
    {
        Assert.Equal(driver, InstanceAgent.DriverFor(runtime, bootable, runsVms, emulated, "builtin/hello", out var problem));
        Assert.Null(problem);
    }

    [Theory]
    [InlineData(true, false, "cannot run VMs")]
    [InlineData(false, true, "no bootable image")]
    public void A_vm_this_node_cannot_give_is_refused_with_the_reason(bool bootable, bool runsVms, string reason)
    {
        Assert.Null(InstanceAgent.DriverFor("vm", bootable, runsVms, false, "builtin/hello", out var problem));
        Assert.Contains(reason, problem, StringComparison.Ordinal);
        Assert.Contains("builtin/hello", problem, StringComparison.Ordinal);
    }
}

/// <summary>The agent checks every placement again, whoever answered the request: nothing unsafe is run, deleted or reported.</summary>
public class PlacementCheckTests
{
    private static InstanceAgent Agent() =>
        new(null!, "n1", null, null!, null!, Path.GetTempPath(), new NodeContext(null, null, () => null), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

    private static InstanceDto Placement(string id = "hello-0", string image = "builtin/hello", string node = "n1", IReadOnlyDictionary<string, string>? env = null, IReadOnlyList<string>? args = null) =>
        new(id, "hello", node, image, 100, 64L << 20, 1, Args: args, Env: env);

    [Theory]
    [InlineData("../../../../etc", "builtin/hello")]
    [InlineData("hello-0/..", "builtin/hello")]
    [InlineData("Hello-0", "builtin/hello")]
    [InlineData("hello-0", "builtin/../..")]
    [InlineData("hello-0", "builtin/hello world")]
    [InlineData("hello-0", "/bin/sh")]
    public void Ids_and_images_that_are_not_names_are_refused(string id, string image)
    {
        Assert.Empty(Agent().Acceptable([Placement(id, image)]));
    }

    [Theory]
    [InlineData("LD_PRELOAD")]
    [InlineData("LD_LIBRARY_PATH")]
    [InlineData("DOTNET_STARTUP_HOOKS")]
    [InlineData("DOTNET_ADDITIONAL_DEPS")]
    [InlineData("CORECLR_PROFILER_PATH")]
    [InlineData("ZC_DATA")]
    [InlineData("BASH_ENV")]
    [InlineData("1BAD")]
    public void Environment_variables_that_load_code_or_are_the_agents_own_are_refused(string name)
    {
        Assert.Empty(Agent().Acceptable([Placement(env: new Dictionary<string, string> { [name] = "/tmp/x.so" })]));
    }

    [Fact]
    public void Arguments_with_line_breaks_or_nul_and_placements_for_another_node_are_refused_and_good_ones_pass()
    {
        var agent = Agent();
        var good = Placement("hello-1", env: new Dictionary<string, string> { ["GREETING"] = "hi there" }, args: ["--port", "8080", "a b,c=d"]);

        var accepted = agent.Acceptable([Placement(args: ["ok", "x\ny"]), Placement("hello-2", args: ["a\0b"]), Placement("hello-3", node: "n2"), good]);

        Assert.Equal([good], accepted);
    }
}
