using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Win32.SafeHandles;

namespace ZeroCloud.Netboot.Tftp;

/// <summary>
/// One read transfer on its own port. Blocks are numbered from 1 and tracked as 64-bit counts, so a file past
/// 65,535 blocks rolls the 16-bit block number over to 0 and goes on. A window of blocks (1 in lock-step) is sent,
/// then an ACK awaited: an ACK inside the window moves it on (and a short one makes the rest go again, RFC 7440);
/// a duplicate or old ACK is ignored, never answered with data, which avoids the Sorcerer's Apprentice bug.
/// Silence retransmits the window after a timeout adapted to the measured round trip and doubled on each miss.
/// </summary>
internal sealed class TftpTransfer
{
    private const int MaxBlockSize = 65464;
    private readonly TftpServer _server;
    private readonly string _path;
    private readonly Stopwatch _clock = new();
    private int _receiveTimeoutMs;

    public TftpTransfer(TftpServer server, TftpRequest request, string path, IPEndPoint client)
    {
        _server = server;
        Request = request;
        _path = path;
        Client = client;
    }

    public TftpRequest Request { get; }

    public IPEndPoint Client { get; }

    public int BlockSize { get; private set; } = 512;

    public int WindowSize { get; private set; } = 1;

    public long BytesSent { get; private set; }

    public long Retransmissions { get; private set; }

    /// <summary>
    /// The last block went out, then the client closed its port before its final ACK reached us (lost, or never
    /// sent): the client has every block, so the transfer counts as complete.
    /// </summary>
    public bool FinalAckMissing { get; private set; }

    private bool _lastBlockSent;

    public TimeSpan Elapsed => _clock.Elapsed;

    public void Run()
    {
        _clock.Start();
        string? failure = null;
        try
        {
            failure = Transfer();
        }
#pragma warning disable CA1031 // a transfer's failure is logged and counted, never thrown into the thread
        catch (Exception ex)
#pragma warning restore CA1031
        {
            failure = ex.Message;
        }
        finally
        {
            _server.Finished(this, failure is null, failure);
        }
    }

