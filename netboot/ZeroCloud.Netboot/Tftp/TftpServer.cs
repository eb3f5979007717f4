using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace ZeroCloud.Netboot.Tftp;

public sealed record TftpServerOptions
{
    public IPAddress Address { get; init; } = IPAddress.Any;

    public int Port { get; init; } = 69;

    /// <summary>The longest a transfer may go without progress before it is abandoned.</summary>
    public TimeSpan TransferTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Retransmission wait when the client asks for none (RFC 2349 timeout); adapted to the measured round trip below it.</summary>
    public TimeSpan DefaultTimeout { get; init; } = TimeSpan.FromSeconds(1);

    public int MaxTransfers { get; init; } = 256;

    /// <summary>The largest windowsize granted (RFC 7440); clients asking more get this.</summary>
    public int MaxWindowSize { get; init; } = 64;

    /// <summary>netascii transfers are converted in memory: files above this size are refused in that mode.</summary>
    public long MaxNetasciiBytes { get; init; } = 16 << 20;
}

/// <summary>
/// A read-only TFTP server (RFC 1350) with option negotiation (RFC 2347), blksize (2348), tsize and timeout (2349)
/// and windowsize (7440). The listener and every transfer own a thread with a blocking socket: a lock-step block
/// then costs one sendto and one recvfrom. Each transfer has its own ephemeral port (its transfer ID).
/// </summary>
public sealed partial class TftpServer : IDisposable
{
    private readonly TftpServerOptions _options;
    private readonly TftpRoot _root;
    private readonly ILogger _logger;
    private readonly Socket _socket;
    private readonly CancellationTokenSource _stopping = new();
    private Thread? _listener;
    private readonly TftpMetrics _metrics = new();
    private int _active;

    public TftpServer(TftpServerOptions options, TftpRoot root, ILogger<TftpServer> logger)
    {
        _options = options;
        _root = root;
        _logger = logger;
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    }

    public int ActiveTransfers => Volatile.Read(ref _active);

    /// <summary>The server's meter (<c>ZeroCloud.Tftp</c>) and its totals.</summary>
    public TftpMetrics Metrics => _metrics;

    public long Completed => _metrics.Completed;

    public long Failed => _metrics.Failed;

    public long Malformed => _metrics.Malformed;

    public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    public void Start()
    {
        _socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _socket.Bind(new IPEndPoint(_options.Address, _options.Port));
        var reply = new byte[600];
        _listener = UdpListener.Start("tftp-listener", _socket, (request, client) => Accept(request, client, reply), (client, ex) => LogRequestFailed(_logger, client, ex), _stopping.Token);
        LogStarted(_logger, LocalEndPoint, _root.Path);
    }

    private void Accept(ReadOnlySpan<byte> packet, IPEndPoint client, byte[] reply)
    {
        if (!TftpRequest.TryParse(packet, out var request, out var error))
        {
            _metrics.OnMalformed();
            var message = error == TftpParseError.NameNotUtf8 ? "file name is not UTF-8" : $"malformed request ({error})";
            var code = error == TftpParseError.NameNotUtf8 ? TftpErrorCode.AccessViolation : TftpErrorCode.IllegalOperation;
            LogRefused(_logger, client, "?", message);
            Reply(client, reply.AsSpan(0, TftpCodec.WriteError(reply, code, message)));
            return;
        }

        if (request.Opcode == TftpOpcode.WriteRequest)
        {
            _metrics.OnRefused("write");
            LogRefused(_logger, client, request.FileName, "write request on a read-only server");
            Reply(client, reply.AsSpan(0, TftpCodec.WriteError(reply, TftpErrorCode.AccessViolation, "read-only server: writes are not accepted")));
            return;
        }

        if (!_root.TryResolve(request.FileName, out var path, out var refusal, out var reason))
        {
            _metrics.OnRefused(refusal == TftpErrorCode.FileNotFound ? "not_found" : "access_violation");
            LogRefused(_logger, client, request.FileName, reason);
            Reply(client, reply.AsSpan(0, TftpCodec.WriteError(reply, refusal, refusal == TftpErrorCode.FileNotFound ? "file not found" : $"access violation: {reason}")));
            return;
        }

        if (Interlocked.Increment(ref _active) > _options.MaxTransfers)
        {
            Interlocked.Decrement(ref _active);
            _metrics.OnRefused("busy");
            LogRefused(_logger, client, request.FileName, "too many transfers");
            Reply(client, reply.AsSpan(0, TftpCodec.WriteError(reply, TftpErrorCode.NotDefined, "server busy, try again")));
            return;
        }

        _metrics.OnStarted();
        var transfer = new TftpTransfer(this, request, path, client);
        var thread = new Thread(transfer.Run, maxStackSize: 256 * 1024) { IsBackground = true, Name = "tftp-transfer" };
        thread.Start();
    }

    private void Reply(IPEndPoint client, ReadOnlySpan<byte> datagram)
    {
        try
        {
            _socket.SendTo(datagram, client);
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.AccessDenied or SocketError.NoBufferSpaceAvailable)
        {
            // Dropped locally (firewall, full queue): the client asks again.
        }
    }

    internal TftpServerOptions Options => _options;

    internal IPAddress ReplyAddress(IPEndPoint client) =>
        _options.Address.Equals(IPAddress.Any) ? IPAddress.Any : _options.Address;

    internal CancellationToken Stopping => _stopping.Token;

    internal void Finished(TftpTransfer transfer, bool ok, string? why)
    {
        Interlocked.Decrement(ref _active);
        _metrics.OnEnded(ok, transfer.BytesSent);
        if (ok)
        {
            LogTransfer(_logger, transfer.Client, transfer.Request.FileName, transfer.BytesSent, transfer.Elapsed.TotalMilliseconds, transfer.BlockSize, transfer.WindowSize, transfer.Retransmissions, transfer.FinalAckMissing ? "; the client closed before its final ACK reached us" : "");
        }
        else
        {
            LogTransferFailed(_logger, transfer.Client, transfer.Request.FileName, why ?? "unknown", transfer.BytesSent);
        }
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _socket.Dispose();
        _listener?.Join(TimeSpan.FromSeconds(5));
        _stopping.Dispose();
        _metrics.Dispose();
    }

    internal static string Format(long value) => value.ToString(CultureInfo.InvariantCulture);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "tftp: serving {Root} on {EndPoint}")]
    private static partial void LogStarted(ILogger logger, IPEndPoint endPoint, string root);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "tftp: {Client} asked for \"{Name}\": refused, {Reason}")]
    private static partial void LogRefused(ILogger logger, IPEndPoint client, string name, string reason);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Information, Message = "tftp: {Client} {Name} {Bytes} bytes in {Milliseconds:0} ms (blksize {BlockSize}, windowsize {Window}, {Retransmissions} retransmissions{Note})")]
    private static partial void LogTransfer(ILogger logger, IPEndPoint client, string name, long bytes, double milliseconds, int blockSize, int window, long retransmissions, string note);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "tftp: {Client} {Name} failed after {Bytes} bytes: {Reason}")]
    private static partial void LogTransferFailed(ILogger logger, IPEndPoint client, string name, string reason, long bytes);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Error, Message = "tftp: a request from {Client} failed")]
    private static partial void LogRequestFailed(ILogger logger, IPEndPoint client, Exception exception);
}
