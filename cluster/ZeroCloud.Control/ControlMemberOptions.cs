using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ZeroCloud.Control;

/// <summary>How a control-plane member runs (<c>zc serve control</c>), bound from its command line and validated before anything starts.</summary>
public sealed class ControlMemberOptions
{
    /// <summary>Folder for the member's log, snapshots and membership (its identity).</summary>
    public string DataDirectory { get; set; } = "/var/lib/zerocloud/control";

    /// <summary>Address of the HTTP API (ip:port).</summary>
    public string Listen { get; set; } = "127.0.0.1:7070";

    /// <summary>Address Raft peers use (ip:port); null: the API's address, port + 1.</summary>
    public string? Raft { get; set; }

    /// <summary>The API's URL as others reach it; null: https://&lt;listen&gt;.</summary>
    public string? Advertise { get; set; }

    public string Name { get; set; } = "";

    /// <summary>Start a new cluster with this member as its only one.</summary>
    public bool Bootstrap { get; set; }

    /// <summary>API URLs of existing members a fresh member asks to add it.</summary>
    public List<string> Peers { get; set; } = [];

    /// <summary>Lower election timeout in ms (the upper is twice it).</summary>
    public int ElectionTimeoutMs { get; set; } = 150;

    /// <summary>
    /// Seconds a member may stay a candidate, or a follower whose commit index stands still behind its leader's, while
    /// a quorum of the others follows one leader, before it repairs itself (removed, folder moved aside, rejoined
    /// empty); 0: never.
    /// </summary>
    public int StrandedAfterSeconds { get; set; } = 30;

    /// <summary>Log entries between snapshots (etcd's --snapshot-count).</summary>
    public int SnapshotEvery { get; set; } = 100_000;

    public LogLevel LogLevel { get; set; } = LogLevel.Information;

    /// <summary>
    /// A file whose first line is the credential this member's calls to other members carry (the key of the node it
    /// runs on, or an operator credential); null: $ZC_TOKEN, else the admin credential a bootstrapped member made.
    /// </summary>
    public string? TokenFile { get; set; }

    /// <summary>
    /// The client certificate (and its key) of the node this member runs on, written by its agent: what the member
    /// presents for its CSR and its request to be added, in place of <see cref="TokenFile"/>'s bearer key.
    /// </summary>
    public string? CertFile { get; set; }

    public string? KeyFile { get; set; }

    /// <summary>The node's certificate from <see cref="CertFile"/>, re-read when it changes; null without one.</summary>
    public Func<System.Security.Cryptography.X509Certificates.X509Certificate2?>? NodeIdentity() =>
        CertFile is { } certificate && KeyFile is { } key ? new ZeroCloud.Model.Pki.CertificateFiles(certificate, key) is var files ? () => files.Current : null : null;

    /// <summary>The Orleans silo's port; 0: no silo.</summary>
    public int SiloPort { get; set; }

    /// <summary>The Orleans gateway's port.</summary>
    public int GatewayPort { get; set; }

    /// <summary>The parsed API address (valid options only).</summary>
    public IPEndPoint ListenEndPoint => IPEndPoint.Parse(Listen);

    /// <summary>The parsed Raft address: <see cref="Raft"/>, or the API's address with port + 1 (valid options only).</summary>
    public IPEndPoint RaftEndPoint => Raft is { } raft ? IPEndPoint.Parse(raft) : new IPEndPoint(ListenEndPoint.Address, ListenEndPoint.Port + 1);

    /// <summary>The advertised API URL without a trailing slash (valid options only).</summary>
    public string AdvertisedApi => (Advertise ?? $"https://{ListenEndPoint}").TrimEnd('/');

    /// <summary>The cluster's root certificate (PEM), for a member that joins: it verifies its peers with it and receives its certificate from them.</summary>
    public string? CaFile { get; set; }
}

/// <summary>
/// Every problem with a member's options at once, each naming its option (the messages <c>zc serve control</c> prints,
/// exit 2); registered with <c>ValidateOnStart</c> so a host built another way is checked the same.
/// </summary>
public sealed class ControlMemberOptionsValidator : IValidateOptions<ControlMemberOptions>
{
    public ValidateOptionsResult Validate(string? name, ControlMemberOptions options)
    {
        var problems = new List<string>();
        var listenOk = IPEndPoint.TryParse(options.Listen, out var listen) && listen.Port != 0;
        if (!listenOk)
        {
            problems.Add($"--listen: \"{options.Listen}\" is not ip:port");
        }

        if (options.Raft is { } raftText)
        {
            if (!IPEndPoint.TryParse(raftText, out var raft) || raft.Port == 0)
            {
                problems.Add($"--raft: \"{raftText}\" is not ip:port");
            }
            else if (IsWildcard(raft.Address))
            {
                problems.Add("--raft: give the address peers reach this member at, not a wildcard");
            }
        }
        else if (listenOk && IsWildcard(listen!.Address))
        {
            problems.Add("--raft: give the address peers reach this member at, not a wildcard (--listen is a wildcard, and the Raft address defaults to it)");
        }

        if (options.Advertise is null)
        {
            if (listenOk && IsWildcard(listen!.Address))
            {
                problems.Add("--listen is a wildcard address; give --advertise with the URL others reach the API at");
            }
        }
        else if (!Uri.TryCreate(options.Advertise, UriKind.Absolute, out var uri) || uri.Scheme != "https")
        {
            problems.Add($"--advertise: \"{options.Advertise}\" is not an https:// URL");
        }

        problems.AddRange(options.Peers.Where(p => !Uri.TryCreate(p, UriKind.Absolute, out var u) || u.Scheme != "https").Select(p => $"--peers: \"{p}\" is not an https:// URL of a member's API"));
        if (options.Bootstrap && options.Peers.Count > 0)
        {
            problems.Add("give --bootstrap (a new cluster) or --peers (join an existing one), not both");
        }

        if (options.ElectionTimeoutMs is < 20 or > 60_000)
        {
            problems.Add($"--election-timeout: {options.ElectionTimeoutMs} ms; it must be 20..60000 ms");
        }

        if (options.StrandedAfterSeconds is < 0 or > 86_400)
        {
            problems.Add($"--stranded-after: {options.StrandedAfterSeconds} s; it must be 0 (never) to 86400 s");
        }
        else if (options.StrandedAfterSeconds > 0 && options.StrandedAfterSeconds * 1000 < options.ElectionTimeoutMs * 20)
        {
            problems.Add($"--stranded-after: {options.StrandedAfterSeconds} s is less than 20 election timeouts ({options.ElectionTimeoutMs * 20 / 1000.0:0.#} s): an ordinary election would look stranded");
        }

        if (options.SnapshotEvery < 1)
        {
            problems.Add($"--snapshot-every: {options.SnapshotEvery}; it must be at least 1");
        }

        if (options.DataDirectory.Length == 0)
        {
            problems.Add("--data: give the member's data folder");
        }

        if (options.SiloPort is < 0 or > 65535 || options.GatewayPort is < 0 or > 65535)
        {
            problems.Add("--silo-port and --gateway-port must be 0..65535");
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    private static bool IsWildcard(IPAddress address) => address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);
}
