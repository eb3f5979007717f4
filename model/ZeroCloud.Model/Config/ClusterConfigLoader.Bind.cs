using System.Collections.Immutable;
using System.Net;
using System.Text.RegularExpressions;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Net;

namespace ZeroCloud.Model.Config;

public static partial class ClusterConfigLoader
{
    /// <summary>Images the project builds itself (issue "boot"); anything else is referenced by digest.</summary>
    public static readonly ImmutableArray<string> BuiltinImages = ["control", "dhcp", "hello", "netboot", "storage"];

    private static readonly ControlPlaneSpec DefaultControlPlane = new(3);
    private static readonly TimeSpan DefaultHeartbeat = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan DefaultDownAfter = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan DefaultLeaseTime = TimeSpan.FromHours(1);
    private static readonly TimeSpan MinLeaseTime = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan MaxLeaseTime = TimeSpan.FromSeconds(uint.MaxValue - 1);
    private static readonly TimeSpan MinHeartbeat = TimeSpan.FromMilliseconds(100);

    private static ClusterConfig BindRoot(YamlReader r, YNode root)
    {
        if (root is not YMapping)
        {
            r.Error(root, "", $"the top level must be a mapping with apiVersion, kind, metadata and spec; found {root.Describe()} (is this a cluster.yaml?)");
            return new ClusterConfig("", "", new ClusterMetadata("", Empty), DefaultSpec);
        }

        var top = r.Section(root, "", "apiVersion", "kind", "metadata", "spec")!;
        var apiVersion = r.String(top.Required("apiVersion", $"apiVersion: {ClusterConfig.CurrentApiVersion}"), "apiVersion");
        if (apiVersion is not null && apiVersion != ClusterConfig.CurrentApiVersion)
        {
            r.Error(top["apiVersion"]!, "apiVersion", $"\"{apiVersion}\" is not a version this zc reads: use {ClusterConfig.CurrentApiVersion}");
        }

        var kind = r.String(top.Required("kind", $"kind: {ClusterConfig.ClusterKind}"), "kind");
        if (kind is not null && kind != ClusterConfig.ClusterKind)
        {
            r.Error(top["kind"]!, "kind", $"\"{kind}\" is not a kind this file can hold: use {ClusterConfig.ClusterKind}");
        }

        var metadata = BindMetadata(r, top.Required("metadata", "metadata: { name: <cluster name> }"));
        var spec = BindSpec(r, top.Required("spec", "the cluster's spec (network, controlPlane, nodes, boot, services)"));
        return new ClusterConfig(apiVersion ?? "", kind ?? "", metadata, spec);
    }

    private static ClusterMetadata BindMetadata(YamlReader r, YNode? node)
    {
        var m = r.Section(node, "metadata", "name", "labels");
        if (m is null)
        {
            return new ClusterMetadata("", Empty);
        }

        var name = DnsLabel(r, m, "name", required: true) ?? "";
        return new ClusterMetadata(name, Labels(r, m["labels"], m.Join("labels")));
    }

    private static ClusterSpec DefaultSpec => new(
        new NetworkSpec("zc0", default, null, [], null, new DhcpSpec(DhcpMode.Full, null, DefaultLeaseTime)),
        DefaultControlPlane,
        new NodesSpec(EnrollMode.Auto, DefaultHeartbeat, DefaultDownAfter, []),
        new BootSpec(BootSpec.DistroKernel, RuntimeKind.Auto),
        []);

    private static ClusterSpec BindSpec(YamlReader r, YNode? node)
    {
        var s = r.Section(node, "spec", "network", "controlPlane", "nodes", "boot", "services", "storage");
        if (s is null)
        {
            return DefaultSpec;
        }

        var network = BindNetwork(r, s.Required("network", "the provisioning network (interface, subnet, dhcp)"), s.Join("network"));
        var controlPlane = BindControlPlane(r, s["controlPlane"]);
        var nodes = BindNodes(r, s["nodes"], network);
        var boot = BindBoot(r, s["boot"]);
        var services = BindServices(r, s["services"]);
        var storage = BindStorage(r, s["storage"]);
        return new ClusterSpec(network, controlPlane, nodes, boot, services) { Storage = storage };
    }

