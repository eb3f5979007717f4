using System.Security.Cryptography.X509Certificates;
using System.Text;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Pki;

namespace ZeroCloud.Cluster.Tests;

/// <summary>
/// Node certificates: the join signs the node's CSR (its key never leaves it), the node then speaks with its
/// certificate alone (mutual TLS, no bearer credential), for itself only; it renews at two thirds of its day by its own
/// clock (a fake one here), over mutual TLS with the certificate it has; removing its key record revokes it; a node
/// certificate of another cluster fails the handshake.
/// </summary>
[Collection("control")]
[Trait("Category", "Lab")]
public class NodeCertificateTests
{
    private const string Spec = """
        apiVersion: zerocloud.io/v1
        kind: Cluster
        metadata: { name: certs }
        spec:
          network: { subnet: 10.0.0.0/24, gateway: 10.0.0.1 }
          nodes: { heartbeat: 400ms, downAfter: 30s }
        """;

    private sealed class Clock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public async Task A_node_joins_with_a_csr_speaks_with_its_certificate_alone_and_renews_it_at_two_thirds_of_its_life()
    {
        await using var cluster = await ControlCluster.StartWithSilosAsync(2);
        var admin = cluster.Members[0].Client;
        await cluster.WaitForActiveSilosAsync(2, cluster.Members[0]);
        await admin.ApplyAsync(Encoding.UTF8.GetBytes(Spec), "certs.yaml");
        var start = DateTimeOffset.UtcNow;
        var clock = new Clock(start);
        using var certificate = new NodeCertificate("n1", clock);

        var joiner = ControlCluster.NodeClient(cluster.Members[0], await cluster.JoinTokenAsync());
        var joined = await joiner.HeartbeatAsync("n1", new HeartbeatRequest(2, 1L << 30, Csr: certificate.Request()));
        Assert.True(certificate.Accept(joined.Certificate!));
        var first = certificate.Current!;
        Assert.Equal(("node", "n1"), ClusterPki.IdentityOf(first));
        Assert.InRange(first.NotAfter.ToUniversalTime() - start.UtcDateTime, TimeSpan.FromHours(23.9), TimeSpan.FromHours(24.1));

