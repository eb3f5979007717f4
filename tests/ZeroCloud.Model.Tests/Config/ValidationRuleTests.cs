using ZeroCloud.Model.Config;

namespace ZeroCloud.Model.Tests.Config;

/// <summary>One test per validation rule: the message, the field path and the line:column.</summary>
public class ValidationRuleTests
{
    private const string Head = """
        apiVersion: zerocloud.io/v1
        kind: Cluster
        metadata:
          name: lab
        """;

    private static string WithNetwork(string network) => Head + "\nspec:\n  network:\n" + network;

    [Fact]
    public void Unknown_field_suggests_the_closest_name()
    {
        var d = Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
                «gatway: 10.77.0.1
            """), "spec.network.gatway", "unknown field 'gatway'");
        Assert.Contains("did you mean 'gateway'?", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Storage_copies_and_scrub_period_are_checked_and_the_defaults_filled_in()
    {
        var d = Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
              storage:
                replicas: «0
            """), "spec.storage.replicas", "0 copies: a chunk has 1 to 16 copies on distinct nodes");
        Assert.Contains("1 to 16", d.Message, StringComparison.Ordinal);
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
              storage:
                scrubEvery: «10s
            """), "spec.storage.scrubEvery", "10s is too often");
        var loaded = ClusterConfigLoader.Load(System.Text.Encoding.UTF8.GetBytes(WithNetwork("""
                subnet: 10.77.0.0/24
              storage: { replicas: 2, repairAfter: 5s }
            """)), "cluster.yaml");
        Assert.True(loaded.IsValid, string.Join("\n", loaded.Diagnostics));
        Assert.Equal(new StorageSpec(2, TimeSpan.FromSeconds(5), StorageSpec.Default.ScrubEvery), loaded.Config!.Spec.Storage);
    }

    [Fact]
    public void A_service_may_pin_an_image_version_by_digest()
    {
        var digest = "sha256:" + new string('c', 64);
        var loaded = ClusterConfigLoader.Load(System.Text.Encoding.UTF8.GetBytes(WithNetwork($"""
                subnet: 10.77.0.0/24
              services:
                - name: web
                  image: hello@{digest}
            """)), "cluster.yaml");
        Assert.True(loaded.IsValid, string.Join("\n", loaded.Diagnostics));
        Assert.Equal($"hello@{digest}", loaded.Config!.Spec.Services[0].Image);
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
              services:
                - name: web
                  image: «hello@sha256:12
            """), "spec.services[0].image", "\"hello@sha256:12\" is not an image reference: use builtin/<name>, <name>@sha256:<64 hex digits> (that version, pinned)");
    }

    [Fact]
    public void Unknown_field_with_nothing_close_lists_the_fields()
    {
        var d = Marked.AssertOne(Head + """

            spec:
              network:
                subnet: 10.77.0.0/24
              «wibble: 3
            """, "spec.wibble", "unknown field 'wibble'");
        Assert.Contains("the fields here are network, controlPlane, nodes, boot, services, storage", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Env_that_loads_code_and_arguments_with_line_breaks_are_refused_where_they_are()
    {
        var result = ZeroCloud.Model.Config.ClusterConfigLoader.Load(WithNetwork("""
                subnet: 10.77.0.0/24
              services:
                - name: web
                  image: builtin/hello
                  args: ["--ok", "two\nlines"]
                  env:
                    GREETING: hi
                    LD_PRELOAD: /tmp/evil.so
                    DOTNET_STARTUP_HOOKS: /tmp/hook.dll
            """), "cluster.yaml");

        Assert.False(result.IsValid);
        Assert.Contains(result.Diagnostics, d => d.Path.StartsWith("spec.services[0].env", StringComparison.Ordinal) && d.Message.Contains("'LD_PRELOAD' may not be set", StringComparison.Ordinal));
        Assert.Contains(result.Diagnostics, d => d.Path.StartsWith("spec.services[0].env", StringComparison.Ordinal) && d.Message.Contains("'DOTNET_STARTUP_HOOKS' may not be set", StringComparison.Ordinal));
        Assert.Contains(result.Diagnostics, d => d.Path == "spec.services[0].args[1]" && d.Message.Contains("line break", StringComparison.Ordinal));
        Assert.Equal(3, result.Diagnostics.Length);
    }

    [Fact]
    public void Wrong_type_mapping_where_a_number_belongs()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
              controlPlane:
                replicas: «{ count: 3 }
            """), "spec.controlPlane.replicas", "expected an integer, found a mapping");
    }

    [Fact]
    public void Wrong_type_quoted_number_says_to_remove_the_quotes()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
              services:
                - name: web
                  image: builtin/hello
                  replicas: «"3"
            """), "spec.services[0].replicas", "(remove the quotes)");
    }

    [Fact]
    public void Wrong_type_list_where_a_mapping_belongs()
    {
        Marked.AssertOne(Head + """

            spec:
              network: «[10.77.0.0/24]
            """, "spec.network", "expected a mapping");
    }

    [Fact]
    public void Missing_required_field_points_at_the_mapping_that_lacks_it()
    {
        Marked.AssertOne(WithNetwork("""
                «interface: zc0
            """), "spec.network.subnet", "missing required field 'subnet'");
    }

    [Fact]
    public void Required_field_present_but_empty()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
              services:
                - name: web
                  «image:
            """), "spec.services[0].image", "'image' has no value");
    }

    [Fact]
    public void Bad_cidr()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: «10.77.0.0/33
            """), "spec.network.subnet", "the prefix length \"33\" must be a number from 0 to 32");
    }

    [Fact]
    public void Cidr_with_host_bits_names_the_network()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: «10.77.0.5/24
            """), "spec.network.subnet", "has host bits set: the subnet is 10.77.0.0/24");
    }

    [Fact]
    public void Bad_ip()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
                gateway: «10.77.0.256
            """), "spec.network.gateway", "\"10.77.0.256\" is not an IPv4 address");
    }

    [Fact]
    public void Bad_dns_server_in_list()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
                dns: [10.77.0.1, «dns.example]
            """), "spec.network.dns[1]", "\"dns.example\" is not an IPv4 address");
    }

    [Fact]
    public void Bad_mac()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
              nodes:
                known:
                  - mac: «52:54:00:00:01
            """), "spec.nodes.known[0].mac", "\"52:54:00:00:01\" is not a MAC address");
    }

    [Fact]
    public void Gateway_outside_the_subnet()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
                gateway: «10.78.0.1
            """), "spec.network.gateway", "10.78.0.1 is outside the subnet 10.77.0.0/24");
    }

    [Fact]
    public void Range_outside_the_subnet()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
                dhcp:
                  range: «10.77.0.100-10.77.1.20
            """), "spec.network.dhcp.range", "the end 10.77.1.20 is outside the subnet 10.77.0.0/24");
    }

    [Fact]
    public void Range_start_after_end()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
                dhcp:
                  range: «10.77.0.100-10.77.0.5
            """), "spec.network.dhcp.range", "end 10.77.0.5 is before start 10.77.0.100");
    }

    [Fact]
    public void Range_that_holds_the_gateway()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
                gateway: 10.77.0.1
                dhcp:
                  range: «10.77.0.1-10.77.0.50
            """), "spec.network.dhcp.range", "the gateway 10.77.0.1 is inside the range");
    }

    [Fact]
    public void Range_that_holds_the_broadcast_address()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
                dhcp:
                  range: «10.77.0.100-10.77.0.255
            """), "spec.network.dhcp.range", "the broadcast address 10.77.0.255");
    }

    [Fact]
    public void Range_in_proxy_mode_is_refused_rather_than_ignored()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
                dhcp:
                  mode: proxy
                  range: «10.77.0.100-10.77.0.200
            """), "spec.network.dhcp.range", "used only in mode full");
    }

    [Fact]
    public void Duplicate_mac()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
              nodes:
                known:
                  - { mac: "52:54:00:00:00:01", name: a }
                  - { mac: «"52-54-00-00-00-01", name: b }
            """), "spec.nodes.known[1].mac", "duplicate MAC 52:54:00:00:00:01: also at line 10:16");
    }

    [Fact]
    public void Duplicate_node_name()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
              nodes:
                known:
                  - { mac: "52:54:00:00:00:01", name: a }
                  - { mac: "52:54:00:00:00:02", name: «a }
            """), "spec.nodes.known[1].name", "duplicate node name 'a'");
    }

    [Fact]
    public void Duplicate_service_name()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
              services:
                - name: web
                  image: builtin/hello
                - name: «web
                  image: builtin/hello
            """), "spec.services[1].name", "duplicate service name 'web': also at line 9:13");
    }

    [Theory]
    [InlineData("0")]
    [InlineData("2")]
    [InlineData("4")]
    [InlineData("9")]
    public void Control_plane_replicas_must_be_odd_and_at_most_seven(string replicas)
    {
        Marked.AssertOne(WithNetwork($"""
                subnet: 10.77.0.0/24
              controlPlane:
                replicas: «{replicas}
            """), "spec.controlPlane.replicas", $"{replicas} is not one of 1, 3, 5, 7");
    }

    [Theory]
    [InlineData("cpu", "100x", "is not a CPU quantity")]
    [InlineData("cpu", "0.0001", "is not a CPU quantity")]
    [InlineData("cpu", "0m", "is not a CPU quantity")]
    [InlineData("memory", "32Mb", "is not a memory quantity")]
    [InlineData("memory", "-1Mi", "is not a memory quantity")]
    [InlineData("memory", "lots", "is not a memory quantity")]
    public void Bad_quantity(string field, string value, string message)
    {
        Marked.AssertOne(WithNetwork($"""
                subnet: 10.77.0.0/24
              services:
                - name: web
                  image: builtin/hello
                  resources:
                    {field}: «{value}
            """), $"spec.services[0].resources.{field}", $"\"{value}\" {message}");
    }

    [Theory]
    [InlineData("5")]
    [InlineData("5 s")]
    [InlineData("5sec")]
    [InlineData("-1s")]
    [InlineData("1h-")]
    public void Bad_duration(string value)
    {
        Marked.AssertOne(WithNetwork($"""
                subnet: 10.77.0.0/24
              nodes:
                downAfter: «{value}
            """), "spec.nodes.downAfter", $"\"{value}\" is not a duration");
    }

    [Fact]
    public void Node_disks_bind_their_selectors_in_order()
    {
        var loaded = ClusterConfigLoader.Load(System.Text.Encoding.UTF8.GetBytes(WithNetwork("""
                subnet: 10.77.0.0/24
              nodes:
                disks:
                  - { path: /dev/nvme0n1, wipe: true }
                  - { model: "Samsung SSD*", minSize: 100Gi, maxSize: 2Ti, type: ssd }
                  - { serial: S5GXNF0R123456, wipe: true }
            """)), "cluster.yaml");
        Assert.True(loaded.IsValid, string.Join("\n", loaded.Diagnostics));
        Assert.Equal(
            [new DiskSelector("/dev/nvme0n1", null, null, null, null, null, true), new DiskSelector(null, "Samsung SSD*", null, 100L << 30, 2L << 40, false), new DiskSelector(null, null, "S5GXNF0R123456", null, null, null, true)],
            loaded.Config!.Spec.Nodes.Disks.ToArray());
    }

    [Fact]
    public void A_known_machine_binds_its_bmc()
    {
        var loaded = ClusterConfigLoader.Load(System.Text.Encoding.UTF8.GetBytes(WithNetwork("""
                subnet: 10.77.0.0/24
              nodes:
                known:
                  - { mac: "52:54:00:00:00:01", name: r1, bmc: { ipmi: "10.0.0.50", credentials: bmc-rack1 } }
                  - { mac: "52:54:00:00:00:02", name: r2, bmc: { ipmi: "bmc-r2.lab:6230", credentials: bmc-rack1, cipherSuite: 17 } }
                  - { mac: "52:54:00:00:00:03", name: r3, bmc: { redfish: "https://10.0.0.52/redfish/v1", credentials: idrac, insecureTls: true } }
                  - { mac: "52:54:00:00:00:04", name: r4 }
            """)), "cluster.yaml");
        Assert.True(loaded.IsValid, string.Join("\n", loaded.Diagnostics));
        Assert.Equal(
            ["ipmi 10.0.0.50 bmc-rack1 False ", "ipmi bmc-r2.lab:6230 bmc-rack1 False 17", "redfish https://10.0.0.52/redfish/v1 idrac True ", "none"],
            loaded.Config!.Spec.Nodes.Known.Select(k => k.Bmc is { } b ? $"{b} {b.Credentials} {b.InsecureTls} {b.CipherSuite}" : "none"));
    }

    [Fact]
    public void A_bmc_is_checked_where_it_is_written_and_its_password_is_never_inline()
    {
        static string Known(string bmc) => WithNetwork($$"""
                subnet: 10.77.0.0/24
              nodes:
                known:
                  - mac: "52:54:00:00:00:01"
                    name: r1
                    bmc: {{bmc}}
            """);
        Marked.AssertOne(Known("{ ipmi: 10.0.0.50, credentials: bmc, password: «hunter2 }"), "spec.nodes.known[0].bmc.password", "a BMC's password is not written in the spec");
        Marked.AssertOne(Known("{ ipmi: 10.0.0.50, credentials: bmc, username: «root }"), "spec.nodes.known[0].bmc.username", "zc secret set");
        Marked.AssertOne(Known("{ ipmi: 10.0.0.50, redfish: «'https://10.0.0.50/redfish/v1', credentials: bmc }"), "spec.nodes.known[0].bmc.redfish", "give ipmi or redfish, not both");
        Marked.AssertOne(Known("«{ credentials: bmc }"), "spec.nodes.known[0].bmc", "missing the BMC's address");
        Marked.AssertOne(Known("{ ipmi: «'10.0.0.50:99999', credentials: bmc }"), "spec.nodes.known[0].bmc.ipmi", "\"10.0.0.50:99999\" is not a BMC address");
        Marked.AssertOne(Known("{ redfish: «'10.0.0.50/redfish/v1', credentials: bmc }"), "spec.nodes.known[0].bmc.redfish", "is not a Redfish URL");
        Marked.AssertOne(Known("{ redfish: «'ftp://10.0.0.50/', credentials: bmc }"), "spec.nodes.known[0].bmc.redfish", "is not a Redfish URL");
        Marked.AssertOne(Known("«{ ipmi: 10.0.0.50 }"), "spec.nodes.known[0].bmc.credentials", "missing required field 'credentials'");
        Marked.AssertOne(Known("{ ipmi: 10.0.0.50, credentials: «Rack_1 }"), "spec.nodes.known[0].bmc.credentials", "is not a valid name");
        Marked.AssertOne(Known("{ ipmi: 10.0.0.50, credentials: bmc, cipherSuite: «25 }"), "spec.nodes.known[0].bmc.cipherSuite", "25 is not an IPMI 2.0 cipher suite");
        Marked.AssertOne(Known("{ redfish: 'https://10.0.0.50/redfish/v1', credentials: bmc, cipherSuite: «3 }"), "spec.nodes.known[0].bmc.cipherSuite", "cipherSuite is for an IPMI BMC");
        Marked.AssertOne(Known("{ ipmi: 10.0.0.50, credentials: bmc, insecureTls: «yes }"), "spec.nodes.known[0].bmc.insecureTls", "expected true or false");
        Marked.AssertOne(Known("{ ipmi: 10.0.0.50, credentials: bmc, «ipmitool: x }"), "spec.nodes.known[0].bmc.ipmitool", "unknown field 'ipmitool'");
    }

    [Fact]
    public void Wipe_needs_an_entry_that_names_one_device()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
              nodes:
                disks:
                  - minSize: 10Gi
                    wipe: «true
            """), "spec.nodes.disks[0].wipe", "wipe: true erases what the disk holds, so it needs an entry that names exactly one device");
    }

    [Fact]
    public void Disk_selectors_are_checked_where_they_are_written()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
              nodes:
                disks:
                  - «{ wipe: false }
            """), "spec.nodes.disks[0]", "names at least one of path, model, serial, minSize, maxSize or type");
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
              nodes:
                disks:
                  - { minSize: «lots }
            """), "spec.nodes.disks[0].minSize", "\"lots\" is not a size");
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
              nodes:
                disks:
                  - { minSize: 2Ti, maxSize: «1Ti }
            """), "spec.nodes.disks[0].maxSize", "below minSize");
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
              nodes:
                disks:
                  - { path: «sda }
            """), "spec.nodes.disks[0].path", "is not a device path");
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
              nodes:
                disks:
                  - { type: «flash }
            """), "spec.nodes.disks[0].type", "is not a disk type");
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
              nodes:
                disks:
                  - { path: /dev/sdb, wipe: «yes }
            """), "spec.nodes.disks[0].wipe", "expected true or false");
    }

    [Fact]
    public void Down_after_shorter_than_two_heartbeats()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
              nodes:
                heartbeat: 2s
                downAfter: «3s
            """), "spec.nodes.downAfter", "shorter than two heartbeats");
    }

    [Fact]
    public void Boot_timeout_shorter_than_down_after_or_over_a_day()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
              nodes:
                downAfter: 10s
                bootTimeout: «5s
            """), "spec.nodes.bootTimeout", "is shorter than downAfter (10s)");
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
              nodes:
                bootTimeout: «25h
            """), "spec.nodes.bootTimeout", "is longer than 24h");
    }

    [Fact]
    public void Negative_replicas()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
              services:
                - name: web
                  image: builtin/hello
                  replicas: «-1
            """), "spec.services[0].replicas", "the count cannot be negative");
    }

    [Theory]
    [InlineData("0")]
    [InlineData("65536")]
    [InlineData("-80")]
    public void Port_out_of_range(string port)
    {
        Marked.AssertOne(WithNetwork($"""
                subnet: 10.77.0.0/24
              services:
                - name: web
                  image: builtin/hello
                  ports: [8080, «{port}]
            """), "spec.services[0].ports[1]", $"port {port} is out of range");
    }

    [Fact]
    public void Health_port_out_of_range()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
              services:
                - name: web
                  image: builtin/hello
                  health: { http: /healthz, port: «70000 }
            """), "spec.services[0].health.port", "port 70000 is out of range");
    }

    [Fact]
    public void Unknown_builtin_image_suggests_one()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
              services:
                - name: web
                  image: «builtin/helo
            """), "spec.services[0].image", "did you mean 'builtin/hello'?");
    }

    [Fact]
    public void Enum_value_suggests_the_closest()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
                dhcp:
                  mode: «Full
            """), "spec.network.dhcp.mode", "\"Full\" is not one of full | proxy | off (did you mean 'full'?)");
    }

    [Fact]
    public void Name_that_is_not_a_dns_label()
    {
        Marked.AssertOne(Head.Replace("name: lab", "name: «Lab_1", StringComparison.Ordinal) + """

            spec:
              network:
                subnet: 10.77.0.0/24
            """, "metadata.name", "\"Lab_1\" is not a valid name");
    }

    [Fact]
    public void Wrong_api_version()
    {
        Marked.AssertOne("""
            apiVersion: «zerocloud.io/v2
            kind: Cluster
            metadata: { name: lab }
            spec: { network: { subnet: 10.77.0.0/24 } }
            """, "apiVersion", "use zerocloud.io/v1");
    }

    [Fact]
    public void Duplicate_key_in_one_mapping()
    {
        Marked.AssertOne(WithNetwork("""
                subnet: 10.77.0.0/24
                «subnet: 10.78.0.0/24
            """), "spec.network.subnet", "duplicate field 'subnet' (first at line 7:5)");
    }

    [Fact]
    public void Empty_file()
    {
        Marked.AssertOne("«", "", "the file is empty");
    }

    [Fact]
    public void File_of_only_comments_is_empty()
    {
        Marked.AssertOne("«# nothing here yet\n", "", "the file is empty");
    }

    [Fact]
    public void Text_that_is_not_yaml()
    {
        Marked.AssertOne("apiVersion: zerocloud.io/v1\nkind: [Cluster\n«", "", "not valid YAML");
    }

    [Fact]
    public void Unclosed_flow_mapping_is_reported_not_thrown()
    {
        // Regression vector found by FuzzTests: YamlDotNet 18.1 throws InvalidOperationException here,
        // after the last event it produced (the key before the unclosed '{').
        Marked.AssertOne("apiVersion: zerocloud.io/v1\n«metadata:\n  {name: lab\nspec: {}\n", "", "not valid YAML: the parser failed after this point");
    }

    [Fact]
    public void Tag_that_is_not_a_uri_is_reported_not_thrown()
    {
        // Regression vector found by FuzzTests: YamlDotNet 18.1 throws ArgumentException for this tag.
        Marked.AssertOne("«!!Vkx+$9]$zLcrN~Rp\nyM8b\n", "", "Global tags must be valid URIs");
    }

    [Fact]
    public void Plain_text_is_not_a_cluster_yaml()
    {
        Marked.AssertOne("«Dear operator, please boot my servers.\n", "", "the top level must be a mapping");
    }

    [Fact]
    public void Binary_file_is_not_yaml()
    {
        var bytes = new byte[] { 0x7F, (byte)'E', (byte)'L', (byte)'F', 2, 1, 1, 0 };
        var result = ZeroCloud.Model.Config.ClusterConfigLoader.Load(bytes, "cluster.yaml");
        var d = Assert.Single(result.Diagnostics);
        Assert.Equal("cluster.yaml:1:1: not a YAML file: control character U+007F (is this a binary file?)", d.ToString());
    }

    [Fact]
    public void Invalid_utf8_is_not_yaml()
    {
        var bytes = "apiVersion: x\n"u8.ToArray().Concat(new byte[] { 0xC3, 0x28 }).ToArray();
        var result = ZeroCloud.Model.Config.ClusterConfigLoader.Load(bytes, "cluster.yaml");
        var d = Assert.Single(result.Diagnostics);
        Assert.Equal("cluster.yaml:2:1: not a YAML file: byte 14 is not UTF-8 text (is this a binary file?)", d.ToString());
    }

    [Fact]
    public void Second_yaml_document()
    {
        var text = File.ReadAllText("cluster.yaml") + "---\n«apiVersion: zerocloud.io/v1\n";
        var (yaml, at) = Marked.Parse(text);
        var d = Assert.Single(Marked.Load(yaml).Diagnostics);
        Assert.Contains("a second YAML document", d.Message, StringComparison.Ordinal);
        Assert.Equal(at.Line - 1, d.Position.Line); // YamlDotNet reports the document at its '---' line
    }

    [Fact]
    public void Alias_to_an_anchor_is_followed()
    {
        var result = Marked.Load(WithNetwork("""
                subnet: 10.77.0.0/24
              services:
                - name: web
                  image: builtin/hello
                  labels: &l { tier: front }
                - name: api
                  image: builtin/hello
                  labels: *l
            """));
        Assert.True(result.IsValid, string.Join("\n", result.Diagnostics));
        Assert.Equal("front", result.Config!.Spec.Services[1].Labels["tier"]);
    }
}
