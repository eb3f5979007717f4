using System.CommandLine;
using System.Text.Json;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Cli;

/// <summary>Commands that talk to a running control plane: status, get, kv, watch, apply, members.</summary>
internal static partial class ClusterCommands
{
    private static Option<string> ServerOption() => new("--server", "-s")
    {
        Description = "A control-plane member's API URL (default: $ZC_SERVER, the credentials file's server, or https://127.0.0.1:7070).",
        DefaultValueFactory = _ => ControlClient.DefaultServer,
        HelpName = "url",
    };

    private static Option<bool> JsonOption() => new("--json") { Description = "Print the API's JSON." };

    public static IEnumerable<Command> Build()
    {
        yield return Status();
        yield return Get();
        yield return Kv();
        yield return Watch();
        yield return Apply();
        yield return Member();
        yield return Token();
        yield return Node();
        yield return AuditLog();
        yield return Operator();
        yield return Secret();
        yield return Power();
        yield return Storage();
        yield return BackupCommand();
        yield return RestoreCommand();
    }

    private static Command AuditLog()
    {
        var server = ServerOption();
        var json = JsonOption();
        var limit = new Option<int>("--limit", "-n") { Description = "How many of the newest entries.", DefaultValueFactory = _ => 100 };
        var command = new Command("audit", "The audit log: enrollments, approvals, refused joins, member and token changes (who, what, when).") { server, json, limit };
        command.SetAction((parse, ct) => RunAsync(parse, server, async (client, stdout) =>
        {
            var log = await client.AuditAsync(parse.GetValue(limit), ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                await stdout.WriteLineAsync(JsonSerializer.Serialize(log, ControlJsonContext.Default.AuditResponse)).ConfigureAwait(false);
                return ZcCommand.Ok;
            }

            await stdout.WriteLineAsync($"{"WHEN",-20} {"ACTION",-15} {"SUBJECT",-22} {"WHO",-40} DETAIL").ConfigureAwait(false);
            foreach (var e in log.Entries)
            {
                await stdout.WriteLineAsync($"{e.At.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture),-20} {e.Action,-15} {e.Subject,-22} {e.Who,-40} {e.Detail}").ConfigureAwait(false);
            }

            return ZcCommand.Ok;
        }));
        return command;
    }

    private static Command Node()
    {
        var node = new Command("node", "Nodes: approve one that waits under nodes.enroll: approve, or trust one that joined under enroll: auto.");
        var server = ServerOption();
        var name = new Argument<string>("name") { Description = "The pending node's name (zc get nodes lists it as Pending)." };
        var approve = new Command("approve", "Let a Pending node join (it becomes Ready with its next heartbeat); under enroll: auto, trust a running node with infrastructure (voters, dhcp, netboot).") { server, name };
        approve.SetAction((parse, ct) => RunAsync(parse, server, async (client, stdout) =>
        {
            var approved = await client.ApproveNodeAsync(parse.GetValue(name)!, ct).ConfigureAwait(false);
            await stdout.WriteLineAsync(approved.Status == NodeStatus.Pending
                ? $"node {approved.Name} approved; it joins with its next heartbeat"
                : $"node {approved.Name} approved; it may now run infrastructure (voters, dhcp, netboot)").ConfigureAwait(false);
            return ZcCommand.Ok;
        }));
        node.Subcommands.Add(approve);
        return node;
    }

