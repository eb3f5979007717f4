using CsCheck;
using ZeroCloud.Model.Config;
using ZeroCloud.Netboot.Dhcp;

namespace ZeroCloud.Netboot.Tests.Dhcp;

/// <summary>
/// Random and mutated datagrams never make the parser or the engine throw. Bounded by count
/// (ZC_FUZZ_ITER raises it for a long run by hand).
/// </summary>
public class DhcpFuzzTests
{
    private static readonly long Iterations = long.TryParse(Environment.GetEnvironmentVariable("ZC_FUZZ_ITER"), out var n) ? n : 20_000;
    private static readonly byte[][] Seeds = new[] { "dhclient-discover.hex", "dhclient-request.hex", "udhcpc-discover.hex", "udhcpc-request.hex", "zc-ack-to-dhclient.hex", "qemu-ipxe-discover.hex", "qemu-ipxe-request.hex" }.Select(Packets.Vector).ToArray();

    private static readonly Gen<byte[]> Mutated =
        Gen.Int[0, Seeds.Length - 1].SelectMany(seed => Gen.Int[0, 399].Array[1, 12].SelectMany(positions => Gen.Byte.Array[positions.Length].Select(values =>
        {
            var bytes = (byte[])Seeds[seed].Clone();
            for (var i = 0; i < positions.Length; i++)
            {
                // Bias mutations into the options area, where the structure is.
                bytes[Math.Min(bytes.Length - 1, 236 + (positions[i] % (bytes.Length - 236)))] = values[i];
            }

            return bytes;
        })));

    private static void Check(byte[] bytes, DhcpEngine engine)
    {
        if (DhcpPacket.TryParse(bytes, out var packet, out _))
        {
            var reply = new byte[1500];
            var decision = engine.Handle(packet, DhcpPorts.Server, DateTimeOffset.UnixEpoch, reply);
            if (decision.Length > 0)
            {
                Assert.True(DhcpPacket.TryParse(reply.AsSpan(0, decision.Length), out _, out var error), $"our own reply does not parse: {error}");
            }
        }
    }

    [Fact]
    public void Mutated_real_packets_never_throw()
    {
        var engine = EngineTests.NewEngine();
        Mutated.Sample(bytes => Check(bytes, engine), iter: Iterations, threads: 1);
    }

    [Fact]
    public void Random_bytes_never_throw()
    {
        var engine = EngineTests.NewEngine(mode: DhcpMode.Proxy);
        Gen.Byte.Array[0, 600].Select(b => b.Length >= 240 ? [.. b[..236], 99, 130, 83, 99, .. b[240..]] : b)
            .Sample(bytes => Check(bytes, engine), iter: Iterations, threads: 1);
    }
}
