using System.Security.Cryptography.X509Certificates;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Pki;

namespace ZeroCloud.Cluster.Tests;

/// <summary>The API over TLS with the cluster's own CA: what a member serves, and who refuses another cluster.</summary>
[Collection("control")]
[Trait("Category", "Lab")]
public class TlsTests
{
    [Fact]
    public async Task Members_serve_tls_13_with_certificates_of_their_cluster_and_clients_and_members_of_another_cluster_refuse_them()
    {
        await using var ours = await ControlCluster.StartAsync(2);
        await using var theirs = await ControlCluster.StartAsync(1);

        // Each member's certificate chains to its cluster's root and names the member; the joining one got its own.
        foreach (var member in ours.Members)
        {
            using var leaf = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(member.DataDirectory, "pki", "member.crt")));
            using var issuing = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(member.DataDirectory, "pki", "ca.crt"));
            Assert.Null(ours.Trust!.Problem(leaf, [issuing]));
            Assert.Equal(("member", member.Name), ClusterPki.IdentityOf(leaf));
            Assert.Equal(member.RaftId, ClusterPki.RaftEndpointOf(leaf));
            Assert.NotNull(theirs.Trust!.Problem(leaf, [issuing]));
        }

        // A client that trusts our root does not talk to their member, whatever its credential.
        using var confused = new ControlClient(new Uri(theirs.Members[0].Api), ours.Trust!.Client(TimeSpan.FromSeconds(5))) { Token = theirs.AdminCredential };
        var refused = await Assert.ThrowsAsync<ControlApiException>(() => confused.StatusAsync());
        Assert.Equal(ErrorCodes.Unreachable, refused.Code);

        // A client that trusts nothing but the system's roots does not either.
        using var plain = new ControlClient(new Uri(ours.Members[0].Api), new HttpClient { Timeout = TimeSpan.FromSeconds(5) });
        Assert.Equal(ErrorCodes.Unreachable, (await Assert.ThrowsAsync<ControlApiException>(() => plain.StatusAsync())).Code);

        // A member started to join our cluster but pointed at theirs is never signed and never joins either.
        await using var stray = new ControlMember("stray", Directory.CreateTempSubdirectory("zc-stray-").FullName, ["--no-silo"])
        {
            Identity = ["--token-file", ours.AdminCredentialFile!, "--ca-file", ours.CaFile!],
        };
        stray.Start("--peers", theirs.Members[0].Api);
        await theirs.WaitForAsync(() => Task.FromResult(stray.Output.Contains("could not sign this member's certificate", StringComparison.Ordinal)), "the stray member to refuse the other cluster's member");
        Assert.False(File.Exists(Path.Combine(stray.DataDirectory, "pki", "member.crt")));
        Assert.Single((await theirs.Members[0].Client.MembersAsync()).Members);

        // Raft is mutual TLS: a peer with a member certificate of their cluster fails the handshake on ours (and is
        // logged), one with ours completes it; a plain TCP peer gets nothing.
        Assert.False(await HandshakeAsync(ours.Members[0].RaftPort, theirs.Members[0]));
        await ours.WaitForAsync(() => Task.FromResult(ours.Members[0].Output.Contains("raft: refused a TLS peer", StringComparison.Ordinal)), "the member to log the refused Raft peer");
        Assert.True(await HandshakeAsync(ours.Members[0].RaftPort, ours.Members[1]));

        // A peer that connects and sends nothing is dropped when the handshake times out (Raft's request timeout, 5 s):
        // idle connections cannot pile up, since only members get past the handshake.
        using (var idle = new System.Net.Sockets.TcpClient())
        {
            await idle.ConnectAsync(System.Net.IPAddress.Loopback, ours.Members[0].RaftPort);
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                Assert.Equal(0, await idle.GetStream().ReadAsync(new byte[1], deadline.Token));
            }
            catch (IOException)
            {
                // reset: dropped as well
            }
        }

        // A member certificate of our own cluster is not enough: its Raft endpoint must be in the configuration.
        using (var ghost = ClusterPki.Load(Path.Combine(ours.Members[0].DataDirectory, "pki"))!.IssueWithKey("member", "ghost", [System.Net.IPAddress.Loopback], ["localhost"], TimeSpan.FromDays(1), DateTimeOffset.UtcNow, "127.0.0.1:1"))
        {
            Assert.False(await HandshakeAsync(ours.Members[0].RaftPort, ghost));
        }

        await ours.WaitForAsync(() => Task.FromResult(ours.Members[0].Output.Contains("raft 127.0.0.1:1 is not in this cluster's configuration", StringComparison.Ordinal)), "the member to log the peer outside its configuration");

        // The root is public: GET /v1/pki/root, its fingerprint what zc.ca= pins.
        using var http = ours.Trust!.Client(TimeSpan.FromSeconds(5));
        var pem = await http.GetStringAsync(new Uri(new Uri(ours.Members[1].Api), "/v1/pki/root"));
        Assert.Equal(ours.Trust.Fingerprint, ClusterPki.Fingerprint(X509Certificate2.CreateFromPem(pem)));

        // A removed member keeps a valid certificate, but the remaining member no longer talks Raft with it.
        var leader = (await ours.Members[0].Client.MembersAsync()).Members.Single(m => m.Leader);
        var (keep, removed) = leader.Id == ours.Members[0].RaftId ? (ours.Members[0], ours.Members[1]) : (ours.Members[1], ours.Members[0]);
        await keep.Client.RemoveMemberAsync(removed.RaftId);
        Assert.False(await HandshakeAsync(keep.RaftPort, removed));
        // Nor does its API take the removed member's certificate as a member's.
        using var removedCertificate = X509Certificate2.CreateFromPemFile(Path.Combine(removed.DataDirectory, "pki", "member.crt"), Path.Combine(removed.DataDirectory, "pki", "member.key"));
        using var asRemoved = new ControlClient(new Uri(keep.Api), ours.Trust.Client(TimeSpan.FromSeconds(5), () => removedCertificate));
        var refusedMember = await Assert.ThrowsAsync<ControlApiException>(() => asRemoved.MembersAsync());
        Assert.Equal(401, refusedMember.Status);
        Assert.Contains("is not in this cluster's configuration", refusedMember.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Silos_talk_mutual_tls_and_refuse_a_silo_of_another_cluster()
    {
        await using var ours = await ControlCluster.StartWithSilosAsync(2);
        await using var theirs = await ControlCluster.StartAsync(1);
        await ours.WaitForActiveSilosAsync(2, ours.Members[0], "two silos over TLS");

        Assert.False(await HandshakeAsync(ours.Members[0].SiloPort, theirs.Members[0]));
        Assert.True(await HandshakeAsync(ours.Members[0].SiloPort, ours.Members[1]));
    }

    [Fact]
    public async Task An_agent_refuses_a_control_plane_of_another_cluster_and_never_sends_it_its_credential()
    {
        await using var ours = await ControlCluster.StartAsync(1);
        await using var theirs = await ControlCluster.StartAsync(1);
        var token = await ours.JoinTokenAsync();
        var data = Directory.CreateTempSubdirectory("zc-lost-").FullName;

        // Given our root as a file, pointed at their member (a rogue DHCP server's zc.control=, say).
        var byFile = await RunForAsync(TimeSpan.FromSeconds(6), "--control", theirs.Members[0].Api, "--ca-file", ours.CaFile!, "--name", "lost-1", "--token", token, "--data", data);
        // Given our root's fingerprint on the kernel command line, as a booted node is: their root does not match it.
        var cmdline = Path.Combine(data, "cmdline");
        await File.WriteAllTextAsync(cmdline, $"zc.control={theirs.Members[0].Api} zc.ca={ours.Trust!.Fingerprint} zc.ticket=525400000077.{new string('a', 32)} zc.name=lost-2 zc.mac=52:54:00:00:00:77");
        var byPin = await RunForAsync(TimeSpan.FromSeconds(6), "--cmdline", cmdline, "--data", data);

        Assert.True(byFile.Contains($"refused the control plane at {theirs.Members[0].Api}/: its TLS certificate is not one of this cluster's", StringComparison.Ordinal), byFile);
        Assert.Contains($"no control-plane member served the cluster root {ours.Trust.Fingerprint[..16]}", byPin, StringComparison.Ordinal);
        // Their member never saw a heartbeat, let alone our token: no node, nothing refused in its audit log or its log.
        Assert.Empty((await theirs.Members[0].Client.NodesAsync()).Nodes);
        Assert.DoesNotContain((await theirs.Members[0].Client.AuditAsync(1000)).Entries, e => e.Subject is "lost-1" or "lost-2");
        Assert.DoesNotContain("lost-", theirs.Members[0].Output, StringComparison.Ordinal);
        Assert.DoesNotContain(token[(token.IndexOf('.', StringComparison.Ordinal) + 1)..], theirs.Members[0].Output, StringComparison.Ordinal);
    }

    /// <summary>Runs zc-node with <paramref name="args"/> for <paramref name="time"/>, then stops it; its output.</summary>
    private static async Task<string> RunForAsync(TimeSpan time, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])[ZeroCloud.TestSupport.NetnsLab.ServiceBinary("ZeroCloud.Node", "zc-node.dll", "node"), .. args])
        {
            psi.ArgumentList.Add(a);
        }

        using var agent = System.Diagnostics.Process.Start(psi)!;
        var stdout = agent.StandardOutput.ReadToEndAsync();
        var stderr = agent.StandardError.ReadToEndAsync();
        using (var wait = new CancellationTokenSource(time))
        {
            try
            {
                await agent.WaitForExitAsync(wait.Token);
            }
            catch (OperationCanceledException)
            {
                agent.Kill(entireProcessTree: true);
            }
        }

        await agent.WaitForExitAsync();
        return await stdout + await stderr;
    }

    /// <summary>Whether a TLS handshake with a member's <paramref name="port"/> (Raft or silo) completes when presenting <paramref name="as"/>'s member certificate.</summary>
    private static async Task<bool> HandshakeAsync(int port, ControlMember @as)
    {
        using var certificate = X509Certificate2.CreateFromPemFile(Path.Combine(@as.DataDirectory, "pki", "member.crt"), Path.Combine(@as.DataDirectory, "pki", "member.key"));
        return await HandshakeAsync(port, certificate);
    }

    private static async Task<bool> HandshakeAsync(int port, X509Certificate2 certificate)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(System.Net.IPAddress.Loopback, port);
        // This side does not judge the member's certificate: the test is whether the member accepts ours.
#pragma warning disable CA5359
        using var ssl = new System.Net.Security.SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
#pragma warning restore CA5359
        try
        {
            await ssl.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
            {
                TargetHost = "",
                ClientCertificates = [certificate],
                EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls13,
            });

            // TLS 1.3 sends the client's certificate after the server's Finished: a refusal shows on the first read.
            var buffer = new byte[1];
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            try
            {
                // 0: the member closed the connection, refusing us.
                return await ssl.ReadAsync(buffer, wait.Token) != 0;
            }
            catch (OperationCanceledException)
            {
                return true;
            }
        }
        catch (Exception ex) when (ex is System.Security.Authentication.AuthenticationException or IOException)
        {
            return false;
        }
    }
}