    private static Command Status()
    {
        var server = ServerOption();
        var json = JsonOption();
        var command = new Command("status", "Show the control plane: leader, term, commit index, revision and each member's health.") { server, json };
        command.SetAction((parse, ct) => RunAsync(parse, server, async (client, stdout) =>
        {
            var status = await client.StatusAsync(ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                await stdout.WriteLineAsync(JsonSerializer.Serialize(status, ControlJsonContext.Default.StatusResponse)).ConfigureAwait(false);
                return ZcCommand.Ok;
            }

            await stdout.WriteLineAsync($"member     {status.Id}{(status.Name is null ? "" : $" ({status.Name})")}, {status.Role}").ConfigureAwait(false);
            await stdout.WriteLineAsync($"leader     {status.Leader ?? "none"}").ConfigureAwait(false);
            await stdout.WriteLineAsync($"term       {status.Term}").ConfigureAwait(false);
            await stdout.WriteLineAsync($"commit     {status.CommitIndex} (last {status.LastIndex}, snapshot {status.SnapshotIndex})").ConfigureAwait(false);
            await stdout.WriteLineAsync($"revision   {status.Revision} (history from {status.CompactedRevision + 1}), {status.Keys} keys").ConfigureAwait(false);
            await stdout.WriteLineAsync().ConfigureAwait(false);
            await PrintMembersAsync(stdout, status.Members).ConfigureAwait(false);
            if (status.Silos is { Count: > 0 } silos)
            {
                await stdout.WriteLineAsync().ConfigureAwait(false);
                await stdout.WriteLineAsync($"{"SILO",-28} {"NAME",-12} {"STATUS",-14} I-AM-ALIVE").ConfigureAwait(false);
                foreach (var s in silos)
                {
                    await stdout.WriteLineAsync($"{s.Address,-28} {s.Name ?? "-",-12} {s.Status,-14} {s.IAmAlive:HH:mm:ss}").ConfigureAwait(false);
                }
            }

            return ZcCommand.Ok;
        }));
        return command;
    }

