using System.Globalization;
using System.IO.Hashing;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Net;
using ZeroCloud.Netboot.Posix;

namespace ZeroCloud.Netboot.Dhcp;

/// <summary>
/// Leases in an append-only file on local disk, one line per change, each with a CRC-32. Commits are grouped:
/// whatever arrived while the previous fsync ran is written and fsync'd together, and each commit completes
/// only after its fsync, so an ACK never goes out for a lease a crash could lose. On load, the last record of
/// each address wins; a torn last line (a crash mid-write) is skipped and logged; a corrupt whole line never lets an
/// older record win: its address is held (declined), or, when no address can be read from it, the file is refused.
/// The file is rewritten compactly (temp file, fsync, rename, fsync of the folder) when it holds many superseded
/// lines or held a damaged one.
/// </summary>
public sealed partial class FileLeaseStore : ILeaseStore, IAsyncDisposable
{
    private const string Version = "zcl1";
    private readonly string _path;
    private readonly ILogger _logger;
    private readonly Channel<(Lease Lease, TaskCompletionSource Done)> _queue =
        Channel.CreateUnbounded<(Lease, TaskCompletionSource)>(new UnboundedChannelOptions { SingleReader = true });

    private const int CommitWindowMs = 2;
    private const int MaxBatch = 4096;
    private FileStream? _file;
    private bool _busy;
    private Task? _writer;

    public FileLeaseStore(string path, ILogger<FileLeaseStore> logger)
    {
        _path = Path.GetFullPath(path);
        _logger = logger;
    }

    /// <summary>How many fsyncs have run (group commit makes this much smaller than the commit count under load).</summary>
    public long SyncCount { get; private set; }

    public async Task<IReadOnlyList<Lease>> LoadAsync(CancellationToken cancellationToken)
    {
        if (_file is not null)
        {
            throw new InvalidOperationException("the lease file is already open");
        }

        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        var leases = new Dictionary<uint, Lease>();
        var damaged = new Dictionary<uint, int>();
        var lines = 0;
        if (File.Exists(_path))
        {
            var text = await File.ReadAllTextAsync(_path, cancellationToken).ConfigureAwait(false);
            var all = text.Split('\n');
            for (var i = 0; i < all.Length; i++)
            {
                var line = all[i];
                var number = i + 1;
                if (line.Length == 0)
                {
                    continue;
                }

                if (TryParse(line, out var lease))
                {
                    leases[lease.Address] = lease;
                    damaged.Remove(lease.Address); // a good record after the damaged one is newer: it stands
                    lines++;
                }
                else if (i == all.Length - 1)
                {
                    // The last line without its newline: a crash mid-write. Its commit never completed, so no ACK
                    // went out for it.
                    LogTornLine(_logger, _path, number);
                }
                else if (AddressOf(line) is { } address)
                {
                    // A whole line that fails its checksum: damage, not a crash. The record before it for this address
                    // may be older than what the client was told, so it must not win: the address is held.
                    damaged[address] = number;
                }
                else
                {
                    throw new InvalidDataException($"{_path}: line {number} is corrupt (its checksum or fields do not hold) and names no readable address, so no record in this file can be trusted over it; the DHCP server does not start on it. Move the file aside (every client then asks again), or fix or delete that line.");
                }
            }
        }

        if (damaged.Count > 0)
        {
            var until = leases.Values.Select(l => l.Expires).Append(TimeProvider.System.GetUtcNow().AddHours(1)).Max();
            foreach (var (address, number) in damaged)
            {
                var older = leases.GetValueOrDefault(address);
                leases[address] = new Lease(address, older?.Mac ?? default, older?.ClientKey ?? $"damaged-line-{number}", until, LeaseState.Declined, older?.HostName);
                LogDamagedLine(_logger, _path, number, Ipv4.FromUInt32(address).ToString(), until);
            }

            // Written back as held records: the damage is not read again at the next start.
            lines = int.MaxValue;
        }

        var live = leases.Values.OrderBy(l => l.Address).ToList();
        if (!File.Exists(_path) || lines > 2 * live.Count + 1000)
        {
            await RewriteAsync(live, cancellationToken).ConfigureAwait(false);
        }

        _file = new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.Read, 1 << 16, FileOptions.None);
        _writer = Task.Run(WriteLoopAsync, CancellationToken.None);
        return live;
    }

    public Task CommitAsync(Lease lease, CancellationToken cancellationToken)
    {
        if (_file is null)
        {
            throw new InvalidOperationException("LoadAsync first: the store reads what is on disk before it writes");
        }

        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ObjectDisposedException.ThrowIf(!_queue.Writer.TryWrite((lease, done)), this);

        return done.Task.WaitAsync(cancellationToken);
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<(Lease Lease, TaskCompletionSource Done)>();
        var text = new StringBuilder();
        while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            text.Clear();
            var deadline = Environment.TickCount64 + CommitWindowMs;
            while (true)
            {
                while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var item))
                {
                    batch.Add(item);
                    text.Append(Format(item.Lease)).Append('\n');
                }

                // Under load, wait a moment for more commits to share the fsync; alone, a commit goes at once.
                if (batch.Count >= MaxBatch || batch.Count == 1 && !_busy || Environment.TickCount64 >= deadline)
                {
                    break;
                }

                await Task.Delay(1).ConfigureAwait(false);
            }

            _busy = batch.Count > 1;

            try
            {
                var bytes = Encoding.UTF8.GetBytes(text.ToString());
                _file!.Write(bytes);
                _file.Flush(flushToDisk: true);
                SyncCount++;
                CommitCount += batch.Count;
                foreach (var (_, done) in batch)
                {
                    done.TrySetResult();
                }
            }
