using System.Diagnostics;
using System.Text.Json;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Model.Api;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Cluster.Tests;

/// <summary>
/// The <c>vm</c> runtime driver: an agent with bootable images finds out that a guest boots here (KVM hangs on this
/// machine, so TCG), reports <c>vm</c>, and runs the hello image as a QEMU microvm whose health check passes; when
/// the placement goes, QEMU and its tap go too. Slow: it builds the image (NativeAOT) and boots it under TCG.
/// </summary>
[Collection("control")]
[Trait("Category", "Lab")]
public class VmRuntimeTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(150);

    private static string Spec(int replicas) => $$"""
        apiVersion: zerocloud.io/v1
        kind: Cluster
        metadata: { name: vmrt }
        spec:
          network: { subnet: 10.79.0.0/24, gateway: 10.79.0.1 }
          nodes: { heartbeat: 500ms, downAfter: 5s }
          boot: { runtime: vm }
          services:
            - name: hello
              image: builtin/hello
              replicas: {{replicas}}
              resources: { cpu: 500m, memory: 256Mi }
              ports: [8080]
              health: { http: /healthz, port: 8080, interval: 2s, timeout: 1s }
        """;

    [LabFact]
    public Task The_vm_driver_boots_the_hello_image_under_tcg_its_health_check_passes_and_it_stops_with_its_placement() =>
        RunAsync(minimalKernel: false);

    /// <summary>
    /// The same on ZeroCloud's minimal kernel (zc image build hello --minimal-kernel): its vmlinux booted as it is, on
    /// microvm with ACPI off. Slow tier: the first run builds the kernel (minutes; scripts/setup-kernel installs the
    /// source), later ones take it from the cache.
    /// </summary>
    [LabFact]
    [Trait("Category", "Slow")]
    public Task The_vm_driver_boots_a_hello_image_on_the_minimal_kernel_and_its_health_check_passes() =>
        RunAsync(minimalKernel: true);

    private static async Task RunAsync(bool minimalKernel)
    {
        await using var lab = await NetnsLab.CreateAsync("cp", "n1");
        await lab.AddressAsync("cp", "10.79.0.2/24");
        await lab.AddressAsync("n1", "10.79.0.11/24");
        var (code, output) = await lab.RunAsync("cp", TimeSpan.FromMinutes(minimalKernel ? 30 : 6), "dotnet", [ControlCluster.ZcDll, "image", "build", "hello", "-o", lab.PathOf("out"), .. (minimalKernel ? (string[])["--minimal-kernel"] : [])]);
        Assert.True(code == 0, output);

        const string server = "https://10.79.0.2:7070";
        var control = lab.Start("cp", "dotnet", ControlCluster.ZcDll, "serve", "control", "--data", lab.PathOf("control"), "--listen", "10.79.0.2:7070", "--bootstrap");
        await control.WaitForLineAsync(l => l.Contains("Orleans silo started", StringComparison.Ordinal), Long, what: "the control plane's silo");
        // zc speaks with the admin credentials file the bootstrapped member wrote.
        var credentials = $"ZC_CREDENTIALS={await NetnsLab.CredentialsFileAsync(lab.PathOf("control"))}";
        var specFile = lab.PathOf("vmrt.yaml");
        await File.WriteAllTextAsync(specFile, Spec(1));
        (code, output) = await lab.RunAsync("cp", Long, "env", credentials, "dotnet", ControlCluster.ZcDll, "apply", "-f", specFile, "--server", server);
        Assert.True(code == 0, output);

        async Task<T> GetAsync<T>(string what, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
        {
            var (c, o) = await lab.RunAsync("cp", Long, "env", credentials, "dotnet", ControlCluster.ZcDll, "get", what, "--json", "--server", server);
            Assert.True(c == 0, o);
            return JsonSerializer.Deserialize(o, type)!;
        }

        var tokens = await GetAsync("tokens", ControlJsonContext.Default.TokensResponse);
        var token = $"{tokens.Tokens[0].Id}.{tokens.Tokens[0].Secret}";
        var agent = lab.Start("n1", "dotnet", NetnsLab.ServiceBinary("ZeroCloud.Node", "zc-node.dll", "node"), "--control", server, "--ca-file", Path.Combine(lab.PathOf("control"), "pki", "root.crt"), "--name", "n1", "--data", lab.PathOf("n1"), "--vm-images", lab.PathOf("out/images"), "--token", token);

        async Task WaitAsync(Func<Task<bool>> condition, string what)
        {
            var deadline = Stopwatch.StartNew();
            while (!await condition())
            {
                if (deadline.Elapsed > Long)
                {
                    var log = Path.Combine(lab.PathOf("n1"), "instances", "hello-0.log");
                    throw new TimeoutException($"{what} did not happen within {Long.TotalSeconds:0}s\ncontrol:\n{control.Output}\nagent:\n{agent.Output}\ninstance log:\n{(File.Exists(log) ? await File.ReadAllTextAsync(log) : "(none)")}");
                }

                await Task.Delay(500);
            }
        }

        // Before the probe guest booted the node reports "process" only, and a vm-only service waits, unplaced.
        await agent.WaitForLineAsync(l => l.Contains("vm: a probe guest reached init", StringComparison.Ordinal), Long, what: "the agent's VM probe");
        Assert.Contains("with TCG", agent.Output, StringComparison.Ordinal); // /dev/kvm exists here, but its guests hang
        Assert.Contains("from its vmlinux through PVH", agent.Output, StringComparison.Ordinal);
        await WaitAsync(async () => (await GetAsync("nodes", ControlJsonContext.Default.NodesResponse)).Nodes.Single() is { Runtimes: { } r, Accelerator: "tcg" } && r.Contains("vm"), "n1 to report the vm runtime, emulated (tcg)");

        var booted = Stopwatch.StartNew();
        await WaitAsync(async () => (await GetAsync("instances", ControlJsonContext.Default.InstancesResponse)).Instances.SingleOrDefault()?.State is { State: InstanceState.Running, Healthy: true }, "hello-0 to run healthy as a VM");
        Console.WriteLine($"hello as a microvm under TCG: healthy {booted.Elapsed.TotalSeconds:0.0} s after n1 reported vm");
        var instance = (await GetAsync("instances", ControlJsonContext.Default.InstancesResponse)).Instances.Single().Instance;
        Assert.Equal("vm", instance.Runtime);

        // It is a VM: the guest answers on its own link, and its console is the instance's log.
        (code, output) = await lab.RunAsync("n1", Long, "curl", "-sf", "-m", "5", "http://169.254.1.2:8080/");
        Assert.True(code == 0 && output.Contains("hello from hello-0", StringComparison.Ordinal), output);
        var console = await File.ReadAllTextAsync(Path.Combine(lab.PathOf("n1"), "instances", "hello-0.log"));
        Assert.Contains("ZeroCloud hello is PID 1", console, StringComparison.Ordinal);
        if (minimalKernel)
        {
            // The image's own kernel is a vmlinux: booted as it is, with ACPI off; the initrd still uncompressed.
            Assert.Contains("-M microvm,acpi=off -accel tcg", console, StringComparison.Ordinal);
            Assert.Matches(@"-kernel \S+/images/hello/vmlinuz -initrd \S+/vm-boot/[0-9a-f]{64}\.cpio ", console);
            Assert.Contains("-zc-minimal", File.ReadAllText(lab.PathOf("out/images/hello/manifest.json")), StringComparison.Ordinal);
        }
        else
        {
            Assert.Contains("-M microvm,pit=on,pic=on,rtc=on -accel tcg", console, StringComparison.Ordinal);

            // Booted fast: the kernel's vmlinux through PVH and the initrd uncompressed, derived once in the data folder.
            Assert.Matches(@"-kernel \S+/vm-boot/[0-9a-f]{64}\.vmlinux -initrd \S+/vm-boot/[0-9a-f]{64}\.cpio ", console);
        }

        (code, output) = await lab.RunAsync("n1", Long, "ip", "-br", "link", "show", "zcvm1");
        Assert.True(code == 0, output);

        // The placement goes: QEMU stops and its tap is gone with it.
        await File.WriteAllTextAsync(specFile, Spec(0));
        (code, output) = await lab.RunAsync("cp", Long, "env", credentials, "dotnet", ControlCluster.ZcDll, "apply", "-f", specFile, "--server", server);
        Assert.True(code == 0, output);
        await WaitAsync(async () => (await lab.RunAsync("n1", Long, "ip", "-br", "link", "show", "zcvm1")).Code != 0, "the VM's tap to go");
        (code, output) = await lab.RunAsync("cp", Long, "sh", "-c", $"ps -o comm= -p \"$(ip netns pids {lab.Namespace("n1")} | tr '\\n' ' ')\"");
        Assert.DoesNotContain("qemu", output, StringComparison.Ordinal);
        Assert.Contains("stopping hello-0 (no longer placed here)", agent.Output, StringComparison.Ordinal);
    }
}