    private static StorageSpec BindStorage(YamlReader r, YNode? node)
    {
        var s = r.Section(node, "spec.storage", "replicas", "repairAfter", "scrubEvery");
        if (s is null)
        {
            return StorageSpec.Default;
        }

        var replicas = r.Int(s["replicas"], "spec.storage.replicas");
        if (replicas is { } n && n is < 1 or > 16)
        {
            r.Error(s["replicas"]!, "spec.storage.replicas", $"{n} copies: a chunk has 1 to 16 copies on distinct nodes (3 survives two lost nodes)");
        }

        var repairAfter = r.Duration(s["repairAfter"], "spec.storage.repairAfter") ?? StorageSpec.Default.RepairAfter;
        var scrubEvery = r.Duration(s["scrubEvery"], "spec.storage.scrubEvery") ?? StorageSpec.Default.ScrubEvery;
        if (scrubEvery < TimeSpan.FromMinutes(1) && s["scrubEvery"] is { } scrub)
        {
            r.Error(scrub, "spec.storage.scrubEvery", $"{Durations.Format(scrubEvery)} is too often: a scrub re-reads every chunk on the node; use at least 1m");
        }

        return new StorageSpec(replicas, repairAfter, scrubEvery);
    }

    private static ControlPlaneSpec BindControlPlane(YamlReader r, YNode? node)
    {
        var c = r.Section(node, "spec.controlPlane", "replicas");
        var replicas = r.Int(c?["replicas"], "spec.controlPlane.replicas");
        if (replicas is { } n && n is not (1 or 3 or 5 or 7))
        {
            r.Error(c!["replicas"]!, "spec.controlPlane.replicas", $"{n} is not one of 1, 3, 5, 7: Raft needs an odd number of voters (3 survives one lost node, 5 survives two)");
        }

        return replicas is { } value ? new ControlPlaneSpec(value) : DefaultControlPlane;
    }

    private static BootSpec BindBoot(YamlReader r, YNode? node)
    {
        var b = r.Section(node, "spec.boot", "kernel", "runtime");
        var kernel = r.String(b?["kernel"], "spec.boot.kernel");
        if (kernel is not null && kernel.Trim().Length == 0)
        {
            r.Error(b!["kernel"]!, "spec.boot.kernel", "the kernel is empty: write 'distro' or the path of a bzImage");
        }

        var runtime = r.Enum<RuntimeKind>(b?["runtime"], "spec.boot.runtime") ?? RuntimeKind.Auto;
        return new BootSpec(kernel ?? BootSpec.DistroKernel, runtime);
    }

