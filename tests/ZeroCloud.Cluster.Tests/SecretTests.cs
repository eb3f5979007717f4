using System.Text;
using System.Text.Json;
using ZeroCloud.Cluster.Api;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Cluster.Tests;

/// <summary>
/// Secrets as an operator and a service use them: sealed before they reach the log (no value in any file of any
/// member), opened by any member, readable by the admin and the nodes of the services named, never by a read-only
/// operator or another node; a record altered or moved does not open; set and removal audited without the value.
/// </summary>
[Collection("control")]
[Trait("Category", "Lab")]
public class SecretTests
{
    [Fact]
    public async Task Secrets_are_sealed_at_rest_opened_by_any_member_and_read_only_by_the_admin_and_their_readers()
    {
        await using var cluster = await ControlCluster.StartAsync(2);
        var admin = cluster.Members[0].Client;
        var value = Encoding.UTF8.GetBytes("ipmi-password-" + Guid.NewGuid().ToString("N"));

        var made = await admin.SetSecretAsync("bmc-rack1", value, ["power"]);
        Assert.Equal(("bmc-rack1", value.Length), (made.Name, made.Size));
        Assert.Equal(["power"], made.Readers);
        // The other member opens it with its own copy of the CA's key (it received the CA when it joined).
        Assert.Equal(value, await cluster.Members[1].Client.SecretAsync("bmc-rack1"));

        // Nothing on disk holds the value: not the WAL, not a snapshot, not the audit log, on either member.
        var stored = (await admin.GetAsync(StoreKeys.SecretOf("bmc-rack1")))!.Value;
        Assert.DoesNotContain(Encoding.UTF8.GetString(value), stored, StringComparison.Ordinal);
        foreach (var member in cluster.Members)
        {
            foreach (var path in Directory.EnumerateFiles(member.DataDirectory, "*", SearchOption.AllDirectories))
            {
                var bytes = await File.ReadAllBytesAsync(path);
                Assert.True(bytes.AsSpan().IndexOf(value) < 0, $"{path} holds the secret's value");
            }
        }

        // A read-only operator lists it (no value) but cannot read it, raw or through the route.
        var viewer = await admin.CreateOperatorAsync(Roles.ReadOnly);
        using var readOnly = new ControlClient(new Uri(cluster.Members[0].Api), cluster.Members[0].Http) { Token = viewer.Credential };
        Assert.Equal(["bmc-rack1"], (await readOnly.SecretsAsync()).Secrets.Select(s => s.Name));
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => readOnly.SecretAsync("bmc-rack1"))).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => readOnly.GetAsync(StoreKeys.SecretOf("bmc-rack1")))).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => readOnly.SetSecretAsync("bmc-rack1", [1]))).Status);
        // Not even whether a name exists.
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => readOnly.SecretAsync("no-such"))).Status);

        // A node that runs a reader service reads it; a node that runs something else does not.
        var power = await NodeAsync(cluster, admin, "n1", "power-0");
        var web = await NodeAsync(cluster, admin, "n2", "web-0");
        Assert.Equal(value, await power.SecretAsync("bmc-rack1"));
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => web.SecretAsync("bmc-rack1"))).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<ControlApiException>(() => power.RemoveSecretAsync("bmc-rack1"))).Status);

        // A sealed record moved to another name is refused at the door (its name is inside it), and one whose
        // bytes were altered does not open: the reader gets the reason, never wrong bytes.
        var moved = await Assert.ThrowsAsync<ControlApiException>(() => admin.PutAsync(StoreKeys.SecretOf("copy"), stored));
        Assert.Contains("the record is secret \"bmc-rack1\", the key \"copy\"", moved.Message, StringComparison.Ordinal);
        var record = JsonSerializer.Deserialize(stored, ControlJsonContext.Default.SecretDto)!;
        var flipped = Convert.FromBase64String(record.Ciphertext);
        flipped[0] ^= 1;
        await admin.PutAsync(StoreKeys.SecretOf("bmc-rack1"), JsonSerializer.Serialize(record with { Ciphertext = Convert.ToBase64String(flipped) }, ControlJsonContext.Default.SecretDto));
        var altered = await Assert.ThrowsAsync<ControlApiException>(() => power.SecretAsync("bmc-rack1"));
        Assert.Equal(ErrorCodes.SecretUnreadable, altered.Code);
        Assert.Contains("altered", altered.Message, StringComparison.Ordinal);

        // The CLI: the value from a file (never argv), listed without it, removed; the audit log has no value.
        var file = Path.Combine(cluster.Members[0].DataDirectory, "..", "bmc-rack2.txt");
        await File.WriteAllBytesAsync(file, value);
        var (code, output) = await ControlCluster.RunDllAsync(ControlCluster.ZcDll, cluster.CredentialsFile, "secret", "set", "bmc-rack2", "--from-file", file, "--reader", "power");
        Assert.True(code == 0, output);
        Assert.Contains($"secret bmc-rack2 set ({value.Length} bytes; readable by the admin, service power)", output, StringComparison.Ordinal);
        (code, output) = await ControlCluster.RunDllAsync(ControlCluster.ZcDll, cluster.CredentialsFile, "secret", "ls");
        Assert.True(code == 0 && output.Contains("bmc-rack2", StringComparison.Ordinal), output);
        Assert.DoesNotContain(Encoding.UTF8.GetString(value), output, StringComparison.Ordinal);
        Assert.Equal(value, await power.SecretAsync("bmc-rack2"));
        (code, output) = await ControlCluster.RunDllAsync(ControlCluster.ZcDll, cluster.CredentialsFile, "secret", "rm", "bmc-rack2");
        Assert.True(code == 0, output);
        Assert.Equal(404, (await Assert.ThrowsAsync<ControlApiException>(() => admin.SecretAsync("bmc-rack2"))).Status);
        var audit = (await admin.AuditAsync(1000)).Entries;
        Assert.Contains(audit, e => e.Action == Audit.SecretSet && e.Subject == "bmc-rack2");
        Assert.Contains(audit, e => e.Action == Audit.SecretRemoved && e.Subject == "bmc-rack2");
        Assert.DoesNotContain(Encoding.UTF8.GetString(value), JsonSerializer.Serialize(audit.ToList()), StringComparison.Ordinal);
    }

    /// <summary>A node with a key (as a join makes it) and one placement, and a client speaking as it.</summary>
    private static async Task<ControlClient> NodeAsync(ControlCluster cluster, ControlClient admin, string node, string instance)
    {
        var secret = ControlApi.NewSecret();
        await admin.PutAsync(StoreKeys.NodeKey(node), JsonSerializer.Serialize(new NodeKeyDto(node, ControlApi.Hash(secret), DateTime.UtcNow), ControlJsonContext.Default.NodeKeyDto));
        await admin.PutAsync(StoreKeys.Instance(node, instance), JsonSerializer.Serialize(new InstanceDto(instance, instance.Split('-')[0], node, "builtin/hello", 100, 1 << 20, 1), ControlJsonContext.Default.InstanceDto));
        return new ControlClient(new Uri(cluster.Members[0].Api), cluster.Members[0].Http) { Token = $"node:{node}.{secret}" };
    }
}
