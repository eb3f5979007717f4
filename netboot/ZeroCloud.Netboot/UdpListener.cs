using System.Net;
using System.Net.Sockets;

namespace ZeroCloud.Netboot;

/// <summary>Handles one datagram; the span is valid only during the call.</summary>
public delegate void DatagramHandler(ReadOnlySpan<byte> datagram, IPEndPoint from);

/// <summary>
/// The receive loop of the UDP services (DHCP, TFTP): a dedicated thread in a blocking receive, so a datagram costs
/// one recvfrom (the async path cost about 3x the CPU per DHCP exchange, measured). Ends when the socket is closed
/// or the token is cancelled; a handler's exception is reported and the loop goes on.
/// </summary>
public static class UdpListener
{
    public static Thread Start(string name, Socket socket, DatagramHandler handle, Action<IPEndPoint, Exception> failed, CancellationToken stopping)
    {
        var thread = new Thread(() => Run(socket, handle, failed, stopping)) { IsBackground = true, Name = name };
        thread.Start();
        return thread;
    }

    private static void Run(Socket socket, DatagramHandler handle, Action<IPEndPoint, Exception> failed, CancellationToken stopping)
    {
        var buffer = new byte[2048];
        EndPoint from = new IPEndPoint(IPAddress.Any, 0);
        while (!stopping.IsCancellationRequested)
        {
            int length;
            try
            {
                length = socket.ReceiveFrom(buffer, SocketFlags.None, ref from);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.MessageSize)
            {
                continue;
            }
            catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
            {
                break; // stopping: the socket was closed under the receive
            }

            var client = (IPEndPoint)from;
            try
            {
                handle(buffer.AsSpan(0, length), client);
            }
#pragma warning disable CA1031 // one datagram must not stop the service; it is reported
            catch (Exception ex)
#pragma warning restore CA1031
            {
                failed(client, ex);
            }
        }
    }
}