    private static NodesSpec BindNodes(YamlReader r, YNode? node, NetworkSpec network)
    {
        var n = r.Section(node, "spec.nodes", "enroll", "heartbeat", "downAfter", "bootTimeout", "known", "disks");
        var enroll = r.Enum<EnrollMode>(n?["enroll"], "spec.nodes.enroll") ?? EnrollMode.Auto;
        var heartbeat = r.Duration(n?["heartbeat"], "spec.nodes.heartbeat") ?? DefaultHeartbeat;
        if (heartbeat < MinHeartbeat && n?["heartbeat"] is { } hb)
        {
            r.Error(hb, "spec.nodes.heartbeat", $"{Durations.Format(heartbeat)} is too short: a heartbeat is at least {Durations.Format(MinHeartbeat)}");
        }

        var downAfter = r.Duration(n?["downAfter"], "spec.nodes.downAfter") ?? DefaultDownAfter;
        if (downAfter < heartbeat * 2 && n is not null)
        {
            var at = n["downAfter"] ?? n["heartbeat"] ?? n.Map;
            r.Error(at, "spec.nodes.downAfter", $"{Durations.Format(downAfter)} is shorter than two heartbeats ({Durations.Format(heartbeat)} each): one late heartbeat would mark a node down; use at least {Durations.Format(heartbeat * 2)}");
        }

        var bootTimeout = r.Duration(n?["bootTimeout"], "spec.nodes.bootTimeout") ?? NodesSpec.DefaultBootTimeout;
        if (n?["bootTimeout"] is { } bt && (bootTimeout < downAfter || bootTimeout > TimeSpan.FromHours(24)))
        {
            r.Error(bt, "spec.nodes.bootTimeout", bootTimeout < downAfter
                ? $"{Durations.Format(bootTimeout)} is shorter than downAfter ({Durations.Format(downAfter)}): a machine that was just switched would be fenced again before it could even be seen Down; use at least {Durations.Format(downAfter)}"
                : $"{Durations.Format(bootTimeout)} is longer than 24h: a machine that hangs while booting would wait that long to be fenced again");
        }

        var known = ImmutableArray.CreateBuilder<KnownMachine>();
        var macs = new Dictionary<MacAddress, YNode>();
        var names = new Dictionary<string, YNode>(StringComparer.Ordinal);
        var ips = new Dictionary<uint, YNode>();
        foreach (var (item, path) in r.List(n?["known"], "spec.nodes.known", "machines ({ mac, name })"))
        {
            var m = r.Section(item, path, "mac", "name", "ip", "labels", "bootFile", "bmc");
            if (m is null)
            {
                continue;
            }

            var macNode = m.Required("mac", "the machine's MAC address, such as \"52:54:00:00:00:01\"");
            var macText = r.String(macNode, m.Join("mac"));
            MacAddress mac = default;
            if (macText is not null)
            {
                if (!MacAddress.TryParse(macText, out mac))
                {
                    r.Error(macNode!, m.Join("mac"), $"\"{macText}\" is not a MAC address: write six hex pairs such as 52:54:00:00:00:01");
                }
                else if (macs.TryGetValue(mac, out var first))
                {
                    r.Error(macNode!, m.Join("mac"), $"duplicate MAC {mac}: also at line {first.Start.Line}:{first.Start.Column}; each machine is listed once");
                }
                else
                {
                    macs[mac] = macNode!;
                }
            }

            var name = DnsLabel(r, m, "name", required: false) ?? $"node-{mac.ToCompactString()}";
            if (m["name"] is { } nameNode)
            {
                if (names.TryGetValue(name, out var first))
                {
                    r.Error(nameNode, m.Join("name"), $"duplicate node name '{name}': also at line {first.Start.Line}:{first.Start.Column}; node names are unique");
                }
                else
                {
                    names[name] = nameNode;
                }
            }

            IPAddress? ip = null;
            if (m["ip"] is { } ipNode && Address(r, ipNode, m.Join("ip")) is { } address)
            {
                ip = address;
                var value = Ipv4.ToUInt32(address);
                if (network.Subnet != default && !network.Subnet.IsHostAddress(value))
                {
                    r.Error(ipNode, m.Join("ip"), $"{address} is not a host address of the subnet {network.Subnet}");
                }
                else if (network.Gateway is { } gw && gw.Equals(address))
                {
                    r.Error(ipNode, m.Join("ip"), $"{address} is the gateway's address; reserve another one");
                }
                else if (ips.TryGetValue(value, out var first))
                {
                    r.Error(ipNode, m.Join("ip"), $"duplicate address {address}: also reserved at line {first.Start.Line}:{first.Start.Column}");
                }
                else
                {
                    ips[value] = ipNode;
                }
            }

            var bootFile = r.String(m["bootFile"], m.Join("bootFile"));
            if (bootFile is not null && (bootFile.Length is 0 or > 127 || !bootFile.All(c => c is > ' ' and < (char)0x7F)))
            {
                r.Error(m["bootFile"]!, m.Join("bootFile"), $"\"{bootFile}\" is not a boot file name: 1 to 127 printable ASCII characters without spaces (a TFTP path such as undionly.kpxe, or an http:// URL)");
                bootFile = null;
            }

            var bmc = m["bmc"] is { } bmcNode ? BindBmc(r, bmcNode, m.Join("bmc")) : null;
            known.Add(new KnownMachine(mac, name, ip, Labels(r, m["labels"], m.Join("labels")), bootFile, bmc));
        }

        if (enroll == EnrollMode.Known && known.Count == 0 && n?["enroll"] is { } enrollNode)
        {
            r.Error(enrollNode, "spec.nodes.enroll", "'known' admits only the machines under spec.nodes.known, and none are listed: no machine could join; list them or use 'auto'");
        }

        return new NodesSpec(enroll, heartbeat, downAfter, known.ToImmutable()) { Disks = BindDisks(r, n?["disks"]), BootTimeout = bootTimeout };
    }

