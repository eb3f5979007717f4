using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using ZeroCloud.Model.Config;
using ZeroCloud.Model.Net;

namespace ZeroCloud.Netboot.Dhcp;

/// <summary>
/// The DHCP service on one interface: UDP 67 (and 4011 for proxyDHCP), replies decided by <see cref="DhcpEngine"/>,
/// leases made durable through <see cref="ILeaseStore"/> before any ACK leaves. Constructible without a host so
/// tests and benchmarks embed it.
/// </summary>
public sealed partial class DhcpServer : IAsyncDisposable
{
    private const int SolSocket = 1;
    private const int SoBindToDevice = 25;
    private static readonly IPEndPoint AnyEndPoint = new(IPAddress.Any, 0);

    private readonly DhcpServerOptions _options;
    private readonly ILeaseStore _store;
    private readonly string _interface;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _engineLock = new();
    private readonly ConcurrentDictionary<MacAddress, byte> _ignoredMacs = new();
    private readonly DhcpMetrics _metrics = new();
    private readonly List<Socket> _sockets = [];
    private readonly List<Thread> _threads = [];
    private CancellationTokenSource? _stopping;
    private DhcpEngine? _engine;
    private long _lastBadPacketLog;
    private long _lastPurge;
    private int _disposed;

    public DhcpServer(DhcpServerOptions options, ILeaseStore store, string interfaceName, TimeProvider time, ILogger<DhcpServer> logger)
    {
        _options = options;
        _store = store;
        _interface = interfaceName;
        _time = time;
        _logger = logger;
    }

    /// <summary>Received, replies, dropped (by reason) and bad packets (by error), as a Meter (<c>ZeroCloud.Dhcp</c>).</summary>
    public DhcpMetrics Metrics => _metrics;

    public DhcpEngine Engine => _engine ?? throw new InvalidOperationException("the server is not started");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var leases = await _store.LoadAsync(cancellationToken).ConfigureAwait(false);
        _engine = new DhcpEngine(_options, leases);
        _stopping = new CancellationTokenSource();
        if (_store is ISharedLeaseStore shared)
        {
            // Leases other replicas commit reach this pool, so it never offers what they hold.
            shared.Follow(OnSharedLease, _stopping.Token);
            // The addresses kept for enrolled nodes: read now and every 10 s.
            _ = Task.Run(() => FollowReservationsAsync(shared, _stopping.Token), CancellationToken.None);
        }

        var ports = _options.Mode == DhcpMode.Proxy ? new[] { DhcpPorts.Server, DhcpPorts.PxeBootServer } : [DhcpPorts.Server];
        foreach (var port in ports)
        {
            var socket = Open(port);
            _sockets.Add(socket);
            var reply = new byte[1500];
            _threads.Add(UdpListener.Start(
                $"dhcp-{port}",
                socket,
                (datagram, from) =>
                {
                    _metrics.OnReceived();
                    Process(socket, port, datagram, from, reply);
                },
                (_, ex) =>
                {
                    _metrics.OnDropped(DropReason.Unsupported);
                    LogProcessFailed(_logger, ex);
                },
                _stopping.Token));
        }

