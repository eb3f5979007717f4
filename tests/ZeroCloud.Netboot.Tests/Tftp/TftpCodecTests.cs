using System.Text;
using CsCheck;
using ZeroCloud.Netboot.Tftp;

namespace ZeroCloud.Netboot.Tests.Tftp;

public class TftpCodecTests
{
    private static byte[] Rrq(params string[] fields) =>
        [0, 1, .. fields.SelectMany(f => Encoding.UTF8.GetBytes(f).Append((byte)0))];

    [Fact]
    public void Read_request_with_options_as_curl_sends_it()
    {
        // curl 7.88: RRQ "big.bin" octet tsize 0 blksize 1468 timeout 6
        var bytes = Rrq("big.bin", "octet", "tsize", "0", "blksize", "1468", "timeout", "6");
        Assert.True(TftpRequest.TryParse(bytes, out var request, out var error), error.ToString());
        Assert.Equal(TftpOpcode.ReadRequest, request.Opcode);
        Assert.Equal("big.bin", request.FileName);
        Assert.Equal("octet", request.Mode);
        Assert.Equal("1468", request.Option("blksize"));
        Assert.Equal("0", request.Option("tsize"));
        var written = new byte[512];
        Assert.Equal(bytes, written[..request.WriteTo(written)]);
    }

    [Fact]
    public void Mode_and_option_names_are_case_insensitive()
    {
        Assert.True(TftpRequest.TryParse(Rrq("a", "NETASCII", "BLKSIZE", "512"), out var request, out _));
        Assert.Equal("netascii", request.Mode);
        Assert.Equal("512", request.Option("blksize"));
    }

    [Theory]
    [InlineData(new byte[] { 0, 1 }, TftpParseError.TooShort)]
    [InlineData(new byte[] { 0, 3, 0, 1, 9 }, TftpParseError.UnknownOpcode)]
    [InlineData(new byte[] { 0, 1, (byte)'a', 0, (byte)'o', (byte)'c' }, TftpParseError.NotTerminated)]
    [InlineData(new byte[] { 0, 1, 0, (byte)'o', (byte)'c', (byte)'t', (byte)'e', (byte)'t', 0 }, TftpParseError.EmptyName)]
    [InlineData(new byte[] { 0, 1, (byte)'a', 0, (byte)'x', 0 }, TftpParseError.BadMode)]
    [InlineData(new byte[] { 0, 1, 0xC3, 0x28, 0, (byte)'o', (byte)'c', (byte)'t', (byte)'e', (byte)'t', 0 }, TftpParseError.NameNotUtf8)]
    [InlineData(new byte[] { 0, 1, (byte)'a', 0, (byte)'o', (byte)'c', (byte)'t', (byte)'e', (byte)'t', 0, (byte)'x', 0 }, TftpParseError.OddOptions)]
    public void Malformed_requests_are_refused_with_a_reason(byte[] bytes, TftpParseError expected)
    {
        Assert.False(TftpRequest.TryParse(bytes, out _, out var error));
        Assert.Equal(expected, error);
    }

    [Fact]
    public void Small_packets_round_trip()
    {
        var buffer = new byte[600];
        Assert.True(TftpCodec.TryParseAck(buffer.AsSpan()[..TftpCodec.WriteAck(buffer, 65535)], out var block));
        Assert.Equal(65535, block);
        var length = TftpCodec.WriteError(buffer, TftpErrorCode.AccessViolation, "no");
        Assert.True(TftpCodec.TryParseError(buffer.AsSpan()[..length], out var code, out var message));
        Assert.Equal((TftpErrorCode.AccessViolation, "no"), (code, message));
        length = TftpCodec.WriteOptionAck(buffer, [new("blksize", "1468"), new("tsize", "42")]);
        Assert.Equal([0, 6, .. "blksize\01468\0tsize\042\0"u8], buffer[..length]);
        TftpCodec.WriteDataHeader(buffer, 7);
        Assert.True(TftpCodec.TryParseData(buffer.AsSpan(0, 9), out block, out var data));
        Assert.Equal((7, 5), (block, data.Length));
    }

    [Fact]
    public void Netascii_turns_lf_into_crlf_and_bare_cr_into_cr_nul()
    {
        Assert.Equal("a\r\nb\r\0c"u8.ToArray(), TftpRoot.ToNetascii("a\nb\rc"u8));
    }

    [Fact]
    public void Random_and_mutated_requests_never_throw()
    {
        var seed = Rrq("undionly.kpxe", "octet", "blksize", "1468", "windowsize", "16");
        Gen.OneOf(
                Gen.Byte.Array[0, 300],
                Gen.Int[0, seed.Length - 1].Array[1, 6].SelectMany(positions => Gen.Byte.Array[positions.Length].Select(values =>
                {
                    var copy = (byte[])seed.Clone();
                    for (var i = 0; i < positions.Length; i++)
                    {
                        copy[positions[i]] = values[i];
                    }

                    return copy;
                })))
            .Sample(bytes =>
            {
                if (TftpRequest.TryParse(bytes, out var request, out _))
                {
                    Assert.NotEmpty(request.FileName);
                    _ = request.WriteTo(new byte[1024]);
                }

                // A packet is at most one of these, and only with the opcode that says so.
                var kinds = new[] { TftpCodec.TryParseAck(bytes, out _), TftpCodec.TryParseError(bytes, out _, out _), TftpCodec.TryParseData(bytes, out _, out _) };
                Assert.True(kinds.Count(k => k) <= 1);
            }, iter: 20_000);
    }

    [Fact]
    public void The_firmware_s_read_request_is_byte_for_byte_what_the_server_parses()
    {
        var buffer = new byte[512];
        var length = TftpCodec.WriteRequest(buffer, TftpOpcode.ReadRequest, "undionly.kpxe", "octet", [new("blksize", "1456"), new("tsize", "0")]);

        Assert.Equal(Rrq("undionly.kpxe", "octet", "blksize", "1456", "tsize", "0"), buffer[..length]);
        Assert.True(TftpRequest.TryParse(buffer.AsSpan(0, length), out var request, out _));
        Assert.Equal(("undionly.kpxe", "1456"), (request.FileName, request.Option("blksize")));
    }

    [Fact]
    public void An_option_ack_round_trips_and_a_torn_one_is_refused()
    {
        var buffer = new byte[128];
        var length = TftpCodec.WriteOptionAck(buffer, [new("blksize", "1456"), new("tsize", "70000")]);

        Assert.True(TftpCodec.TryParseOptionAck(buffer.AsSpan(0, length), out var options));
        Assert.Equal([new("blksize", "1456"), new("tsize", "70000")], options);
        Assert.False(TftpCodec.TryParseOptionAck(buffer.AsSpan(0, length - 1), out _));
        Assert.False(TftpCodec.TryParseOptionAck([0, 6, (byte)'x', 0], out _));
        Assert.False(TftpCodec.TryParseOptionAck([0, 3, 0, 1], out _));
    }
}
