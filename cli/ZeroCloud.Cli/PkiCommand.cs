using System.CommandLine;
using System.Security.Cryptography;
using ZeroCloud.Model.Pki;

namespace ZeroCloud.Cli;

/// <summary>
/// <c>zc pki show|backup|restore</c>: the cluster's CA as a voter keeps it in its data folder (<c>&lt;data&gt;/pki/</c>).
/// Run on a voter's machine; nothing goes over the network.
/// </summary>
internal static class PkiCommand
{
    public static Command Build()
    {
        var pki = new Command("pki", "The cluster's certificate authority, as a control-plane member keeps it (<data>/pki).");
        pki.Subcommands.Add(Show());
        pki.Subcommands.Add(Backup());
        pki.Subcommands.Add(Restore());
        return pki;
    }

    private static Option<string> Data() => new("--data") { Description = "The member's data folder.", DefaultValueFactory = _ => "/var/lib/zerocloud/control", HelpName = "dir" };

    private static Option<string> Passphrase() => new("--passphrase-file") { Description = "A file whose first line is the passphrase (at least 12 characters).", Required = true, HelpName = "file" };

    private static Command Show()
    {
        var data = Data();
        var command = new Command("show", "The root's fingerprint (what zc.ca= pins) and the CA's lifetimes.") { data };
        command.SetAction(parse =>
        {
            using var ca = Load(parse.GetValue(data)!, parse.InvocationConfiguration.Error);
            if (ca is null)
            {
                return ZcCommand.UsageError;
            }

            var stdout = parse.InvocationConfiguration.Output;
            stdout.WriteLine($"root     {ca.Root.Subject}  sha256 {ClusterPki.Fingerprint(ca.Root)}  until {ca.Root.NotAfter.ToUniversalTime():u}{(ca.Root.HasPrivateKey ? "  (key here)" : "")}");
            stdout.WriteLine($"issuing  {ca.Issuing.Subject}  sha256 {ClusterPki.Fingerprint(ca.Issuing)}  until {ca.Issuing.NotAfter.ToUniversalTime():u}");
            return ZcCommand.Ok;
        });
        return command;
    }

    private static Command Backup()
    {
        var data = Data();
        var passphrase = Passphrase();
        var output = new Option<string>("--output", "-o") { Description = "Where to write the backup (0600).", Required = true, HelpName = "file" };
        var command = new Command("backup", "Write the root and issuing CA with their keys, the keys encrypted to a passphrase (PKCS#8, AES-256, PBKDF2).") { data, passphrase, output };
        command.SetAction(parse =>
        {
            var stderr = parse.InvocationConfiguration.Error;
            var secret = ReadPassphrase(parse.GetValue(passphrase)!, stderr);
            using var ca = secret is null ? null : Load(parse.GetValue(data)!, stderr);
            if (ca is null)
            {
                return ZcCommand.UsageError;
            }

            ZeroCloud.Model.SecretFile.Write(parse.GetValue(output)!, ca.Backup(secret!));
            parse.InvocationConfiguration.Output.WriteLine($"backed up the CA of root {ClusterPki.Fingerprint(ca.Root)[..16]}… to {parse.GetValue(output)}{(ca.Root.HasPrivateKey ? "" : " (this member has no root key: the backup holds the issuing CA's key only)")}");
            return ZcCommand.Ok;
        });
        return command;
    }

    private static Command Restore()
    {
        var data = Data();
        var passphrase = Passphrase();
        var input = new Argument<string>("backup") { Description = "A file zc pki backup wrote." };
        var command = new Command("restore", "Put a backed-up CA into a member's data folder (one that has none: a member rebuilt after every voter was lost).") { data, passphrase, input };
        command.SetAction(parse =>
        {
            var stderr = parse.InvocationConfiguration.Error;
            var folder = Path.Combine(parse.GetValue(data)!, "pki");
            if (File.Exists(Path.Combine(folder, "ca.key")))
            {
                stderr.WriteLine($"zc: {folder} holds a CA already; restore only into a member that has none");
                return ZcCommand.UsageError;
            }

            var secret = ReadPassphrase(parse.GetValue(passphrase)!, stderr);
            if (secret is null)
            {
                return ZcCommand.UsageError;
            }

            try
            {
                using var ca = ClusterPki.Restore(File.ReadAllText(parse.GetValue(input)!), secret);
                ca.Save(folder);
                parse.InvocationConfiguration.Output.WriteLine($"restored the CA of root {ClusterPki.Fingerprint(ca.Root)[..16]}… into {folder}");
                return ZcCommand.Ok;
            }
            catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"zc: {parse.GetValue(input)}: {ex.Message} (a wrong passphrase reads as a decryption failure)");
                return ZcCommand.Failed;
            }
        });
        return command;
    }

    private static string? ReadPassphrase(string file, TextWriter stderr)
    {
        var secret = ZeroCloud.Model.SecretFile.Read(file, out var problem);
        if (secret is null || secret.Length < 12)
        {
            stderr.WriteLine($"zc: --passphrase-file {problem ?? "holds fewer than 12 characters"}");
            return null;
        }

        return secret;
    }

    private static ClusterPki? Load(string data, TextWriter stderr)
    {
        try
        {
            var ca = ClusterPki.Load(Path.Combine(data, "pki"));
            if (ca is null)
            {
                stderr.WriteLine($"zc: {Path.Combine(data, "pki")} holds no CA (run this on a control-plane member's machine, with its --data)");
            }

            return ca;
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"zc: {Path.Combine(data, "pki")}: {ex.Message}");
            return null;
        }
    }
}