        LogStarted(_logger, _options.Mode.ToString().ToLowerInvariant(), _interface, Ipv4.FromUInt32(_options.ServerAddress), string.Join(",", ports), leases.Count);
        if (_options.Mode == DhcpMode.Full && _options.ServesTime)
        {
            StartTimeServer();
        }
    }

    /// <summary>
    /// SNTP on UDP 123 of the same interface (RFC 4330 server, stratum 10: the cluster keeps its own time, as an
    /// ntpd with only its local clock would). One 48-byte answer per 48-byte request, so it amplifies nothing. Without
    /// the port (another time server holds it) DHCP goes on and says so.
    /// </summary>
    private void StartTimeServer()
    {
        Socket socket;
        try
        {
            socket = Open(Ntp.SntpPacket.Port);
        }
        catch (SocketException ex)
        {
            LogNoTimeServer(_logger, ex.Message);
            return;
        }

        _sockets.Add(socket);
        _threads.Add(UdpListener.Start(
            "sntp",
            socket,
            (datagram, from) =>
            {
                var received = _time.GetUtcNow().UtcDateTime;
                if (datagram.Length < Ntp.SntpPacket.Length || !Ntp.SntpPacket.TryParse(datagram, out var request) || request.Mode != Ntp.SntpPacket.ModeClient)
                {
                    return;
                }

                var reply = Ntp.SntpPacket.Reply(datagram, received, _time.GetUtcNow().UtcDateTime, 10, 0x7F7F0100);
                socket.SendTo(reply, from);
            },
            (_, ex) => LogProcessFailed(_logger, ex),
            _stopping!.Token));
        LogTimeServer(_logger, _interface);
    }

    private Socket Open(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { EnableBroadcast = true };
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            if (OperatingSystem.IsLinux())
            {
                // Receive and send on this interface only, whatever the routing table says.
                socket.SetRawSocketOption(SolSocket, SoBindToDevice, Encoding.ASCII.GetBytes(_interface + "\0"));
            }

            socket.ReceiveBufferSize = 4 << 20;
            socket.Bind(new IPEndPoint(IPAddress.Any, port));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private void Process(Socket socket, int port, ReadOnlySpan<byte> datagram, IPEndPoint from, byte[] reply)
    {
        if (!DhcpPacket.TryParse(datagram, out var packet, out var error))
        {
            var count = _metrics.OnBadPacket(error);
            var now = Environment.TickCount64;
            if (now - Interlocked.Read(ref _lastBadPacketLog) > 10_000)
            {
                Interlocked.Exchange(ref _lastBadPacketLog, now);
                LogBadPacket(_logger, from, error, count);
            }

            return;
        }

        DhcpDecision decision;
        var time = _time.GetUtcNow();
        lock (_engineLock)
        {
            if (Environment.TickCount64 - _lastPurge > 10_000)
            {
                _lastPurge = Environment.TickCount64;
                _engine!.Pool.PurgeOffers(time);
            }

            decision = _engine!.Handle(packet, port, time, reply);
            decision = _gate.Pass(decision);
        }

        if (decision.Dropped != DropReason.None)
        {
            _metrics.OnDropped(decision.Dropped);
            if (decision.Dropped == DropReason.UnknownMachine && decision.Mac is { } mac && _ignoredMacs.TryAdd(mac, 0))
            {
                LogUnknownMachine(_logger, mac);
            }
            else if (decision.Dropped == DropReason.PoolExhausted)
            {
                LogPoolExhausted(_logger, decision.Mac);
            }
        }

        if (decision.Commit is { } lease)
        {
            // Durable first, then the ACK: a crash in between loses an ACK the client retries, never a lease it holds.
            // At most MaxCommits in flight (each an fsync or a Raft write): past that the packet is dropped and the
            // client's retry is answered.
            if (!_commitSlots.Wait(0))
            {
                // Never made durable: the pool forgets it as a failed commit does (else a retry would find it held and
                // be given a cached ACK of a lease the store never took).
                lock (_engineLock)
                {
                    _engine!.Pool.Revert(lease, decision.Previous);
                    _gate.End(lease.Address);
                }

                _metrics.OnDropped(DropReason.Busy);
                return;
            }

            var bytes = decision.Length > 0 ? reply.AsSpan(0, decision.Length).ToArray() : null;
            _ = CommitThenSendAsync(socket, lease, bytes, decision, from);
            return;
        }

        if (decision.Length > 0)
        {
            Send(socket, reply.AsSpan(0, decision.Length), decision, from);
        }
    }

    private void OnSharedLease(Lease lease)
    {
        lock (_engineLock)
        {
            var mine = _engine!.Pool.GetLease(lease.Address);
            if (mine is null || mine.ClientKey != lease.ClientKey || mine.Expires <= lease.Expires)
            {
                _engine.Pool.Apply(lease);
            }
        }
    }

    private async Task FollowReservationsAsync(ISharedLeaseStore shared, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var reservations = await shared.ReservationsAsync(stopping).ConfigureAwait(false);
                lock (_engineLock)
                {
                    foreach (var (mac, address) in reservations)
                    {
                        _engine!.Pool.Enroll(mac, address);
                    }
                }
            }
            catch (Exception ex) when (ex is ZeroCloud.Model.Api.ControlApiException or HttpRequestException or TaskCanceledException or System.Text.Json.JsonException && !stopping.IsCancellationRequested)
            {
                LogReservationsFailed(_logger, ex.Message);
            }

            await Task.Delay(TimeSpan.FromSeconds(10), _time, stopping).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    [LoggerMessage(EventId = 2010, Level = LogLevel.Warning, Message = "dhcp: the reserved addresses could not be read ({Problem}); trying again in 10 s")]
    private static partial void LogReservationsFailed(ILogger logger, string problem);

    /// <summary>Most lease commits in flight at once.</summary>
    public const int MaxCommits = 64;

    private readonly SemaphoreSlim _commitSlots = new(MaxCommits, MaxCommits);

    private async Task CommitThenSendAsync(Socket socket, Lease lease, byte[]? bytes, DhcpDecision decision, IPEndPoint from)
    {
        try
        {
            await CommitThenSendCoreAsync(socket, lease, bytes, decision, from).ConfigureAwait(false);
        }
        finally
        {
            Committed(lease.Address);
            _commitSlots.Release();
        }
    }

    /// <summary>Addresses with a lease commit in flight: a cached ACK of such a lease waits for it. Under the engine's lock.</summary>
    private readonly CommitGate _gate = new();

    private void Committed(uint address)
    {
        lock (_engineLock)
        {
            _gate.End(address);
        }
    }

    private async Task CommitThenSendCoreAsync(Socket socket, Lease lease, byte[]? bytes, DhcpDecision decision, IPEndPoint from)
    {
        try
        {
            await _store.CommitAsync(lease, _stopping!.Token).ConfigureAwait(false);
        }
        catch (LeaseConflictException ex)
        {
            // Another replica holds the address: learn its lease and send nothing; the client's retry gets another address.
            OnSharedLease(ex.Held);
            LogConflict(_logger, Ipv4.FromUInt32(lease.Address), lease.ClientKey, ex.Held.ClientKey);
            return;
        }
#pragma warning disable CA1031 // a failed commit means no ACK; the client retries
        catch (Exception ex)
#pragma warning restore CA1031
        {
            // Not durable, not ACKed: the pool forgets it too, so the address is not held (or freed) on the strength
            // of a change the store never took.
            lock (_engineLock)
            {
                _engine!.Pool.Revert(lease, decision.Previous);
            }

            LogCommitFailed(_logger, Ipv4.FromUInt32(lease.Address), ex);
            return;
        }

        if (lease.State == LeaseState.Declined)
        {
            LogDeclined(_logger, Ipv4.FromUInt32(lease.Address), lease.Mac);
        }

        if (bytes is not null)
        {
            Send(socket, bytes, decision, from);
        }
    }

    private void Send(Socket socket, ReadOnlySpan<byte> bytes, DhcpDecision decision, IPEndPoint from)
    {
        IPEndPoint to = decision.Route switch
        {
            ReplyRoute.Unicast => new IPEndPoint(Ipv4.FromUInt32(decision.Address), decision.Port == 0 ? from.Port : decision.Port),
            ReplyRoute.UnicastToHardware when decision.Mac is { } mac && NativeArp.TrySet(socket, _interface, decision.Address, mac)
                => new IPEndPoint(Ipv4.FromUInt32(decision.Address), decision.Port),
            _ => new IPEndPoint(IPAddress.Broadcast, DhcpPorts.Client),
        };
        try
        {
            socket.SendTo(bytes, SocketFlags.None, to);
            _metrics.OnReply();
        }
        catch (SocketException ex)
        {
            LogSendFailed(_logger, to, ex.SocketErrorCode);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (_stopping is not null)
        {
            await _stopping.CancelAsync().ConfigureAwait(false);
        }

        foreach (var socket in _sockets)
        {
            try
            {
                socket.Shutdown(SocketShutdown.Both); // wakes the blocked receive (Linux answers ENOTCONN for UDP, and still wakes it)
            }
            catch (SocketException)
            {
            }

            socket.Dispose();
        }

        foreach (var thread in _threads)
        {
            thread.Join(TimeSpan.FromSeconds(5));
        }
        _stopping?.Dispose();
        LogStopped(_logger, _metrics.Received, _metrics.Replies, _metrics.Dropped, _metrics.BadPackets);
        _metrics.Dispose();
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "dhcp: {Mode} mode on {Interface} as {Address}, ports {Ports}, {Leases} leases loaded")]
    private static partial void LogStarted(ILogger logger, string mode, string @interface, IPAddress address, string ports, int leases);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "dhcp: ignoring {Mac}: enroll is 'known' and this MAC is not under spec.nodes.known (logged once)")]
    private static partial void LogUnknownMachine(ILogger logger, MacAddress mac);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Debug, Message = "dhcp: dropped a bad packet from {From}: {Error} ({Count} so far)")]
    private static partial void LogBadPacket(ILogger logger, IPEndPoint from, DhcpParseError error, long count);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "dhcp: no free address for {Mac}: the range is exhausted")]
    private static partial void LogPoolExhausted(ILogger logger, MacAddress? mac);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Error, Message = "dhcp: could not make the lease of {Address} durable; no ACK sent")]
    private static partial void LogCommitFailed(ILogger logger, IPAddress address, Exception exception);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Warning, Message = "dhcp: {Address} for {Client} is held by {Holder} in the shared store (another replica); no ACK, the client will get another address")]
    private static partial void LogConflict(ILogger logger, IPAddress address, string client, string holder);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Warning, Message = "dhcp: {Mac} declined {Address} (in use by another host); quarantined")]
    private static partial void LogDeclined(ILogger logger, IPAddress address, MacAddress mac);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Warning, Message = "dhcp: sending to {To} failed: {Error}")]
    private static partial void LogSendFailed(ILogger logger, IPEndPoint to, SocketError error);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Error, Message = "dhcp: processing a packet failed")]
    private static partial void LogProcessFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2009, Level = LogLevel.Information, Message = "dhcp: stopped; {Received} received, {Replies} replies, {Drops} dropped, {Bad} malformed")]
    private static partial void LogStopped(ILogger logger, long received, long replies, long drops, long bad);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Information, Message = "sntp: serving this machine's time on {Interface}:123 (announced as option 42)")]
    private static partial void LogTimeServer(ILogger logger, string @interface);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Warning, Message = "sntp: UDP 123 is not free ({Problem}); no time server here")]
    private static partial void LogNoTimeServer(ILogger logger, string problem);
}
