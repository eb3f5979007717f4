using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using ZeroCloud.Model.Net;

namespace ZeroCloud.Netboot.Dhcp;

/// <summary>
/// Adds a neighbour (ARP) entry so that a reply can be unicast to a client that has no address yet
/// (RFC 2131 §4.1: yiaddr at chaddr), the way ISC dhcpd and dnsmasq do it: ioctl(SIOCSARP). Linux only;
/// needs CAP_NET_ADMIN. When it fails the server broadcasts instead, which every client also accepts.
/// </summary>
internal static partial class NativeArp
{
    private const uint SiocSArp = 0x8955;
    private const int AtfCom = 0x02;
    private const int ArpReqSize = 68;

    public static bool TrySet(Socket socket, string interfaceName, uint address, MacAddress mac)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        Span<byte> req = stackalloc byte[ArpReqSize];
        req.Clear();
        // struct arpreq { sockaddr arp_pa; sockaddr arp_ha; int arp_flags; sockaddr arp_netmask; char arp_dev[16]; }
        BinaryPrimitives.WriteUInt16LittleEndian(req, (ushort)AddressFamily.InterNetwork);
        BinaryPrimitives.WriteUInt32BigEndian(req[4..], address);
        BinaryPrimitives.WriteUInt16LittleEndian(req[16..], 1); // ARPHRD_ETHER
        mac.WriteTo(req[18..]);
        BinaryPrimitives.WriteInt32LittleEndian(req[32..], AtfCom);
        var dev = req[52..67];
        Encoding.ASCII.GetBytes(interfaceName.AsSpan(0, Math.Min(interfaceName.Length, 15)), dev);
        unsafe
        {
            fixed (byte* p = req)
            {
                return Ioctl((int)socket.Handle, SiocSArp, p) == 0;
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static unsafe partial int Ioctl(int fd, nuint request, byte* argument);
}
