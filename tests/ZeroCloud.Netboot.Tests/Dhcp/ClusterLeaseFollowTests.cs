using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using ZeroCloud.Model.Api;
using ZeroCloud.Model.Net;
using ZeroCloud.Netboot.Dhcp;

namespace ZeroCloud.Netboot.Tests.Dhcp;

/// <summary>
/// The shared-lease follower against a control plane that compacted the history it would resume from (410), and
/// that sends a record it cannot read: it reads the current leases whole and watches on from there, and skips the bad
/// record without stopping.
/// </summary>
public sealed class ClusterLeaseFollowTests
{
    private static Lease Bound(string ip, string mac) =>
        new(Ipv4.ToUInt32(IPAddress.Parse(ip)), MacAddress.Parse(mac), "01" + mac.Replace(":", "", StringComparison.Ordinal), DateTimeOffset.UtcNow.AddHours(1), LeaseState.Bound);

    /// <summary>A control plane in a handler: the watches asked for (their from=), a range at revision 50, 410 below it.</summary>
    private sealed class CompactedControlPlane : HttpMessageHandler
    {
        private int _ranges;

        public List<long> WatchedFrom { get; } = [];

        public Lease Current { get; } = Bound("10.77.1.7", "52:54:00:00:00:07");

        public Lease Later { get; } = Bound("10.77.1.8", "52:54:00:00:00:08");

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var path = request.RequestUri!.AbsolutePath;
            if (path.StartsWith("/v1/watch", StringComparison.Ordinal))
            {
                var from = long.Parse(request.RequestUri.Query.Split("from=")[1], System.Globalization.CultureInfo.InvariantCulture);
                lock (WatchedFrom)
                {
                    WatchedFrom.Add(from);
                }

                if (from < 50)
                {
                    return Json(HttpStatusCode.Gone, JsonSerializer.Serialize(new ErrorResponse(ErrorCodes.Compacted, $"revision {from} is compacted; the oldest kept is 45"), ControlJsonContext.Default.ErrorResponse));
                }

                // A record nobody can read, then a good one, then the stream stays open.
                var lines = string.Concat(
                    JsonSerializer.Serialize(new EventDto(51, "put", ClusterLeaseStore.Prefix + "10.77.1.9", "{not a lease"), ControlJsonContext.Default.EventDto) + "\n",
                    JsonSerializer.Serialize(new EventDto(52, "put", ClusterLeaseStore.Prefix + "10.77.1.8", ClusterLeaseStore.Encode(Later)), ControlJsonContext.Default.EventDto) + "\n");
                await Task.Yield();
                return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(new OpenEndedStream(Encoding.UTF8.GetBytes(lines))) };
            }

            // The first range is the replica's load, at revision 10; by the next one the history before 45 is compacted.
            var range = Interlocked.Increment(ref _ranges) == 1
                ? new RangeResponse(10, [])
                : new RangeResponse(50, [new KvDto(ClusterLeaseStore.Prefix + "10.77.1.7", ClusterLeaseStore.Encode(Current), 40, 40, 1)]);
            return Json(HttpStatusCode.OK, JsonSerializer.Serialize(range, ControlJsonContext.Default.RangeResponse));
        }

        private static HttpResponseMessage Json(HttpStatusCode status, string body) =>
            new(status) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
    }

    /// <summary>Its bytes, then a read that waits until the reader gives up (a watch that stays open).</summary>
    private sealed class OpenEndedStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            await ReadAsync(buffer.AsMemory(offset, count), cancellationToken);

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = await base.ReadAsync(buffer, cancellationToken);
            if (n > 0)
            {
                return n;
            }

            await Task.Delay(Timeout.Infinite, cancellationToken);
            return 0;
        }
    }

    [Fact]
    public async Task After_a_compaction_it_reads_the_leases_whole_and_watches_on_and_a_bad_record_does_not_stop_it()
    {
        using var handler = new CompactedControlPlane();
        using var http = new HttpClient(handler);
        using var store = new ClusterLeaseStore(new ControlClient(new Uri("http://control.test"), http), TimeProvider.System, NullLogger<ClusterLeaseStore>.Instance);
        using var stop = new CancellationTokenSource();
        var seen = new List<Lease>();

        // It loaded at revision 10, which is compacted away by the time it watches.
        Assert.Empty(await store.LoadAsync(CancellationToken.None));
        store.Follow(l => { lock (seen) { seen.Add(l); } }, stop.Token);

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            lock (seen)
            {
                if (seen.Count >= 2)
                {
                    break;
                }
            }

            Assert.True(DateTime.UtcNow < deadline, $"leases seen: {seen.Count}; watches from: {string.Join(", ", handler.WatchedFrom)}");
            await Task.Delay(50);
        }

        await stop.CancelAsync();
        lock (seen)
        {
            Assert.Equal([handler.Current, handler.Later], seen);
        }

        lock (handler.WatchedFrom)
        {
            // Once refused at 11, then from 51 (after the range at 50): never the compacted revision again.
            Assert.Equal([11L, 51L], handler.WatchedFrom.Take(2));
            Assert.DoesNotContain(11L, handler.WatchedFrom.Skip(1));
        }
    }
}
