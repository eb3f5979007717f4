using Microsoft.Extensions.Logging;

namespace ZeroCloud.Node;

/// <summary>
/// The control-plane members an agent has learned, kept in <c>&lt;data&gt;/members</c> (one API address per line) so that
/// an agent restarted after the members on its command line are gone (the seed retired, a voter moved) still reaches
/// the control plane. The file only adds candidates: every member is still checked against the cluster's root over
/// TLS, so a stale or altered file cannot point the node at anyone else. Written only once the node's data folder is
/// settled (its data disk claimed or known to be absent), so that nothing lands in the folder a disk is mounted over.
/// </summary>
internal sealed class KnownMembers(string data, ILogger log)
{
    public const string FileName = "members";

    private readonly Lock _lock = new();
    private string? _written;
    private IReadOnlyList<string>? _pending;
    private bool _settled;

    public string Path { get; } = System.IO.Path.Combine(data, FileName);

    /// <summary>The addresses kept by an earlier run: absolute https:// (or http://) URLs, others ignored; none when there is no file.</summary>
    public IReadOnlyList<string> Read()
    {
        try
        {
            return [.. File.ReadAllLines(Path)
                .Select(l => l.Trim())
                .Where(l => Uri.TryCreate(l, UriKind.Absolute, out var u) && u.Scheme is "https" or "http")
                .Distinct(StringComparer.Ordinal)];
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return [];
        }
    }

    /// <summary>
    /// The data folder is final (a claimed disk is mounted on it, or there is none to claim): writes may start, the
    /// first with what was learned before.
    /// </summary>
    public void Settled()
    {
        IReadOnlyList<string>? pending;
        lock (_lock)
        {
            _settled = true;
            pending = _pending;
        }

        if (pending is not null)
        {
            Learned(pending);
        }
    }

    /// <summary>Keeps <paramref name="apis"/> when they differ from what was last kept (written whole, then renamed over the old file); before <see cref="Settled"/>, remembers them.</summary>
    public void Learned(IReadOnlyList<string> apis)
    {
        if (apis.Count == 0)
        {
            return;
        }

        var text = string.Join('\n', apis.Order(StringComparer.Ordinal)) + "\n";
        lock (_lock)
        {
            if (!_settled)
            {
                _pending = apis;
                return;
            }

            if (text == _written)
            {
                return;
            }

            try
            {
                var temporary = Path + ".new";
                File.WriteAllText(temporary, text);
                File.Move(temporary, Path, overwrite: true);
                _written = text;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Not fatal (the next refresh tries again), and never taken for the control plane refusing the node.
                log.LogWarning("could not keep the control-plane members in {File}: {Problem}", Path, ex.Message);
            }
        }
    }
}