        // With the certificate and no bearer credential it is node n1: it heartbeats and reads as n1, nothing more.
        using var http = cluster.Trust!.Client(TimeSpan.FromSeconds(10), () => certificate.Current);
        using var n1 = new ControlClient(new Uri(cluster.Members[0].Api), http);
        Assert.Equal(NodeStatus.Ready, (await n1.HeartbeatAsync("n1", new HeartbeatRequest(2, 1L << 30))).Status);
        Assert.Contains((await n1.NodesAsync()).Nodes, n => n.Name == "n1");
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => n1.TokensAsync())).Status);
        var other = await Assert.ThrowsAsync<ControlApiException>(() => n1.HeartbeatAsync("n2", new HeartbeatRequest(2, 1L << 30)));
        Assert.Contains("the certificate of node n1 cannot speak for node n2", other.Message, StringComparison.Ordinal);

        // A write through a follower is forwarded to the leader, which learns the node from the follower's member
        // certificate and the name it vouches for; a node cannot vouch for another node that way.
        var leader = (await admin.MembersAsync()).Members.Single(m => m.Leader).Api;
        var follower = cluster.Members.First(m => m.Api.TrimEnd('/') != leader?.TrimEnd('/'));
        using (var viaFollower = new ControlClient(new Uri(follower.Api), http))
        {
            var state = System.Text.Json.JsonSerializer.Serialize(new InstanceStateDto("web-0", "n1", InstanceState.Running, true, 0, DateTime.UtcNow), ControlJsonContext.Default.InstanceStateDto);
            await viaFollower.PutAsync(StoreKeys.InstanceState("n1", "web-0"), state);
            Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => viaFollower.PutAsync(StoreKeys.InstanceState("n2", "web-0"), state))).Status);
        }

        // A machine joining with its ticket through the follower: the follower's silo uses the ticket up and stores the
        // node's key in one transaction, which it sends to the leader as a member (its member certificate, no bearer):
        // a member may compare against a credential, as the ticket's compare-and-swap needs. At once: a follower that
        // does not have the ticket yet catches up with the leader before it refuses it.
        var ticket = (await joiner.CreateTicketAsync("52:54:00:00:00:99")).Ticket;
        var viaTicket = ControlCluster.NodeClient(follower, ticket);
        var machine = await viaTicket.HeartbeatAsync("node-525400000099", new HeartbeatRequest(2, 1L << 30, Mac: "52:54:00:00:00:99"));
        Assert.StartsWith("node:node-525400000099.", machine.Key, StringComparison.Ordinal);

        // A member's certificate is a member's identity (reads, member routes), not an admin's.
        using (var asMember = cluster.Trust.Client(TimeSpan.FromSeconds(10), () => X509Certificate2.CreateFromPemFile(Path.Combine(follower.DataDirectory, "pki", "member.crt"), Path.Combine(follower.DataDirectory, "pki", "member.key"))))
        {
            using var member = new ControlClient(new Uri(cluster.Members[0].Api), asMember);
            Assert.NotEmpty((await member.MembersAsync()).Members);
            Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => member.TokensAsync())).Status);
        }

        using (var spoof = new HttpRequestMessage(HttpMethod.Post, new Uri(new Uri(cluster.Members[0].Api), "/v1/nodes/n2/heartbeat")))
        {
            spoof.Headers.Add("X-ZC-Forwarded-Node", "n2");
            spoof.Content = new StringContent("{\"cpus\":2,\"memoryBytes\":1073741824}", Encoding.UTF8, "application/json");
            using var answer = await http.SendAsync(spoof);
            Assert.Equal(401, (int)answer.StatusCode);
            Assert.Contains("the certificate of node n1 cannot speak for node n2", await answer.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // Renewal by the node's clock: not at 15 h, at 16 h (two thirds of a day), over mutual TLS with the current one.
        async Task<string> SignAsync(string csr) => (await n1.RenewNodeCertificateAsync(csr)).Certificate;
        clock.Now = start + TimeSpan.FromHours(15);
        Assert.False(await certificate.RenewIfDueAsync(SignAsync));
        Assert.Same(first, certificate.Current);
        clock.Now = start + TimeSpan.FromHours(16.1);
        Assert.True(await certificate.RenewIfDueAsync(SignAsync));
        Assert.NotEqual(first.Thumbprint, certificate.Current!.Thumbprint);
        Assert.NotEqual(first.GetPublicKeyString(), certificate.Current.GetPublicKeyString());
        using (var fresh = cluster.Trust.Client(TimeSpan.FromSeconds(10), () => certificate.Current))
        {
            using var renewed = new ControlClient(new Uri(cluster.Members[0].Api), fresh);
            Assert.Equal(NodeStatus.Ready, (await renewed.HeartbeatAsync("n1", new HeartbeatRequest(2, 1L << 30))).Status);
        }

        // Not a node, no renewal.
        using var anonymous = new ControlClient(new Uri(cluster.Members[0].Api), cluster.Members[0].Http);
        Assert.Equal(401, (await Assert.ThrowsAsync<ControlApiException>(() => anonymous.RenewNodeCertificateAsync(certificate.Request()))).Status);

        // Revoked: without its key record the node's certificate is refused at once, on a new connection or an old one.
        await admin.DeleteAsync(StoreKeys.NodeKey("n1"));
        using (var afterRevoke = cluster.Trust.Client(TimeSpan.FromSeconds(10), () => certificate.Current))
        {
            using var revoked = new ControlClient(new Uri(cluster.Members[0].Api), afterRevoke);
            var refused = await Assert.ThrowsAsync<ControlApiException>(() => revoked.NodesAsync());
            Assert.Equal(401, refused.Status);
            Assert.Contains("revoked", refused.Message, StringComparison.Ordinal);
        }

        // A node certificate of another cluster fails the TLS handshake: nothing is answered.
        using var theirs = ClusterPki.Create("theirs", DateTimeOffset.UtcNow);
        using var foreign = theirs.IssueWithKey("node", "n1", [], [], ClusterPki.NodeLifetime, DateTimeOffset.UtcNow);
        using var foreignHttp = cluster.Trust.Client(TimeSpan.FromSeconds(10), () => foreign);
        using var impostor = new ControlClient(new Uri(cluster.Members[0].Api), foreignHttp);
        var handshake = await Assert.ThrowsAsync<ControlApiException>(() => impostor.NodesAsync());
        Assert.Equal(0, handshake.Status);
    }
}
