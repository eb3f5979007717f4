using ZeroCloud.Init;

namespace ZeroCloud.Node.Tests;

/// <summary>What a booted node makes of its kernel command line: the one netboot's boot script really serves.</summary>
public class AgentSettingsTests
{
    // As BootHttpServer writes it for a machine of a cluster with a control plane and a join token.
    private const string Served = "initrd=initrd.img console=tty0 console=ttyS0,115200 zc.cluster=lab zc.name=s001 zc.mac=52:54:00:7a:00:01 zc.control=http://10.9.0.10:7070,http://10.9.0.11:7070 zc.token=abc123.0123456789abcdef";

    [Fact]
    public void The_served_command_line_names_the_control_plane_the_token_and_the_node()
    {
        var settings = AgentSettings.FromKernelCommandLine(KernelCommandLine.Parse(Served), "10.9.0.50", "52:54:00:7a:00:01", "localhost", out var problem);

        Assert.Null(problem);
        Assert.NotNull(settings);
        Assert.Equal(["http://10.9.0.10:7070", "http://10.9.0.11:7070"], settings.Control);
        Assert.Empty(settings.Join);
        Assert.Equal("abc123.0123456789abcdef", settings.Token);
        Assert.Equal("s001", settings.Name);
        Assert.Equal("10.9.0.50", settings.Address);
        Assert.Equal("52:54:00:7a:00:01", settings.Mac);
    }

    [Fact]
    public void A_ticket_on_the_command_line_is_the_credential_and_wins_over_a_token()
    {
        var settings = AgentSettings.FromKernelCommandLine(KernelCommandLine.Parse("zc.control=http://10.9.0.10:7070 zc.mac=52:54:00:7a:00:01 zc.ticket=5254007a0001.s3cret zc.token=abc123.0123456789abcdef"), "10.9.0.50", "52:54:00:7a:00:01", "n", out var problem);

        Assert.Null(problem);
        Assert.Equal("ticket:5254007a0001.s3cret", settings!.Token);
    }

    [Fact]
    public void Without_zc_name_the_host_name_is_the_node_name_and_zc_mac_stands_in_for_an_unknown_nic()
    {
        var settings = AgentSettings.FromKernelCommandLine(KernelCommandLine.Parse("zc.control=http://10.9.0.10:7070 zc.mac=52:54:00:00:00:09"), null, null, "node-9", out _);

        Assert.Equal("node-9", settings!.Name);
        Assert.Equal("52:54:00:00:00:09", settings.Mac);
        Assert.Null(settings.Token);
    }

    [Fact]
    public void A_command_line_with_nothing_to_join_is_refused_with_the_reason()
    {
        var settings = AgentSettings.FromKernelCommandLine(KernelCommandLine.Parse("console=ttyS0 zc.name=s001 zc.token=abc123.0123456789abcdef"), "10.9.0.50", null, null, out var problem);

        Assert.Null(settings);
        Assert.Contains("neither zc.control= nor zc.join=", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("zc.control=10.9.0.10:7070", "\"10.9.0.10:7070\"")]
    [InlineData("zc.control=http://10.9.0.10:7070 zc.join=ftp://x", "\"ftp://x\"")]
    public void An_endpoint_that_is_not_an_http_url_is_named(string cmdline, string named)
    {
        Assert.Null(AgentSettings.FromKernelCommandLine(KernelCommandLine.Parse(cmdline), null, null, null, out var problem));
        Assert.Contains(named, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_given_to_a_process_run_win_over_the_command_line_and_the_rest_is_kept()
    {
        var fromCmdline = AgentSettings.FromKernelCommandLine(KernelCommandLine.Parse(Served), "10.9.0.50", null, null, out _)!;
        var options = new AgentSettings { Data = "/tmp/d", ImageFolders = ["/opt/zc"] };

        var merged = AgentCommand.Overlay(fromCmdline, options);

        Assert.Equal(fromCmdline.Control, merged.Control);
        Assert.Equal("s001", merged.Name);
        Assert.Equal("abc123.0123456789abcdef", merged.Token);
        Assert.Equal("/tmp/d", merged.Data);
        Assert.Equal(["/opt/zc"], merged.ImageFolders);
    }
}