    private static Command Get()
    {
        var get = new Command("get", "List objects of the running cluster.");
        var server = ServerOption();
        var json = JsonOption();
        var members = new Command("members", "The control plane's Raft members and their health.") { server, json };
        members.SetAction((parse, ct) => RunAsync(parse, server, async (client, stdout) =>
        {
            var response = await client.MembersAsync(ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                await stdout.WriteLineAsync(JsonSerializer.Serialize(response, ControlJsonContext.Default.MembersResponse)).ConfigureAwait(false);
            }
            else
            {
                await PrintMembersAsync(stdout, response.Members).ConfigureAwait(false);
            }

            return ZcCommand.Ok;
        }));
        get.Subcommands.Add(members);
        get.Subcommands.Add(GetList("nodes", "Machines: status, since when, CPUs, memory, address, labels.", async (client, stdout, asJson, ct) =>
        {
            var r = await client.NodesAsync(ct).ConfigureAwait(false);
            if (asJson)
            {
                await stdout.WriteLineAsync(JsonSerializer.Serialize(r, ControlJsonContext.Default.NodesResponse)).ConfigureAwait(false);
                return;
            }

            await stdout.WriteLineAsync($"{"NAME",-20} {"STATUS",-8} {"SINCE",-9} {"CPUS",4} {"MEMORY",9} {"ADDRESS",-15} {"DISK",-8} {"VMS",-4} LABELS").ConfigureAwait(false);
            foreach (var n in r.Nodes)
            {
                // The data disk's device; without one, where the data is: ram (lost at a reboot) or host (a host's filesystem).
                var disk = n.Disk is null ? "-" : !n.Disk.StartsWith("none", StringComparison.Ordinal) ? n.Disk.Split(':')[0] : n.Persistent == false ? "ram" : "host";
                // How its VMs run: kvm, tcg (emulated), or - (it runs none).
                var vms = n.Runtimes?.Contains("vm") == true ? n.Accelerator ?? "yes" : "-";
                var labels = n.Labels is { Count: > 0 } l ? string.Join(",", l.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}")) : "-";
                await stdout.WriteLineAsync($"{n.Name,-20} {n.Status,-8} {n.Since.ToLocalTime():HH:mm:ss}  {n.Cpus,4} {n.MemoryBytes >> 20,7}Mi {n.Address ?? "-",-15} {disk,-8} {vms,-4} {labels}").ConfigureAwait(false);
            }
        }));
        get.Subcommands.Add(GetList("instances", "Placed instances: service, node, and the state their node reported.", async (client, stdout, asJson, ct) =>
        {
            var r = await client.InstancesAsync(null, ct).ConfigureAwait(false);
            if (asJson)
            {
                await stdout.WriteLineAsync(JsonSerializer.Serialize(r, ControlJsonContext.Default.InstancesResponse)).ConfigureAwait(false);
                return;
            }

            await stdout.WriteLineAsync($"{"ID",-20} {"SERVICE",-14} {"NODE",-20} {"STATE",-9} {"HEALTHY",-7} RESTARTS").ConfigureAwait(false);
            foreach (var v in r.Instances.OrderBy(v => v.Instance.Service, StringComparer.Ordinal).ThenBy(v => v.Instance.Id, StringComparer.Ordinal))
            {
                var st = v.State;
                await stdout.WriteLineAsync($"{v.Instance.Id,-20} {v.Instance.Service,-14} {v.Instance.Node,-20} {st?.State ?? InstanceState.Pending,-9} {(st is null ? "-" : st.Healthy ? "yes" : "no"),-7} {st?.Restarts ?? 0}").ConfigureAwait(false);
            }
        }));
        get.Subcommands.Add(GetList("services", "Services of the applied cluster.yaml: replicas wanted, placed, running, healthy.", async (client, stdout, asJson, ct) =>
        {
            var r = await client.ServicesAsync(ct).ConfigureAwait(false);
            if (asJson)
            {
                await stdout.WriteLineAsync(JsonSerializer.Serialize(r, ControlJsonContext.Default.ServicesResponse)).ConfigureAwait(false);
                return;
            }

            if (r.SpecRevision == 0)
            {
                await stdout.WriteLineAsync("no cluster.yaml applied yet (zc apply -f cluster.yaml)").ConfigureAwait(false);
                return;
            }

            await stdout.WriteLineAsync($"{"NAME",-14} {"IMAGE",-20} {"WANTED",6} {"PLACED",6} {"RUNNING",7} {"HEALTHY",7}").ConfigureAwait(false);
            foreach (var s in r.Services)
            {
                await stdout.WriteLineAsync($"{s.Name,-14} {s.Image,-20} {s.Desired,6} {s.Placed,6} {s.Running,7} {s.Healthy,7}").ConfigureAwait(false);
            }

            foreach (var u in r.Scheduler?.Unplaced ?? [])
            {
                await stdout.WriteLineAsync($"unplaced: {u}").ConfigureAwait(false);
            }
        }));
        get.Subcommands.Add(GetList("tokens", "Join tokens: nodes send one with their heartbeats (zc-node --token).", async (client, stdout, asJson, ct) =>
        {
            var r = await client.TokensAsync(ct).ConfigureAwait(false);
            if (asJson)
            {
                await stdout.WriteLineAsync(JsonSerializer.Serialize(r, ControlJsonContext.Default.TokensResponse)).ConfigureAwait(false);
                return;
            }

            await stdout.WriteLineAsync($"{"TOKEN",-24} {"CREATED",-20} {"EXPIRES",-20} DESCRIPTION").ConfigureAwait(false);
            foreach (var t in r.Tokens)
            {
                await stdout.WriteLineAsync($"{t.Id + "." + t.Secret,-24} {t.Created:yyyy-MM-dd HH:mm:ss}  {(t.Expires is { } e ? e.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) : "never"),-20} {t.Description ?? ""}").ConfigureAwait(false);
            }
        }));
        return get;
    }

    private static Command Token()
    {
        var token = new Command("token", "Join tokens.");
        var server = ServerOption();
        var ttl = new Option<string?>("--ttl") { Description = "How long it is valid (a duration such as 24h or 30m; default: until deleted).", HelpName = "duration" };
        var description = new Option<string?>("--description") { Description = "What it is for." };
        var create = new Command("create", "Make a new join token and print it.") { server, ttl, description };
        create.SetAction((parse, ct) => RunAsync(parse, server, async (client, stdout) =>
        {
            if (!TryTtl(parse.GetValue(ttl), parse.InvocationConfiguration.Error, out var validFor))
            {
                return ZcCommand.UsageError;
            }

            var t = await client.CreateTokenAsync(parse.GetValue(description), validFor, ct).ConfigureAwait(false);
            await stdout.WriteLineAsync($"{t.Id}.{t.Secret}").ConfigureAwait(false);
            return ZcCommand.Ok;
        }));
        token.Subcommands.Add(create);
        return token;
    }

