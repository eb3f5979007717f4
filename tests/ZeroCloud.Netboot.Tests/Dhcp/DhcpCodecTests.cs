using ZeroCloud.Model.Net;
using ZeroCloud.Netboot.Dhcp;

namespace ZeroCloud.Netboot.Tests.Dhcp;

/// <summary>Byte-exact vectors captured from real clients in the namespace lab (tcpdump), and hand-built edge cases.</summary>
public class DhcpCodecTests
{
    [Theory]
    [InlineData("dhclient-discover.hex", DhcpMessageType.Discover)]
    [InlineData("dhclient-request.hex", DhcpMessageType.Request)]
    [InlineData("udhcpc-discover.hex", DhcpMessageType.Discover)]
    [InlineData("udhcpc-request.hex", DhcpMessageType.Request)]
    [InlineData("qemu-ipxe-discover.hex", DhcpMessageType.Discover)]
    [InlineData("qemu-ipxe-request.hex", DhcpMessageType.Request)]
    public void Real_client_packets_parse_and_round_trip_byte_exact(string vector, DhcpMessageType type)
    {
        var bytes = Packets.Vector(vector);
        var packet = Packets.Parse(bytes);
        Assert.Equal(DhcpPacket.BootRequest, packet.Op);
        Assert.Equal(type, packet.MessageType);
        Assert.Equal(MacAddress.Parse(vector.StartsWith("qemu", StringComparison.Ordinal) ? "52:54:00:00:00:09" : "52:54:00:00:00:07"), packet.Mac);
        Assert.True(packet.Options.Contains(DhcpOption.ParameterRequestList));

        var written = new byte[1500];
        var length = packet.WriteTo(written, minimumLength: bytes.Length);
        Assert.Equal(Convert.ToHexString(bytes), Convert.ToHexString(written, 0, length));
    }

    [Fact]
    public void Qemu_ipxe_is_recognised_as_ipxe_on_bios()
    {
        var packet = Packets.Parse(Packets.Vector("qemu-ipxe-discover.hex"));
        var client = BootClient.Classify(packet);
        Assert.Equal(new BootClient(IsPxe: true, IsHttpClient: false, IsIpxe: true, ClientArchitecture.X86Bios), client);
        Assert.Equal("PXEClient:Arch:00000:UNDI:002001", packet.Options.GetString(DhcpOption.VendorClassIdentifier));
        Assert.True(packet.Options.Contains(DhcpOption.Ipxe));
    }

    [Fact]
    public void Our_offer_to_qemu_ipxe_carries_the_script_url()
    {
        var offer = Packets.Parse(Packets.Vector("zc-offer-to-ipxe.hex"));
        Assert.Equal(DhcpMessageType.Offer, offer.MessageType);
        Assert.Equal("http://10.77.0.2:8080/boot/52:54:00:00:00:09.ipxe", offer.BootFile);
        Assert.Equal("PXEClient", offer.Options.GetString(DhcpOption.VendorClassIdentifier));
    }

    [Fact]
    public void Udhcpc_sends_client_id_and_max_size()
    {
        var packet = Packets.Parse(Packets.Vector("udhcpc-discover.hex"));
        Assert.Equal([1, 0x52, 0x54, 0, 0, 0, 7], packet.Options.Get(DhcpOption.ClientIdentifier));
        Assert.True(packet.Options.GetUInt16(DhcpOption.MaxMessageSize) >= 576);
    }

    [Fact]
    public void Dhclient_request_names_the_server_and_the_address()
    {
        var packet = Packets.Parse(Packets.Vector("dhclient-request.hex"));
        Assert.Equal(Packets.Ip("10.77.0.2"), packet.Options.GetAddress(DhcpOption.ServerIdentifier));
        Assert.Equal(Packets.Ip("10.77.0.100"), packet.Options.GetAddress(DhcpOption.RequestedIpAddress));
    }

    [Fact]
    public void Our_ack_as_captured_parses_with_every_option()
    {
        var ack = Packets.Parse(Packets.Vector("zc-ack-to-dhclient.hex"));
        Assert.Equal(DhcpPacket.BootReply, ack.Op);
        Assert.Equal(DhcpMessageType.Ack, ack.MessageType);
        Assert.Equal(Packets.Ip("10.77.0.100"), ack.YourAddress);
        Assert.Equal(Packets.Ip("10.77.0.1"), ack.Options.GetAddress(DhcpOption.Router));
        Assert.Equal("lab.zerocloud.internal", ack.Options.GetString(DhcpOption.DomainName));
    }

