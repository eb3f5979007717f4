using System.Diagnostics;
using System.Text.Json;
using DotNet.Testcontainers.Configurations;
using DotNet.Testcontainers.Containers;
using Xunit.Abstractions;
using ZeroCloud.Model.Api;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Container.Tests;

/// <summary>
/// The control plane as containers: the control image's OCI form (the self-contained zc-control, as the image carries
/// it) loaded into podman with <c>zc image load</c>, three members started through Testcontainers, each on its own
/// lab namespace's network (<c>ns:/run/netns/…</c>) with its data folder bound from the host, silos on and TLS on as
/// deployed. The first bootstraps; the others join through it with the root and the admin credential it wrote. The
/// leader's container is killed (SIGKILL): the other two elect a leader and take writes; the killed container is
/// started again on its folder and catches up. An operator's zc in a fourth namespace drives and reads it all.
/// </summary>
[Collection("podman")]
[Trait("Category", "Lab")]
public sealed class ControlContainerTests(ITestOutputHelper output)
{
    private static string Address(int member) => $"10.78.0.{member + 1}";

    private static string Api(int member) => $"https://{Address(member)}:7070";

    [LabFact]
    public async Task Three_control_members_as_containers_form_a_cluster_survive_a_killed_container_and_take_it_back()
    {
        await using var lab = await NetnsLab.CreateAsync("m1", "m2", "m3", "op");
        for (var i = 1; i <= 3; i++)
        {
            await lab.AddressAsync($"m{i}", $"{Address(i)}/24");
        }

        await lab.AddressAsync("op", "10.78.0.10/24");

        // The control image as an operator makes it: zc image build control --oci, then zc image load.
        var clock = Stopwatch.StartNew();
        var tag = (await Containers.BuildAsync("control", oci: true))!;
        output.WriteLine($"control image built and loaded as {tag} in {clock.Elapsed.TotalSeconds:0.0} s");

        var containers = new IContainer?[4];
        try
        {
            // m1 bootstraps the cluster: its CA, the admin credential and the operator's credentials file land in its folder.
            containers[1] = Member(lab, tag, 1, ["--bootstrap"]);
            await Containers.StartAsync(containers[1]!);
            var credentials = await NetnsLab.CredentialsFileAsync(lab.PathOf("m1"));
            var root = Path.Combine(lab.PathOf("m1"), "pki", "root.crt");
            var token = Path.Combine(lab.PathOf("m1"), "admin-credential");

            async Task<string> ZcAsync(params string[] args)
            {
                var (exit, text) = await Containers.ZcAsync(lab, "op", credentials, args);
                Assert.True(exit == 0, $"zc {string.Join(' ', args)} exited {exit}:\n{text}\n{await Containers.LogsAsync(containers)}");
                return text;
            }

            // A put the cluster answers as ambiguous (leadership moved while it was replicated: CI saw elections on a
            // loaded machine) is read back before it is tried again, as the error tells an operator to.
            async Task PutAsync(string key, string value, int member)
            {
                var watch = Stopwatch.StartNew();
                while (true)
                {
                    var (exit, text) = await Containers.ZcAsync(lab, "op", credentials, "kv", "put", key, value, "--server", Api(member));
                    if (exit == 0)
                    {
                        return;
                    }

                    var (_, read) = await Containers.ZcAsync(lab, "op", credentials, "kv", "get", key, "--server", Api(member));
                    if (read.Contains(value, StringComparison.Ordinal))
                    {
                        return;
                    }

                    Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"zc kv put {key} through m{member} kept failing for 60 s:\n{text}\n{await Containers.LogsAsync(containers)}");
                    output.WriteLine($"zc kv put {key} through m{member}: {text.Trim()}; not there when read back, trying again");
                    await Task.Delay(1000);
                }
            }

            async Task<StatusResponse?> StatusAsync(int member)
            {
                var (exit, text) = await Containers.ZcAsync(lab, "op", credentials, "status", "--json", "--server", Api(member));
                return exit == 0 ? JsonSerializer.Deserialize(text, ControlJsonContext.Default.StatusResponse) : null;
            }

            await Containers.WaitAsync(async () => (await StatusAsync(1))?.Role == "leader", "m1 to lead the cluster it bootstrapped", containers);

            // m2 and m3 join through m1 with the cluster's root and the admin credential, as an operator would start them.
            for (var i = 2; i <= 3; i++)
            {
                containers[i] = Member(lab, tag, i, ["--peers", Api(1), "--token-file", "/etc/zc/token", "--ca-file", "/etc/zc/ca.crt"], (root, "/etc/zc/ca.crt"), (token, "/etc/zc/token"));
                await Containers.StartAsync(containers[i]!);
            }

            StatusResponse status = null!;
            await Containers.WaitAsync(async () => (status = (await StatusAsync(1))!) is { } s && s.Members.Count == 3 && s.Members.All(m => m.Status == MemberStatus.Available) && (s.Silos ?? []).Count(x => x.Status == "active") == 3, "three available members with three active silos", containers);
            output.WriteLine($"three members in containers: {string.Join(", ", status.Members.Select(m => $"{m.Name} {m.Status}{(m.Leader ? " (leader)" : "")}"))}; silos {string.Join(", ", status.Silos!.Select(s => $"{s.Name} {s.Status}"))}");
            await PutAsync("/containers/before", "written-with-three", 2);

            // SIGKILL the leader's container: no shutdown code runs in it.
            var leader = int.Parse(status.Members.Single(m => m.Leader).Name![1..], System.Globalization.CultureInfo.InvariantCulture);
            var survivors = Enumerable.Range(1, 3).Where(i => i != leader).ToList();
            var (killed, killText) = await Podman.RunAsync("kill", "--signal", "KILL", containers[leader]!.Name.TrimStart('/'));
            Assert.True(killed == 0, killText);
            var sinceKill = Stopwatch.StartNew();
            async Task<bool> SurvivorLeadsAsync()
            {
                foreach (var i in survivors)
                {
                    if ((await StatusAsync(i))?.Role == "leader")
                    {
                        return true;
                    }
                }

                return false;
            }

            await Containers.WaitAsync(SurvivorLeadsAsync, $"m{survivors[0]} or m{survivors[1]} to lead after m{leader}'s container was killed", containers);
            var elected = sinceKill.Elapsed;
            await PutAsync("/containers/after", "written-with-two", survivors[1]);
            Assert.Contains("written-with-three", await ZcAsync("kv", "get", "/containers/before", "--server", Api(survivors[0])), StringComparison.Ordinal);
            output.WriteLine($"m{leader}'s container killed: a new leader among m{survivors[0]}, m{survivors[1]} after {elected.TotalSeconds:0.0} s, and writes go on");

            // The killed container starts again on the same folder: the same member, caught up with what it missed.
            var (started, startText) = await Podman.RunAsync("start", containers[leader]!.Name.TrimStart('/'));
            Assert.True(started == 0, startText);
            await Containers.WaitAsync(
                async () => (await StatusAsync(leader)) is { } s && s.Members.Count == 3 && s.Members.All(m => m.Status == MemberStatus.Available) && (s.Silos ?? []).Count(x => x.Status == "active") == 3,
                $"m{leader} back with three available members and its silo active again",
                containers);
            Assert.Contains("written-with-two", await ZcAsync("kv", "get", "/containers/after", "--server", Api(leader)), StringComparison.Ordinal);
            output.WriteLine($"m{leader} started again on its folder: back in the cluster and caught up after {sinceKill.Elapsed.TotalSeconds:0.0} s since the kill");
            output.WriteLine(await ZcAsync("status", "--server", Api(leader)));
        }
        finally
        {
            await Containers.DisposeAllAsync(containers, output);
            await Podman.RunAsync("rmi", "--force", tag);
        }
    }

    /// <summary>A member's container: its own namespace's network, its folder bound from the host, silos on (as deployed).</summary>
    private static IContainer Member(NetnsLab lab, string tag, int member, string[] args, params (string Host, string Container)[] files)
    {
        var data = lab.PathOf($"m{member}");
        Directory.CreateDirectory(data);
        var builder = Containers.Builder(tag, $"zc-control-m{member}", lab.Namespace($"m{member}"))
            .WithBindMount(data, "/var/lib/zerocloud/control")
            .WithCommand(["--data", "/var/lib/zerocloud/control", "--listen", $"{Address(member)}:7070", "--name", $"m{member}", .. args]);
        foreach (var (host, container) in files)
        {
            builder = builder.WithBindMount(host, container, AccessMode.ReadOnly);
        }

        return builder.Build();
    }
}
