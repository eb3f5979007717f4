using System.CommandLine;
using ZeroCloud.Model.Pki;

namespace ZeroCloud.Netboot.Commands;

/// <summary>
/// <c>--cert-file</c> and <c>--key-file</c>: the client certificate a service presents to the control plane (the node's,
/// which its agent writes and renews) in place of a bearer credential.
/// </summary>
internal sealed class ClientCertificateOptions
{
    private readonly Option<string> _certificate = new("--cert-file") { Description = "The node's client certificate (PEM) to present to the control plane, in place of --token-file; re-read when it changes.", HelpName = "file" };
    private readonly Option<string> _key = new("--key-file") { Description = "The key of --cert-file (PEM, keep it 0600).", HelpName = "file" };

    public ClientCertificateOptions(Command command)
    {
        command.Options.Add(_certificate);
        command.Options.Add(_key);
    }

    /// <summary>Whether both were given.</summary>
    public bool Given(ParseResult parse) => parse.GetValue(_certificate) is not null && parse.GetValue(_key) is not null;

    /// <summary>Makes <paramref name="trust"/> present the certificate; the problem (for exit 2) when the options do not go together or the files do not load.</summary>
    public string? Apply(ParseResult parse, ClusterTrust? trust)
    {
        var (certificate, key) = (parse.GetValue(_certificate), parse.GetValue(_key));
        if (certificate is null && key is null)
        {
            return null;
        }

        if (certificate is null || key is null)
        {
            return "--cert-file and --key-file go together";
        }

        if (trust is null)
        {
            return "--cert-file needs --ca-file (a client certificate is for the cluster's TLS)";
        }

        var files = new CertificateFiles(certificate, key);
        if (files.Problem is { } problem)
        {
            return $"--cert-file {problem}";
        }

        trust.ClientCertificate = () => files.Current;
        return null;
    }
}