    private string? Transfer()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(_server.ReplyAddress(Client), 0));
        socket.Connect(Client); // the kernel drops datagrams from any other port or host

        byte[]? netascii = null;
        SafeFileHandle? handle = null;
        long size;
        if (Request.Mode == "octet")
        {
            handle = File.OpenHandle(_path, FileMode.Open, FileAccess.Read, FileShare.Read);
            size = RandomAccess.GetLength(handle);
        }
        else
        {
            if (new FileInfo(_path).Length > _server.Options.MaxNetasciiBytes)
            {
                Send(socket, TftpErrorCode.NotDefined, "file too large for netascii mode; use octet");
                return "too large for netascii";
            }

            netascii = TftpRoot.ToNetascii(File.ReadAllBytes(_path));
            size = netascii.Length;
        }

        using (handle)
        {
            var timeoutBase = _server.Options.DefaultTimeout;
            var oack = Negotiate(size, ref timeoutBase);
            var buffer = new byte[TftpCodec.HeaderLength + Math.Max(BlockSize, 512)];
            var receive = new byte[1024];
            var rto = timeoutBase;
            TimeSpan? srtt = null;
            var lastProgress = _clock.Elapsed;

            if (oack.Count > 0)
            {
                var length = TftpCodec.WriteOptionAck(buffer, oack);
                var acked = false;
                var send = true;
                var sentAt = TimeSpan.Zero;
                while (!acked)
                {
                    if (send)
                    {
                        SendLossy(socket, buffer.AsSpan(0, length));
                        sentAt = _clock.Elapsed;
                        send = false;
                    }

                    // Anything but the ACK of the options leaves the retransmission timer running.
                    switch (Await(socket, receive, rto - (_clock.Elapsed - sentAt), out var packet))
                    {
                        case Wait.Packet when TftpCodec.TryParseAck(packet, out var block) && block == 0:
                            acked = true;
                            break;
                        case Wait.Packet when TftpCodec.TryParseError(packet, out var code, out var message):
                            return $"client refused the options ({code}: {message})";
                        case Wait.Gone:
                            return "the client went away";
                        case Wait.Timeout:
                            Retransmissions++;
                            if (_clock.Elapsed - lastProgress > _server.Options.TransferTimeout)
                            {
                                return "no acknowledgement of the options";
                            }

                            rto = Backoff(rto, timeoutBase);
                            send = true;
                            break;
                    }
                }
            }

            var total = (size / BlockSize) + 1; // the last block is shorter than blksize, possibly empty
            long ackedBlocks = 0, sentBlocks = 0;
            var windowSentAt = TimeSpan.Zero;
            var resent = false;
            while (ackedBlocks < total)
            {
                if (_server.Stopping.IsCancellationRequested)
                {
                    Send(socket, TftpErrorCode.NotDefined, "server shutting down");
                    return "server shutting down";
                }

                if (sentBlocks == ackedBlocks)
                {
                    var last = Math.Min(ackedBlocks + WindowSize, total);
                    try
                    {
                        for (var block = ackedBlocks + 1; block <= last; block++)
                        {
                            SendBlock(socket, buffer, block, size, handle, netascii);
                        }
                    }
                    catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionRefused)
                    {
                        return ClientGone(size); // an ICMP port unreachable, reported on this send
                    }

                    _lastBlockSent |= last == total;

                    sentBlocks = last;
                    windowSentAt = _clock.Elapsed;
                }

                if (_clock.Elapsed - lastProgress > _server.Options.TransferTimeout)
                {
                    return $"no progress past block {ackedBlocks} for {_server.Options.TransferTimeout.TotalSeconds:0} s";
                }

                // The timer runs from when the window went out: duplicate or stale ACKs do not hold it back.
                switch (Await(socket, receive, rto - (_clock.Elapsed - windowSentAt), out var packet))
                {
                    case Wait.Timeout:
                        if (_clock.Elapsed - lastProgress > _server.Options.TransferTimeout)
                        {
                            return $"timed out waiting for block {ackedBlocks + 1}'s acknowledgement";
                        }

                        Retransmissions++;
                        resent = true;
                        rto = Backoff(rto, timeoutBase);
                        sentBlocks = ackedBlocks; // the window goes again
                        break;
                    case Wait.Gone:
                        return ClientGone(size);
                    case Wait.Packet when TftpCodec.TryParseAck(packet, out var block):
                        var ahead = (ushort)(block - (ushort)ackedBlocks);
                        if (ahead == 0 || ahead > sentBlocks - ackedBlocks)
                        {
                            break; // duplicate or stale: ignored (no Sorcerer's Apprentice)
                        }

                        if (!resent)
                        {
                            var sample = _clock.Elapsed - windowSentAt;
                            srtt = srtt is { } s ? (s * 7 / 8) + (sample / 8) : sample;
                        }

                        ackedBlocks += ahead;
                        lastProgress = _clock.Elapsed;
                        resent = false;
                        rto = Adapt(srtt, timeoutBase);
                        sentBlocks = ackedBlocks; // next window, or the rest of this one if the client fell short
                        break;
                    case Wait.Packet when TftpCodec.TryParseError(packet, out var code, out var message):
                        return $"the client gave up ({code}: {message})";
                }
            }

            BytesSent = size;
            return null;
        }
    }

    private string? ClientGone(long size)
    {
        if (!_lastBlockSent)
        {
            return "the client went away (port unreachable)";
        }

        FinalAckMissing = true;
        BytesSent = size;
        return null;
    }

    private List<KeyValuePair<string, string>> Negotiate(long size, ref TimeSpan timeout)
    {
        var oack = new List<KeyValuePair<string, string>>();
        foreach (var (name, value) in Request.Options)
        {
            if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            {
                continue; // a value we cannot read: the option is ignored, as RFC 2347 allows
            }

            switch (name)
            {
                case "blksize" when n >= 8:
                    BlockSize = (int)Math.Min(n, MaxBlockSize);
                    oack.Add(new(name, TftpServer.Format(BlockSize)));
                    break;
                case "tsize":
                    oack.Add(new(name, TftpServer.Format(size)));
                    break;
                case "timeout" when n is >= 1 and <= 255:
                    timeout = TimeSpan.FromSeconds(n);
                    oack.Add(new(name, TftpServer.Format(n)));
                    break;
                case "windowsize" when n is >= 1 and <= 65535:
                    WindowSize = (int)Math.Min(n, _server.Options.MaxWindowSize);
                    oack.Add(new(name, TftpServer.Format(WindowSize)));
                    break;
            }
        }

        return oack;
    }

    private void SendBlock(Socket socket, byte[] buffer, long block, long size, SafeFileHandle? handle, byte[]? netascii)
    {
        var offset = (block - 1) * BlockSize;
        var length = (int)Math.Min(BlockSize, size - offset);
        TftpCodec.WriteDataHeader(buffer, (ushort)block);
        var payload = buffer.AsSpan(TftpCodec.HeaderLength, length);
        if (netascii is not null)
        {
            netascii.AsSpan((int)offset, length).CopyTo(payload);
        }
        else
        {
            var read = 0;
            while (read < length)
            {
                var n = RandomAccess.Read(handle!, payload[read..], offset + read);
                if (n == 0)
                {
                    throw new IOException($"{_path} became shorter while it was being sent");
                }

                read += n;
            }
        }

        SendLossy(socket, buffer.AsSpan(0, TftpCodec.HeaderLength + length));
    }

    /// <summary>
    /// Sends a datagram that may be lost anyway: a local drop (a firewall's DROP answers EPERM, a full queue ENOBUFS)
    /// is treated like loss on the wire, which the retransmission timer already handles.
    /// </summary>
    private static void SendLossy(Socket socket, ReadOnlySpan<byte> datagram)
    {
        try
        {
            socket.Send(datagram);
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.AccessDenied or SocketError.NoBufferSpaceAvailable)
        {
        }
    }

    private static void Send(Socket socket, TftpErrorCode code, string message)
    {
        Span<byte> buffer = stackalloc byte[300];
        SendLossy(socket, buffer[..TftpCodec.WriteError(buffer, code, message)]);
    }

    private enum Wait
    {
        Packet,
        Timeout,
        Gone,
    }

    private Wait Await(Socket socket, byte[] buffer, TimeSpan timeout, out ReadOnlySpan<byte> packet)
    {
        packet = default;
        if (timeout <= TimeSpan.Zero)
        {
            return Wait.Timeout;
        }

        // setsockopt only when the timeout moves by more than a fifth: the round-trip estimate wobbles on every ACK,
        // and a lock-step block should cost one sendto and one recvfrom, nothing more.
        var ms = Math.Max(1, (int)Math.Ceiling(timeout.TotalMilliseconds));
        if (_receiveTimeoutMs == 0 || Math.Abs(_receiveTimeoutMs - ms) * 5 > _receiveTimeoutMs)
        {
            socket.ReceiveTimeout = ms;
            _receiveTimeoutMs = ms;
        }

        try
        {
            var n = socket.Receive(buffer);
            packet = buffer.AsSpan(0, n);
            return Wait.Packet;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
        {
            return Wait.Timeout;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset)
        {
            return Wait.Gone;
        }
    }

    /// <summary>Four round trips plus a little, at least 20 ms, at most the negotiated timeout.</summary>
    private static TimeSpan Adapt(TimeSpan? srtt, TimeSpan ceiling) =>
        srtt is { } s ? TimeSpan.FromTicks(Math.Clamp((s * 4).Ticks + TimeSpan.TicksPerMillisecond * 5, TimeSpan.TicksPerMillisecond * 20, ceiling.Ticks)) : ceiling;

    private static TimeSpan Backoff(TimeSpan rto, TimeSpan ceiling) => TimeSpan.FromTicks(Math.Min(rto.Ticks * 2, Math.Max(ceiling.Ticks, TimeSpan.TicksPerSecond) * 4));
}