    /// <summary>spec.nodes.known[].bmc: <c>{ ipmi: host[:port] | redfish: URL, credentials: secret, insecureTls, cipherSuite }</c>.</summary>
    private static BmcSpec? BindBmc(YamlReader r, YNode node, string path)
    {
        var b = r.Section(node, path, "ipmi", "redfish", "credentials", "insecureTls", "cipherSuite", "username", "password");
        if (b is null)
        {
            return null;
        }

        foreach (var inline in new[] { "username", "password" })
        {
            if (b[inline] is { } at)
            {
                r.Error(at, b.Join(inline), $"a BMC's {inline} is not written in the spec: store \"username:password\" as a secret (zc secret set <name> --from-file …) and name it here as credentials: <name>");
            }
        }

        var ipmi = r.String(b["ipmi"], b.Join("ipmi"));
        var redfish = r.String(b["redfish"], b.Join("redfish"));
        if (ipmi is not null && redfish is not null)
        {
            r.Error(b["redfish"]!, b.Join("redfish"), "a BMC is reached one way: give ipmi or redfish, not both");
            return null;
        }

        if (ipmi is null && redfish is null)
        {
            r.Error(b.Map, path, "missing the BMC's address: give ipmi: <host>[:<port>] or redfish: <https URL>");
            return null;
        }

        var ok = true;
        if (ipmi is not null && !IsHostPort(ipmi))
        {
            r.Error(b["ipmi"]!, b.Join("ipmi"), $"\"{ipmi}\" is not a BMC address: write a host name or IPv4 address, optionally with :port (623 by default)");
            ok = false;
        }

        if (redfish is not null && !(Uri.TryCreate(redfish, UriKind.Absolute, out var url) && (url.Scheme == Uri.UriSchemeHttps || url.Scheme == Uri.UriSchemeHttp) && url.Host.Length > 0))
        {
            r.Error(b["redfish"]!, b.Join("redfish"), $"\"{redfish}\" is not a Redfish URL: write the BMC's service root, such as https://10.0.0.50/redfish/v1, or its system's URL");
            ok = false;
        }

        var credentialsNode = b.Required("credentials", "the name of the secret that holds \"username:password\"");
        var credentials = r.String(credentialsNode, b.Join("credentials"));
        if (credentials is not null && Inputs.Name(credentials, "the secret's name") is { } bad)
        {
            r.Error(credentialsNode!, b.Join("credentials"), bad);
            ok = false;
        }

        var insecure = false;
        if (b["insecureTls"] is { } insecureNode)
        {
            if (insecureNode is YScalar { IsQuoted: false, Value: "true" or "false" } flag)
            {
                insecure = flag.Value == "true";
            }
            else
            {
                r.Error(insecureNode, b.Join("insecureTls"), $"expected true or false, found {insecureNode.Describe()}");
            }
        }

        int? cipherSuite = null;
        if (b["cipherSuite"] is { } suiteNode)
        {
            cipherSuite = r.Int(suiteNode, b.Join("cipherSuite"));
            if (ipmi is null)
            {
                r.Error(suiteNode, b.Join("cipherSuite"), "cipherSuite is for an IPMI BMC (ipmitool -C); a Redfish BMC negotiates TLS");
                ok = false;
            }
            else if (cipherSuite is < 0 or > 19)
            {
                r.Error(suiteNode, b.Join("cipherSuite"), $"{cipherSuite} is not an IPMI 2.0 cipher suite: 0 to 19 (17 is what current BMCs offer, 3 what older ones do)");
                ok = false;
            }
        }

        return ok && credentials is not null
            ? new BmcSpec(ipmi is not null ? BmcProtocol.Ipmi : BmcProtocol.Redfish, ipmi ?? redfish!, credentials, insecure, cipherSuite)
            : null;
    }