    [Fact]
    public void Long_option_is_split_on_write_and_joined_on_read()
    {
        var value = Enumerable.Range(0, 600).Select(i => (byte)i).ToArray();
        var buffer = new byte[1500];
        var w = new DhcpWriter(buffer);
        w.WriteHeader(1, 1, 6, 0, 1, 0, 0, 0, 0, 0, 0, new byte[16], null, null);
        w.AddOption(DhcpOption.MessageType, (byte)DhcpMessageType.Discover);
        w.AddOption(DhcpOption.VendorSpecific, value);
        var length = w.Finish();
        // 255 + 255 + 90: three instances of option 43.
        Assert.Equal(DhcpPacket.MinimumLength + 3 + (3 * 2) + 600 + 1, length);
        var packet = Packets.Parse(buffer.AsSpan(0, length));
        Assert.Equal(value, packet.Options.Get(DhcpOption.VendorSpecific));
    }

    [Fact]
    public void Overloaded_file_and_sname_fields_are_read_after_the_options()
    {
        var buffer = new byte[600];
        var w = new DhcpWriter(buffer);
        w.WriteHeader(1, 1, 6, 0, 1, 0, 0, 0, 0, 0, 0, new byte[16], null, null);
        w.AddOption(DhcpOption.MessageType, (byte)DhcpMessageType.Discover);
        w.AddOption(DhcpOption.Overload, (byte)3);
        w.AddOption(DhcpOption.HostName, "ab");
        var length = w.Finish();
        // file (offset 108): host name continued (RFC 3396 joins it) and option 66; sname (offset 44): option 67.
        byte[] file = [DhcpOption.HostName, 2, (byte)'c', (byte)'d', DhcpOption.TftpServerName, 1, (byte)'x', DhcpOption.End];
        byte[] sname = [DhcpOption.BootFileName, 3, (byte)'a', (byte)'.', (byte)'b', DhcpOption.End];
        file.CopyTo(buffer, 108);
        sname.CopyTo(buffer, 44);
        var packet = Packets.Parse(buffer.AsSpan(0, length));
        Assert.Equal("abcd", packet.Options.GetString(DhcpOption.HostName));
        Assert.Equal("x", packet.Options.GetString(DhcpOption.TftpServerName));
        Assert.Equal("a.b", packet.Options.GetString(DhcpOption.BootFileName));
        Assert.Equal("", packet.BootFile);
        Assert.Equal("", packet.ServerName);
    }

    public static TheoryData<string, DhcpParseError> Broken => new()
    {
        { "truncated", DhcpParseError.TooShort },
        { "cookie", DhcpParseError.BadMagicCookie },
        { "op", DhcpParseError.BadOp },
        { "hlen", DhcpParseError.BadHardwareAddressLength },
        { "overrun", DhcpParseError.OptionOverrun },
        { "overload", DhcpParseError.BadOverload },
        { "length-byte-missing", DhcpParseError.OptionOverrun },
    };

    [Theory]
    [MemberData(nameof(Broken))]
    public void Broken_packets_are_refused_with_a_reason(string how, DhcpParseError expected)
    {
        var bytes = Packets.Vector("dhclient-discover.hex");
        switch (how)
        {
            case "truncated":
                bytes = bytes[..239];
                break;
            case "cookie":
                bytes[239] = 0;
                break;
            case "op":
                bytes[0] = 3;
                break;
            case "hlen":
                bytes[2] = 17;
                break;
            case "overrun":
                bytes = [.. bytes[..240], DhcpOption.MessageType, 1, 1, DhcpOption.HostName, 200, (byte)'a'];
                break;
            case "overload":
                bytes = [.. bytes[..240], DhcpOption.MessageType, 1, 1, DhcpOption.Overload, 1, 9, DhcpOption.End];
                break;
            case "length-byte-missing":
                bytes = [.. bytes[..240], DhcpOption.MessageType, 1, 1, DhcpOption.HostName];
                break;
        }

        Assert.False(DhcpPacket.TryParse(bytes, out _, out var error));
        Assert.Equal(expected, error);
    }

    [Fact]
    public void Pads_and_zero_length_options_advance()
    {
        var bytes = Packets.Vector("dhclient-discover.hex")[..240];
        bytes = [.. bytes, 0, 0, 0, DhcpOption.MessageType, 1, 1, DhcpOption.HostName, 0, DhcpOption.HostName, 0, DhcpOption.End];
        var packet = Packets.Parse(bytes);
        Assert.Equal(DhcpMessageType.Discover, packet.MessageType);
        Assert.Empty(packet.Options.Get(DhcpOption.HostName)!);
    }
}
