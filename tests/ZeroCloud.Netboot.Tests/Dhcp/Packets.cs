using System.Net;
using ZeroCloud.Model.Net;
using ZeroCloud.Netboot.Dhcp;

namespace ZeroCloud.Netboot.Tests.Dhcp;

/// <summary>Builds client requests the way real clients send them, and loads captured vectors.</summary>
internal static class Packets
{
    public static byte[] Vector(string name)
    {
        var hex = string.Concat(File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Dhcp", "Vectors", name)).Select(l => l.Trim()));
        return Convert.FromHexString(hex);
    }

    public static uint Ip(string text) => Ipv4.ToUInt32(IPAddress.Parse(text));

    public static DhcpPacket Parse(ReadOnlySpan<byte> bytes)
    {
        Assert.True(DhcpPacket.TryParse(bytes, out var packet, out var error), $"parse failed: {error}");
        return packet;
    }

    /// <summary>A BOOTREQUEST from <paramref name="mac"/> with the given options (53 first).</summary>
    public static DhcpPacket Request(
        DhcpMessageType type,
        string mac,
        uint xid = 0x1234,
        bool broadcast = false,
        uint ciaddr = 0,
        uint giaddr = 0,
        params (byte Code, byte[] Value)[] options)
    {
        var buffer = new byte[1024];
        var w = new DhcpWriter(buffer);
        var chaddr = new byte[16];
        MacAddress.Parse(mac).WriteTo(chaddr);
        w.WriteHeader(DhcpPacket.BootRequest, 1, 6, 0, xid, 0, broadcast ? DhcpPacket.BroadcastFlag : (ushort)0, ciaddr, 0, 0, giaddr, chaddr, null, null);
        w.AddOption(DhcpOption.MessageType, (byte)type);
        foreach (var (code, value) in options)
        {
            w.AddOption(code, value);
        }

        return Parse(buffer.AsSpan(0, w.Finish()));
    }

    public static (byte, byte[]) Address(byte code, string ip) => (code, IPAddress.Parse(ip).GetAddressBytes());

    public static (byte, byte[]) Text(byte code, string text) => (code, System.Text.Encoding.ASCII.GetBytes(text));

    public static (byte, byte[]) Arch(ClientArchitecture arch) => (DhcpOption.ClientSystemArchitecture, [(byte)((ushort)arch >> 8), (byte)arch]);

    public static (byte, byte[]) Uuid() => (DhcpOption.ClientMachineId, [0, .. Enumerable.Range(1, 16).Select(i => (byte)i)]);
}