    private static bool IsHostPort(string text)
    {
        var colon = text.LastIndexOf(':');
        var host = colon < 0 ? text : text[..colon];
        if (colon >= 0 && !(ushort.TryParse(text[(colon + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) && port > 0))
        {
            return false;
        }

        return host.Length is > 0 and <= 253 && (IPAddress.TryParse(host, out var ip) ? ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork : Uri.CheckHostName(host) == UriHostNameType.Dns);
    }

    /// <summary>spec.nodes.disks: selectors, each naming at least one property; wipe only on an entry that names one device.</summary>
    private static ImmutableArray<DiskSelector> BindDisks(YamlReader r, YNode? node)
    {
        var disks = ImmutableArray.CreateBuilder<DiskSelector>();
        foreach (var (item, path) in r.List(node, "spec.nodes.disks", "disk selectors ({ path, model, serial, minSize, maxSize, type, wipe })"))
        {
            var d = r.Section(item, path, "path", "model", "serial", "minSize", "maxSize", "type", "wipe");
            if (d is null)
            {
                continue;
            }

            var device = r.String(d["path"], d.Join("path"));
            if (device is not null && (!device.StartsWith("/dev/", StringComparison.Ordinal) || device.Length <= 5 || device.Any(char.IsWhiteSpace)))
            {
                r.Error(d["path"]!, d.Join("path"), $"\"{device}\" is not a device path: write one such as /dev/vdb or /dev/disk/by-id/…");
            }

            var model = r.String(d["model"], d.Join("model"));
            var serial = r.String(d["serial"], d.Join("serial"));
            long? Size(string field)
            {
                var text = r.String(d[field], d.Join(field));
                if (text is null)
                {
                    return null;
                }

                if (Quantities.TryParseMemory(text, out var bytes) && bytes > 0)
                {
                    return bytes;
                }

                r.Error(d[field]!, d.Join(field), $"\"{text}\" is not a size: write one such as 100Gi, 1.5Ti or 500G");
                return null;
            }

            var min = Size("minSize");
            var max = Size("maxSize");
            if (min is { } lo && max is { } hi && lo > hi)
            {
                r.Error(d["maxSize"]!, d.Join("maxSize"), $"maxSize {Quantities.FormatMemory(hi)} is below minSize {Quantities.FormatMemory(lo)}: no disk could match");
            }

            bool? rotational = null;
            if (r.String(d["type"], d.Join("type")) is { } type)
            {
                rotational = type switch { "ssd" => false, "hdd" => true, _ => null };
                if (rotational is null)
                {
                    r.Error(d["type"]!, d.Join("type"), $"\"{type}\" is not a disk type: write ssd (not rotational, NVMe included) or hdd");
                }
            }

            var wipe = false;
            if (d["wipe"] is { } wipeNode)
            {
                if (wipeNode is YScalar { IsQuoted: false, Value: "true" or "false" } flag)
                {
                    wipe = flag.Value == "true";
                }
                else
                {
                    r.Error(wipeNode, d.Join("wipe"), $"expected true or false, found {wipeNode.Describe()}");
                }
            }

            if (((string[])["path", "model", "serial", "minSize", "maxSize", "type"]).All(f => d[f] is null))
            {
                r.Error(item, path, "a disk selector names at least one of path, model, serial, minSize, maxSize or type: an empty one would claim any disk");
            }
            else if (wipe && device is null && serial is null)
            {
                r.Error(d["wipe"]!, d.Join("wipe"), "wipe: true erases what the disk holds, so it needs an entry that names exactly one device: add its path or serial (a size, model or type can match a disk you did not mean)");
            }

            disks.Add(new DiskSelector(device, model, serial, min, max, rotational, wipe));
        }

        return disks.ToImmutable();
    }

    private static ImmutableArray<ServiceSpec> BindServices(YamlReader r, YNode? node)
    {
        var services = ImmutableArray.CreateBuilder<ServiceSpec>();
        var names = new Dictionary<string, YNode>(StringComparer.Ordinal);
        foreach (var (item, path) in r.List(node, "spec.services", "services ({ name, image, replicas })"))
        {
            var s = r.Section(item, path, "name", "image", "replicas", "resources", "spread", "ports", "health", "labels", "nodeSelector", "args", "env");
            if (s is null)
            {
                continue;
            }

            var name = DnsLabel(r, s, "name", required: true) ?? "";
            if (s["name"] is { } nameNode && name.Length > 0)
            {
                if (names.TryGetValue(name, out var first))
                {
                    r.Error(nameNode, s.Join("name"), $"duplicate service name '{name}': also at line {first.Start.Line}:{first.Start.Column}; service names are unique");
                }
                else
                {
                    names[name] = nameNode;
                }
            }

            var image = Image(r, s);
            var replicas = r.Int(s["replicas"], s.Join("replicas")) ?? 1;
            if (replicas < 0)
            {
                r.Error(s["replicas"]!, s.Join("replicas"), $"{replicas} replicas: the count cannot be negative (0 stops the service)");
            }

            var resources = Resources(r, s["resources"], s.Join("resources"));
            var spread = r.Enum<SpreadPolicy>(s["spread"], s.Join("spread")) ?? SpreadPolicy.None;
            var ports = Ports(r, s["ports"], s.Join("ports"));
            var health = Health(r, s["health"], s.Join("health"), ports);
            var labels = Labels(r, s["labels"], s.Join("labels"));
            var selector = Labels(r, s["nodeSelector"], s.Join("nodeSelector"));
            var argList = r.List(s["args"], s.Join("args"), "arguments").ToList();
            if (argList.Count > Api.Inputs.MaxArguments)
            {
                r.Error(s["args"]!, s.Join("args"), $"{argList.Count} arguments; at most {Api.Inputs.MaxArguments}");
            }

            var args = argList
                .Select(a => (Value: r.String(a.Node, a.Path), a.Node, a.Path))
                .Where(a => a.Value is not null && Check(r, a.Node, a.Path, Api.Inputs.Argument(a.Value, "the argument")))
                .Select(a => a.Value!)
                .ToImmutableArray();
            var env = r.StringMap(
                s["env"],
                s.Join("env"),
                Api.Inputs.EnvName,
                value => Api.Inputs.Argument(value, "the value"));
            services.Add(new ServiceSpec(name, image, replicas, resources, spread, ports, health, labels, selector, args, env));
        }

        return services.ToImmutable();
    }

    private static string Image(YamlReader r, Section s)
    {
        var node = s.Required("image", "the image to run, such as builtin/hello");
        var image = r.String(node, s.Join("image"));
        if (image is null)
        {
            return "";
        }

        if (image.StartsWith("builtin/", StringComparison.Ordinal))
        {
            var builtin = image["builtin/".Length..];
            if (!BuiltinImages.Contains(builtin))
            {
                var suggestion = Suggest.Closest(builtin, BuiltinImages);
                r.Error(node!, s.Join("image"), $"there is no built-in image '{builtin}'{(suggestion is null ? "" : $" (did you mean 'builtin/{suggestion}'?)")}; the built-in images are {string.Join(", ", BuiltinImages.Select(b => "builtin/" + b))}");
            }
        }
        else if (Api.Inputs.Image(image) is not null)
        {
            r.Error(node!, s.Join("image"), $"\"{image}\" is not an image reference: use builtin/<name>, <name>@sha256:<64 hex digits> (that version, pinned) or sha256:<64 hex digits> of an image in the catalogue");
        }

        return image;
    }

    private static ResourceSpec Resources(YamlReader r, YNode? node, string path)
    {
        var s = r.Section(node, path, "cpu", "memory");
        var cpu = ResourceSpec.Default.CpuMillis;
        var memory = ResourceSpec.Default.MemoryBytes;
        if (s?["cpu"] is { } cpuNode && r.String(cpuNode, s.Join("cpu")) is { } cpuText)
        {
            if (!Quantities.TryParseCpu(cpuText, out cpu) || cpu <= 0)
            {
                r.Error(cpuNode, s.Join("cpu"), $"\"{cpuText}\" is not a CPU quantity: write {Quantities.CpuHint} (more than 0)");
                cpu = ResourceSpec.Default.CpuMillis;
            }
        }

        if (s?["memory"] is { } memNode && r.String(memNode, s.Join("memory")) is { } memText)
        {
            if (!Quantities.TryParseMemory(memText, out memory) || memory <= 0)
            {
                r.Error(memNode, s.Join("memory"), $"\"{memText}\" is not a memory quantity: write {Quantities.MemoryHint} (more than 0)");
                memory = ResourceSpec.Default.MemoryBytes;
            }
        }

        return new ResourceSpec(cpu, memory);
    }

    private static ImmutableArray<int> Ports(YamlReader r, YNode? node, string path)
    {
        var ports = ImmutableArray.CreateBuilder<int>();
        var seen = new Dictionary<int, YNode>();
        foreach (var (item, itemPath) in r.List(node, path, "port numbers"))
        {
            if (Port(r, item, itemPath) is not { } port)
            {
                continue;
            }

            if (seen.TryGetValue(port, out var first))
            {
                r.Error(item, itemPath, $"duplicate port {port} (also at line {first.Start.Line}:{first.Start.Column})");
                continue;
            }

            seen[port] = item;
            ports.Add(port);
        }

        return ports.ToImmutable();
    }

    private static int? Port(YamlReader r, YNode node, string path)
    {
        var port = r.Int(node, path);
        if (port is < 1 or > 65535)
        {
            r.Error(node, path, $"port {port} is out of range: a port is 1 to 65535");
            return null;
        }

        return port;
    }

    private static HealthCheckSpec? Health(YamlReader r, YNode? node, string path, ImmutableArray<int> ports)
    {
        var h = r.Section(node, path, "http", "port", "interval", "timeout", "failureThreshold");
        if (h is null)
        {
            return null;
        }

        var http = r.String(h["http"], h.Join("http"));
        if (http is not null && !http.StartsWith('/'))
        {
            r.Error(h["http"]!, h.Join("http"), $"\"{http}\" is not an HTTP path: it starts with /, such as /healthz");
        }

        int? port = h["port"] is { } portNode ? Port(r, portNode, h.Join("port")) : ports.IsEmpty ? null : ports[0];
        if (port is null && h["port"] is null)
        {
            r.Error(h.Map, h.Join("port"), "missing required field 'port': the service lists no ports to check by default; give the port to check");
        }

        var interval = r.Duration(h["interval"], h.Join("interval")) ?? TimeSpan.FromSeconds(5);
        var timeout = r.Duration(h["timeout"], h.Join("timeout")) ?? TimeSpan.FromSeconds(2);
        if (interval <= TimeSpan.Zero)
        {
            r.Error(h["interval"]!, h.Join("interval"), "the interval must be longer than 0s");
        }

        if (timeout <= TimeSpan.Zero || timeout > interval)
        {
            r.Error(h["timeout"] ?? h.Map, h.Join("timeout"), $"the timeout ({Durations.Format(timeout)}) must be more than 0s and at most the interval ({Durations.Format(interval)})");
        }

        var threshold = r.Int(h["failureThreshold"], h.Join("failureThreshold")) ?? 3;
        if (threshold < 1)
        {
            r.Error(h["failureThreshold"]!, h.Join("failureThreshold"), $"{threshold} is not a failure threshold: it is at least 1");
        }

        return new HealthCheckSpec(http, port ?? 0, interval, timeout, threshold);
    }

    private static readonly ImmutableSortedDictionary<string, string> Empty = ImmutableSortedDictionary<string, string>.Empty.WithComparers(StringComparer.Ordinal);

    private static ImmutableSortedDictionary<string, string> Labels(YamlReader r, YNode? node, string path) =>
        r.StringMap(
            node,
            path,
            key => LabelKey().IsMatch(key) ? null : $"'{key}' is not a label key: up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit, optionally after a DNS prefix and '/'",
            value => LabelValue().IsMatch(value) ? null : $"\"{value}\" is not a label value: up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit");

    /// <summary>Reports <paramref name="problem"/> at <paramref name="path"/> when there is one; true when there is none.</summary>
    private static bool Check(YamlReader r, YNode node, string path, string? problem)
    {
        if (problem is not null)
        {
            r.Error(node, path, problem);
        }

        return problem is null;
    }

    /// <summary>Reads a field that must be a DNS label (RFC 1123: it becomes a host name).</summary>
    private static string? DnsLabel(YamlReader r, Section s, string field, bool required)
    {
        var node = required ? s.Required(field, "a name: lower-case letters, digits and '-'") : s[field];
        var value = r.String(node, s.Join(field));
        if (value is not null && !DnsLabelRegex().IsMatch(value))
        {
            var lower = value.ToLowerInvariant();
            var hint = DnsLabelRegex().IsMatch(lower) ? $" (did you mean '{lower}'?)" : "";
            r.Error(node!, s.Join(field), $"\"{value}\" is not a valid name: 1 to 63 lower-case letters, digits and '-', starting and ending with a letter or digit{hint}");
            return null;
        }

        return value;
    }

    private static IPAddress? Address(YamlReader r, YNode node, string path)
    {
        var text = r.String(node, path);
        if (text is null)
        {
            return null;
        }

        if (Ipv4.TryParse(text, out var address))
        {
            return address;
        }

        r.Error(node, path, $"\"{text}\" is not an IPv4 address: write four numbers 0-255 separated by dots, such as 10.77.0.1");
        return null;
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    private static partial Regex DnsLabelRegex();

    [GeneratedRegex(@"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")]
    private static partial Regex LabelKey();

    [GeneratedRegex("^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")]
    private static partial Regex LabelValue();


    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")]
    private static partial Regex DnsName();

    [GeneratedRegex(@"^[^\s/:]{1,15}$")]
    private static partial Regex InterfaceName();
}
