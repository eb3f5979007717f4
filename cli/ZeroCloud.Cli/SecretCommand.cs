using System.CommandLine;
using System.Text.Json;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Cli;

/// <summary><c>zc secret set|ls|rm</c>: values go in from a file or stdin (never argv) and are never printed back.</summary>
internal static partial class ClusterCommands
{
    private static Command Secret()
    {
        var command = new Command("secret", "Secrets (BMC and service credentials): sealed at rest, readable by the admin and the services you name.");
        var server = ServerOption();
        var name = new Argument<string>("name") { Description = "The secret's name." };
        var fromFile = new Option<string?>("--from-file", "-f") { Description = "Read the value from this file (default: standard input, to its end). Never on the command line.", HelpName = "file" };
        var readers = new Option<string[]>("--reader") { Description = "A service whose nodes may read it (repeatable; default: the admin only).", HelpName = "service", AllowMultipleArgumentsPerToken = false };
        var set = new Command("set", "Set a secret (a new value replaces the old one).") { server, name, fromFile, readers };
        set.SetAction((parse, ct) => RunAsync(parse, server, async (client, stdout) =>
        {
            byte[] value;
            if (parse.GetValue(fromFile) is { } file)
            {
                if (!File.Exists(file))
                {
                    await parse.InvocationConfiguration.Error.WriteLineAsync($"zc: --from-file: {file} does not exist").ConfigureAwait(false);
                    return ZcCommand.UsageError;
                }

                value = await File.ReadAllBytesAsync(file, ct).ConfigureAwait(false);
            }
            else
            {
                using var buffer = new MemoryStream();
                await Console.OpenStandardInput().CopyToAsync(buffer, ct).ConfigureAwait(false);
                value = buffer.ToArray();
            }

            if (value.Length == 0)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync($"zc: secret {parse.GetValue(name)}: the value is empty (give --from-file, or pipe it in)").ConfigureAwait(false);
                return ZcCommand.UsageError;
            }

            var made = await client.SetSecretAsync(parse.GetValue(name)!, value, parse.GetValue(readers) ?? [], ct).ConfigureAwait(false);
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(value);
            await stdout.WriteLineAsync($"secret {made.Name} set ({made.Size} bytes; readable by the admin{string.Concat(made.Readers.Select(r => $", service {r}"))})").ConfigureAwait(false);
            return ZcCommand.Ok;
        }));
        var json = JsonOption();
        var listServer = ServerOption();
        var list = new Command("ls", "List secrets: names, sizes, readers, times; never a value.") { listServer, json };
        list.SetAction((parse, ct) => RunAsync(parse, listServer, async (client, stdout) =>
        {
            var r = await client.SecretsAsync(ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                await stdout.WriteLineAsync(JsonSerializer.Serialize(r, ControlJsonContext.Default.SecretsResponse)).ConfigureAwait(false);
                return ZcCommand.Ok;
            }

            await stdout.WriteLineAsync($"{"NAME",-24} {"BYTES",6} {"UPDATED",-20} READERS").ConfigureAwait(false);
            foreach (var s in r.Secrets)
            {
                await stdout.WriteLineAsync($"{s.Name,-24} {s.Size,6} {s.Updated:yyyy-MM-dd HH:mm:ss}  {(s.Readers.Count == 0 ? "(admin only)" : string.Join(",", s.Readers))}").ConfigureAwait(false);
            }

            return ZcCommand.Ok;
        }));
        var rmServer = ServerOption();
        var rmName = new Argument<string>("name") { Description = "The secret's name." };
        var rm = new Command("rm", "Remove a secret.") { rmServer, rmName };
        rm.SetAction((parse, ct) => RunAsync(parse, rmServer, async (client, stdout) =>
        {
            await client.RemoveSecretAsync(parse.GetValue(rmName)!, ct).ConfigureAwait(false);
            await stdout.WriteLineAsync($"secret {parse.GetValue(rmName)} removed").ConfigureAwait(false);
            return ZcCommand.Ok;
        }));
        command.Subcommands.Add(set);
        command.Subcommands.Add(list);
        command.Subcommands.Add(rm);
        return command;
    }
}
