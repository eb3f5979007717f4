using System.CommandLine;
using ZeroCloud.Cluster.Store;

namespace ZeroCloud.Cli;

/// <summary>
/// <c>zc backup -o file [--stale]</c>: the whole store, from a member, into a file. <c>zc restore file --data dir
/// [--pki dir]</c>: a new member's folder from a backup, to start with <c>--bootstrap</c> (a new control plane, or the
/// way out when quorum is lost for good: a backup of a survivor's own copy, <c>--stale</c>).
/// </summary>
internal static partial class ClusterCommands
{
    private static Command BackupCommand()
    {
        var server = ServerOption();
        var output = new Option<string>("--output", "-o") { Description = "The file to write.", HelpName = "file", Required = true };
        var stale = new Option<bool>("--stale") { Description = "This member's own copy, without a linearizable read point: from a survivor when quorum is lost." };
        var command = new Command("backup", "Save the whole store (every key with its revisions, and the kept history) to a file.") { server, output, stale };
        command.SetAction((parse, ct) => RunAsync(parse, server, async (client, stdout) =>
        {
            var file = await client.BackupAsync(parse.GetValue(stale), ct).ConfigureAwait(false);
            if (Backup.Read(file, out var problem) is not { } read)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync($"zc: the member sent a backup that does not check: {problem}").ConfigureAwait(false);
                return ZcCommand.Failed;
            }

            var path = parse.GetValue(output)!;
            var temp = path + ".tmp";
            await File.WriteAllBytesAsync(temp, file, ct).ConfigureAwait(false);
            File.Move(temp, path, overwrite: true);
            var h = read.Header;
            await stdout.WriteLineAsync($"backup of {h.Keys} keys at revision {h.Revision} from {h.Member}{(h.Linearizable ? "" : " (its own copy, --stale)")}: {path}, {file.Length:N0} bytes, sha256 {h.Sha256[..16]}…").ConfigureAwait(false);
            return ZcCommand.Ok;
        }));
        return command;
    }

    private static Command RestoreCommand()
    {
        var file = new Argument<string>("file") { Description = "A file written by zc backup." };
        var data = new Option<string>("--data") { Description = "The new member's data folder (must not exist, or be empty).", HelpName = "dir", Required = true };
        var pki = new Option<string?>("--pki") { Description = "The old cluster's pki folder (a member's <data>/pki): its CA, so that secrets, node certificates and pinned roots stay valid. Without it the new member makes a new CA.", HelpName = "dir" };
        var command = new Command("restore", "Make a new control-plane member's folder from a backup; then start it with --bootstrap (zc serve control or zc-control).") { file, data, pki };
        command.SetAction(async (parse, ct) =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            var path = parse.GetValue(file)!;
            if (!File.Exists(path))
            {
                await stderr.WriteLineAsync($"zc: {path} does not exist").ConfigureAwait(false);
                return ZcCommand.UsageError;
            }

            if (Backup.Read(await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false), out var problem) is not { } read)
            {
                await stderr.WriteLineAsync($"zc: {path}: {problem}; nothing was written").ConfigureAwait(false);
                return ZcCommand.Failed;
            }

            var folder = Path.GetFullPath(parse.GetValue(data)!);
            if (Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any())
            {
                await stderr.WriteLineAsync($"zc: --data {folder} is not empty; a restore makes a new member's folder and never writes over one").ConfigureAwait(false);
                return ZcCommand.UsageError;
            }

            var pkiFrom = parse.GetValue(pki);
            if (pkiFrom is not null && !(File.Exists(Path.Combine(pkiFrom, "root.crt")) && File.Exists(Path.Combine(pkiFrom, "ca.key"))))
            {
                await stderr.WriteLineAsync($"zc: --pki {pkiFrom} holds no cluster CA (root.crt and ca.key)").ConfigureAwait(false);
                return ZcCommand.UsageError;
            }

            // The state holds every secret of the cluster (sealed) and its credentials' hashes: the owner's only.
            Private(folder);
            // The state as the member's snapshot at index 1, term 0: it starts from it, and members that join later
            // are sent it (the log before index 2 is that snapshot).
            var snapshots = Directory.CreateDirectory(Path.Combine(folder, "snapshots")).FullName;
            await File.WriteAllBytesAsync(Path.Combine(snapshots, "1-0"), read.Snapshot, ct).ConfigureAwait(false);
            if (pkiFrom is not null)
            {
                var to = Path.Combine(folder, "pki");
                Private(to);
                foreach (var f in Directory.EnumerateFiles(pkiFrom))
                {
                    File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
                }
            }

            var h = read.Header;
            await stdout.WriteLineAsync($"restored {h.Keys} keys at revision {h.Revision} (backup of {h.Taken:u} from {h.Member}) into {folder}").ConfigureAwait(false);
            await stdout.WriteLineAsync(pkiFrom is null
                ? "no --pki: the member will make a new CA; secrets sealed under the old one will not open, and nodes must join again with the new root"
                : $"the cluster's CA from {pkiFrom}: secrets, node certificates and pinned roots stay valid").ConfigureAwait(false);
            await stdout.WriteLineAsync($"start it: zc serve control --data {folder} --bootstrap --listen <ip:port>; then add members with --peers").ConfigureAwait(false);
            return ZcCommand.Ok;
        });
        return command;

        void Private(string dir)
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(dir);
            }
            else
            {
                Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }
    }
}