#pragma warning disable CA1031 // whatever the disk throws, the waiting commits must hear of it; the loop goes on
            catch (Exception ex)
#pragma warning restore CA1031
            {
                LogWriteFailed(_logger, _path, ex);
                foreach (var (_, done) in batch)
                {
                    done.TrySetException(ex);
                }
            }
        }
    }

    private async Task RewriteAsync(List<Lease> leases, CancellationToken cancellationToken)
    {
        var temp = _path + ".tmp";
        await using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            var text = string.Concat(leases.Select(l => Format(l) + "\n"));
            await stream.WriteAsync(Encoding.UTF8.GetBytes(text), cancellationToken).ConfigureAwait(false);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, _path, overwrite: true);
        NativeFs.FsyncDirectory(Path.GetDirectoryName(_path)!);
    }

    internal static string Format(Lease lease)
    {
        var body = string.Create(
            CultureInfo.InvariantCulture,
            $"{Version} {Ipv4.FromUInt32(lease.Address)} {lease.Mac} {Escape(lease.ClientKey)} {lease.Expires.ToUnixTimeMilliseconds()} {(byte)lease.State} {Escape(lease.HostName ?? "")}");
        return $"{body} {Crc32.HashToUInt32(Encoding.UTF8.GetBytes(body)):x8}";
    }

    /// <summary>The address field of a line that failed its checks, when it still reads as one.</summary>
    private static uint? AddressOf(string line)
    {
        var f = line.Split(' ');
        return f.Length >= 2 && f[0] == Version && Ipv4.TryParse(f[1], out var ip) ? Ipv4.ToUInt32(ip) : null;
    }

    internal static bool TryParse(string line, out Lease lease)
    {
        lease = null!;
        var lastSpace = line.LastIndexOf(' ');
        if (lastSpace < 0 || !uint.TryParse(line.AsSpan(lastSpace + 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var crc))
        {
            return false;
        }

        var body = line[..lastSpace];
        if (Crc32.HashToUInt32(Encoding.UTF8.GetBytes(body)) != crc)
        {
            return false;
        }

        var f = body.Split(' ');
        if (f.Length != 7 || f[0] != Version ||
            !Ipv4.TryParse(f[1], out var ip) ||
            !MacAddress.TryParse(f[2], out var mac) ||
            !long.TryParse(f[4], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var expires) ||
            !byte.TryParse(f[5], NumberStyles.None, CultureInfo.InvariantCulture, out var state) ||
            state is < 1 or > 3)
        {
            return false;
        }

        var host = Unescape(f[6]);
        lease = new Lease(Ipv4.ToUInt32(ip), mac, Unescape(f[3]), DateTimeOffset.FromUnixTimeMilliseconds(expires), (LeaseState)state, host.Length == 0 ? null : host);
        return true;
    }

    private static string Escape(string s) => s.Length == 0 ? "-" : Uri.EscapeDataString(s);

    private static string Unescape(string s) => s == "-" ? "" : Uri.UnescapeDataString(s);

    /// <summary>How many leases have been made durable.</summary>
    public long CommitCount { get; private set; }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        if (_writer is not null)
        {
            await _writer.ConfigureAwait(false);
            LogClosed(_logger, _path, CommitCount, SyncCount);
        }

        if (_file is not null)
        {
            await _file.DisposeAsync().ConfigureAwait(false);
        }
    }

    [LoggerMessage(EventId = 2101, Level = LogLevel.Warning, Message = "{Path}: line {Line}, the last, is torn (a crash mid-write; its commit never completed and no ACK went out); it is skipped")]
    private static partial void LogTornLine(ILogger logger, string path, int line);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Error, Message = "{Path}: line {Line} is corrupt (bad checksum or fields); no older record of {Address} is trusted over it: the address is held (declined) until {Until:u}")]
    private static partial void LogDamagedLine(ILogger logger, string path, int line, string address, DateTimeOffset until);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Information, Message = "{Path}: closed; {Commits} lease changes made durable with {Syncs} fsyncs")]
    private static partial void LogClosed(ILogger logger, string path, long commits, long syncs);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Error, Message = "{Path}: writing leases failed; no ACK is sent for them")]
    private static partial void LogWriteFailed(ILogger logger, string path, Exception exception);
}