    /// <summary>--ttl as a positive duration (null when not given); false, with the problem written, when it is not one.</summary>
    private static bool TryTtl(string? text, TextWriter stderr, out TimeSpan? ttl)
    {
        ttl = null;
        if (text is null)
        {
            return true;
        }

        if (!ZeroCloud.Model.Config.Durations.TryParse(text, out var d) || d <= TimeSpan.Zero)
        {
            stderr.WriteLine($"zc: --ttl: \"{text}\" is not a duration (such as 30m, 24h)");
            return false;
        }

        ttl = d;
        return true;
    }

    private static Command Operator()
    {
        var command = new Command("operator", "Operator credentials: admin (everything) or read-only (every read but credentials).");
        var server = ServerOption();
        var role = new Option<string>("--role") { Description = "admin or read-only.", DefaultValueFactory = _ => Roles.ReadOnly, HelpName = "role" };
        var ttl = new Option<string?>("--ttl") { Description = "How long it is valid (a duration such as 1h or 30d; default: 1h).", HelpName = "duration" };
        var description = new Option<string?>("--description") { Description = "Who or what it is for." };
        var output = new Option<string?>("--output", "-o") { Description = "Write a credentials file (0600) there instead of printing the credential.", HelpName = "file" };
        var create = new Command("create", "Make an operator credential; it is shown once.") { server, role, ttl, description, output };
        create.SetAction((parse, ct) => RunAsync(parse, server, async (client, stdout) =>
        {
            if (!TryTtl(parse.GetValue(ttl), parse.InvocationConfiguration.Error, out var validFor))
            {
                return ZcCommand.UsageError;
            }

            if (!Roles.IsOperatorRole(parse.GetValue(role)))
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync($"zc: --role: \"{parse.GetValue(role)}\" is not admin or read-only").ConfigureAwait(false);
                return ZcCommand.UsageError;
            }

            var made = await client.CreateOperatorAsync(parse.GetValue(role)!, validFor, parse.GetValue(description), ct).ConfigureAwait(false);
            if (parse.GetValue(output) is { } file)
            {
                var ca = Environment.GetEnvironmentVariable("ZC_CREDENTIALS") is { Length: > 0 } mine ? CredentialsFile.Read(mine, out _)?.Ca : null;
                new CredentialsFile("zerocloud", client.Server.ToString().TrimEnd('/'), made.Credential, made.Role, ca).Write(file);
                await stdout.WriteLineAsync($"{made.Role} credential {made.Id} (expires {made.Expires:u}) written to {file}").ConfigureAwait(false);
            }
            else
            {
                await stdout.WriteLineAsync(made.Credential).ConfigureAwait(false);
            }

            return ZcCommand.Ok;
        }));
        var json = JsonOption();
        var list = new Command("ls", "List operator credentials (never their secrets).") { server, json };
        list.SetAction((parse, ct) => RunAsync(parse, server, async (client, stdout) =>
        {
            var r = await client.OperatorsAsync(ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                await stdout.WriteLineAsync(JsonSerializer.Serialize(r, ControlJsonContext.Default.OperatorsResponse)).ConfigureAwait(false);
                return ZcCommand.Ok;
            }

            await stdout.WriteLineAsync($"{"ID",-10} {"ROLE",-10} {"CREATED",-20} {"EXPIRES",-20} DESCRIPTION").ConfigureAwait(false);
            foreach (var o in r.Operators)
            {
                await stdout.WriteLineAsync($"{o.Id,-10} {o.Role,-10} {o.Created:yyyy-MM-dd HH:mm:ss}  {(o.Expires is { } e ? e.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) : "never"),-20} {o.Description ?? ""}").ConfigureAwait(false);
            }

            return ZcCommand.Ok;
        }));
        var id = new Argument<string>("id") { Description = "The credential's id (zc operator ls)." };
        var revokeServer = ServerOption();
        var revoke = new Command("revoke", "Revoke an operator credential at once.") { revokeServer, id };
        revoke.SetAction((parse, ct) => RunAsync(parse, revokeServer, async (client, stdout) =>
        {
            await client.RevokeOperatorAsync(parse.GetValue(id)!, ct).ConfigureAwait(false);
            await stdout.WriteLineAsync($"operator credential {parse.GetValue(id)} revoked").ConfigureAwait(false);
            return ZcCommand.Ok;
        }));
        command.Subcommands.Add(create);
        command.Subcommands.Add(list);
        command.Subcommands.Add(revoke);
        return command;
    }

    private static Command GetList(string name, string description, Func<ControlClient, TextWriter, bool, CancellationToken, Task> print)
    {
        var server = ServerOption();
        var json = JsonOption();
        var command = new Command(name, description) { server, json };
        command.SetAction((parse, ct) => RunAsync(parse, server, async (client, stdout) =>
        {
            await print(client, stdout, parse.GetValue(json), ct).ConfigureAwait(false);
            return ZcCommand.Ok;
        }));
        return command;
    }

    private static Command Member()
    {
        var member = new Command("member", "Change the control plane's membership (one change at a time, through the leader).");
        var server = ServerOption();
        var address = new Argument<string>("raft-address") { Description = "The member's Raft address (ip:port)." };
        var add = new Command("add", "Add a fresh member (started without --bootstrap) by its Raft address.") { server, address };
        add.SetAction((parse, ct) => RunAsync(parse, server, async (client, stdout) =>
        {
            var response = await client.AddMemberAsync(parse.GetValue(address)!, ct).ConfigureAwait(false);
            await PrintMembersAsync(stdout, response.Members).ConfigureAwait(false);
            return ZcCommand.Ok;
        }));
        var id = new Argument<string>("member") { Description = "The member's Raft address or name." };
        var server2 = ServerOption();
        var remove = new Command("remove", "Remove a member (a dead one included).") { server2, id };
        remove.SetAction((parse, ct) => RunAsync(parse, server2, async (client, stdout) =>
        {
            var response = await client.RemoveMemberAsync(parse.GetValue(id)!, ct).ConfigureAwait(false);
            await PrintMembersAsync(stdout, response.Members).ConfigureAwait(false);
            return ZcCommand.Ok;
        }));
        member.Subcommands.Add(add);
        member.Subcommands.Add(remove);
        return member;
    }

    private static Command Kv()
    {
        var kv = new Command("kv", "Read and write the control plane's key/value store (keys start with /).");

        var server = ServerOption();
        var key = new Argument<string>("key");
        var prefix = new Option<bool>("--prefix") { Description = "Every key that starts with the given one." };
        var stale = new Option<bool>("--stale") { Description = "Read this member's copy without asking the leader." };
        var get = new Command("get", "Print a key's value, or keys and values under a prefix.") { server, key, prefix, stale };
        get.SetAction((parse, ct) => RunAsync(parse, server, async (client, stdout) =>
        {
            var k = parse.GetValue(key)!;
            if (parse.GetValue(prefix))
            {
                var range = await client.RangeAsync(k, parse.GetValue(stale), 0, ct).ConfigureAwait(false);
                foreach (var item in range.Kvs)
                {
                    await stdout.WriteLineAsync($"{item.Key}\t{item.Value}").ConfigureAwait(false);
                }

                return ZcCommand.Ok;
            }

            if (await client.GetAsync(k, parse.GetValue(stale), ct).ConfigureAwait(false) is not { } found)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync($"zc: no key {k}").ConfigureAwait(false);
                return ZcCommand.Failed;
            }

            await stdout.WriteLineAsync(found.Value).ConfigureAwait(false);
            return ZcCommand.Ok;
        }));

        var server2 = ServerOption();
        var key2 = new Argument<string>("key");
        var value = new Argument<string>("value");
        var put = new Command("put", "Set a key (committed on a majority before it returns).") { server2, key2, value };
        put.SetAction((parse, ct) => RunAsync(parse, server2, async (client, stdout) =>
        {
            var result = await client.PutAsync(parse.GetValue(key2)!, parse.GetValue(value)!, null, ct).ConfigureAwait(false);
            await stdout.WriteLineAsync($"revision {result.Revision}").ConfigureAwait(false);
            return ZcCommand.Ok;
        }));

        var server3 = ServerOption();
        var key3 = new Argument<string>("key");
        var prefix3 = new Option<bool>("--prefix") { Description = "Delete every key that starts with the given one." };
        var del = new Command("del", "Delete a key, or every key under a prefix.") { server3, key3, prefix3 };
        del.SetAction((parse, ct) => RunAsync(parse, server3, async (client, stdout) =>
        {
            var result = await client.DeleteAsync(parse.GetValue(key3)!, parse.GetValue(prefix3), ct).ConfigureAwait(false);
            await stdout.WriteLineAsync($"deleted {result.Changed} at revision {result.Revision}").ConfigureAwait(false);
            return ZcCommand.Ok;
        }));

        kv.Subcommands.Add(get);
        kv.Subcommands.Add(put);
        kv.Subcommands.Add(del);
        return kv;
    }

    private static Command Watch()
    {
        var server = ServerOption();
        var prefix = new Argument<string>("prefix") { Description = "Watch keys that start with this (/ for all).", DefaultValueFactory = _ => "/" };
        var from = new Option<long>("--from") { Description = "Start at this revision (default: changes from now on).", HelpName = "revision" };
        var command = new Command("watch", "Print changes as they are committed, one JSON line each, until Ctrl-C.") { server, prefix, from };
        command.SetAction((parse, ct) => RunAsync(parse, server, async (client, stdout) =>
        {
            try
            {
                await foreach (var e in client.WatchAsync(parse.GetValue(prefix)!, parse.GetValue(from), ct).ConfigureAwait(false))
                {
                    await stdout.WriteLineAsync(JsonSerializer.Serialize(e, ControlJsonContext.Default.EventDto)).ConfigureAwait(false);
                    await stdout.FlushAsync(ct).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return ZcCommand.Ok;
            }

            return ZcCommand.Ok;
        }));
        return command;
    }

    private static Command Apply()
    {
        var server = ServerOption();
        var file = new Option<string>("--file", "-f") { Description = "The cluster.yaml to apply.", DefaultValueFactory = _ => "cluster.yaml", HelpName = "path" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Show what would change, apply nothing." };
        var command = new Command("apply", "Validate a cluster.yaml and make it the cluster's desired state; shows what changes.") { server, file, dryRun };
        command.SetAction((parse, ct) => RunAsync(parse, server, async (client, stdout) =>
        {
            var path = parse.GetValue(file)!;
            byte[] yaml;
            try
            {
                yaml = await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync($"zc: cannot read {path}: {ex.Message}").ConfigureAwait(false);
                return ZcCommand.UsageError;
            }

            // The diff against what is applied now, from this side: the server validates again and has the last word.
            var mine = ZeroCloud.Model.Config.ClusterConfigLoader.Load(yaml, path);
            if (mine.IsValid)
            {
                var current = await client.GetAsync(StoreKeys.Spec, ct: ct).ConfigureAwait(false);
                var before = current is null ? null : ZeroCloud.Model.Config.ClusterConfigLoader.Load(System.Text.Encoding.UTF8.GetBytes(current.Value), StoreKeys.Spec).Config;
                var changes = ZeroCloud.Model.Config.SpecDiff.Describe(before, mine.Config!);
                foreach (var line in changes)
                {
                    await stdout.WriteLineAsync(line).ConfigureAwait(false);
                }

                if (parse.GetValue(dryRun))
                {
                    await stdout.WriteLineAsync(changes.Count == 0 ? $"{path}: no changes (dry run)" : $"{path}: {changes.Count} change{(changes.Count == 1 ? "" : "s")}; nothing applied (dry run)").ConfigureAwait(false);
                    return ZcCommand.Ok;
                }
            }
            else if (parse.GetValue(dryRun))
            {
                foreach (var d in mine.Diagnostics)
                {
                    await parse.InvocationConfiguration.Error.WriteLineAsync(d.ToString()).ConfigureAwait(false);
                }

                return 1;
            }

            var result = await client.ApplyAsync(yaml, path, ct).ConfigureAwait(false);
            await stdout.WriteLineAsync(result.Changed
                ? $"{path}: applied cluster {result.Cluster} ({result.Services} service{(result.Services == 1 ? "" : "s")}, {result.Nodes} known node{(result.Nodes == 1 ? "" : "s")}) at revision {result.Revision}"
                : $"{path}: unchanged (cluster {result.Cluster}, revision {result.Revision})").ConfigureAwait(false);
            return ZcCommand.Ok;
        }));
        return command;
    }

    private static async Task PrintMembersAsync(TextWriter stdout, IReadOnlyList<MemberDto> members)
    {
        await stdout.WriteLineAsync($"{"ID",-22} {"NAME",-12} {"API",-28} {"STATUS",-12} ROLE").ConfigureAwait(false);
        foreach (var m in members)
        {
            var role = m.Leader ? "leader" : "follower";
            await stdout.WriteLineAsync($"{m.Id,-22} {m.Name ?? "-",-12} {m.Api ?? "-",-28} {m.Status.Text(),-12} {role}{(m.Self ? " (answering)" : "")}").ConfigureAwait(false);
        }
    }

    private static Task<int> RunAsync(ParseResult parse, Option<string> server, Func<ControlClient, TextWriter, Task<int>> action) =>
        RunAsync(parse, server, (client, _, _, stdout) => action(client, stdout));

    /// <summary>Runs <paramref name="action"/> with a client of the control plane, and the credential and cluster root it uses (for the services that take them too: storage).</summary>
    private static async Task<int> RunAsync(ParseResult parse, Option<string> server, Func<ControlClient, ZeroCloud.Model.Pki.ClusterTrust?, string?, TextWriter, Task<int>> action)
    {
        var stderr = parse.InvocationConfiguration.Error;
        var url = parse.GetValue(server)!;
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            await stderr.WriteLineAsync($"zc: --server: \"{url}\" is not an https:// URL").ConfigureAwait(false);
            return ZcCommand.UsageError;
        }

        // The credential: the credentials file in $ZC_CREDENTIALS (zc up points its lab's commands at the one it wrote).
        string? credential = null;
        ZeroCloud.Model.Pki.ClusterTrust? trust = null;
        if (Environment.GetEnvironmentVariable("ZC_CREDENTIALS") is { Length: > 0 } path)
        {
            if (CredentialsFile.Read(path, out var problem) is not { } file)
            {
                await stderr.WriteLineAsync($"zc: $ZC_CREDENTIALS: {problem}").ConfigureAwait(false);
                return ZcCommand.UsageError;
            }

            credential = file.Credential;
            trust = file.Trust();
            if (parse.GetResult(server) is null or { Implicit: true } && Environment.GetEnvironmentVariable("ZC_SERVER") is not { Length: > 0 })
            {
                uri = new Uri(file.Server);
            }
        }

        if (uri.Scheme == "https" && trust is null)
        {
            await stderr.WriteLineAsync($"zc: {uri} is https, and there is no cluster root to verify it with: point $ZC_CREDENTIALS at the credentials file zc up or the first member wrote").ConfigureAwait(false);
            return ZcCommand.UsageError;
        }

        using var http = trust?.Client(TimeSpan.FromSeconds(30));
        using var client = new ControlClient(uri, http) { Token = credential, RetryRefusalsFor = TimeSpan.FromSeconds(10) };
        try
        {
            return await action(client, trust, credential, parse.InvocationConfiguration.Output).ConfigureAwait(false);
        }
        catch (ControlApiException ex)
        {
            foreach (var d in ex.Diagnostics)
            {
                await parse.InvocationConfiguration.Output.WriteLineAsync($"{d.File}:{d.Line}:{d.Column}: {(d.Path.Length > 0 ? d.Path + ": " : "")}{d.Message}").ConfigureAwait(false);
            }

            await stderr.WriteLineAsync($"zc: {ex.Message}").ConfigureAwait(false);
            return ex.Status is 0 or >= 500 ? ZcCommand.UsageError : ZcCommand.Failed;
        }
    }
}
