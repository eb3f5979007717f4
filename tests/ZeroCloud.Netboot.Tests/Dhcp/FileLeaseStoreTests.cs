using Microsoft.Extensions.Logging.Abstractions;
using ZeroCloud.Model.Net;
using ZeroCloud.Netboot.Dhcp;

namespace ZeroCloud.Netboot.Tests.Dhcp;

public sealed class FileLeaseStoreTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 27, 12, 0, 0, TimeSpan.Zero);
    private readonly string _dir = Directory.CreateTempSubdirectory("zc-leases-").FullName;

    private string FilePath => Path.Combine(_dir, "leases.log");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Lease L(int n, LeaseState state = LeaseState.Bound, string? host = null) =>
        new(Packets.Ip("10.77.0.0") + (uint)n, new MacAddress(0x525400000000UL + (uint)n), $"mac:{n}", T0.AddMinutes(n), state, host);

    private FileLeaseStore NewStore() => new(FilePath, NullLogger<FileLeaseStore>.Instance);

    [Fact]
    public async Task Committed_leases_survive_a_reopen_and_the_last_record_wins()
    {
        await using (var store = NewStore())
        {
            Assert.Empty(await store.LoadAsync(default));
            await Task.WhenAll(Enumerable.Range(1, 200).Select(i => store.CommitAsync(L(i, host: i == 7 ? "node 7/x" : null), default)));
            await store.CommitAsync(L(5, LeaseState.Released), default);
        }

        await using var again = NewStore();
        var leases = await again.LoadAsync(default);
        Assert.Equal(200, leases.Count);
        Assert.Equal(LeaseState.Released, leases.Single(l => l.Address == L(5).Address).State);
        Assert.Equal(L(7, host: "node 7/x"), leases.Single(l => l.Address == L(7).Address));
    }

    [Fact]
    public async Task Concurrent_commits_share_fsyncs()
    {
        await using var store = NewStore();
        await store.LoadAsync(default);
        await Task.WhenAll(Enumerable.Range(1, 1000).Select(i => store.CommitAsync(L(i), default)));
        Assert.InRange(store.SyncCount, 1, 999);
    }

    [Fact]
    public async Task A_torn_last_line_is_skipped_and_the_rest_kept()
    {
        await using (var store = NewStore())
        {
            await store.LoadAsync(default);
            await store.CommitAsync(L(1), default);
            await store.CommitAsync(L(2), default);
        }

        var text = await File.ReadAllTextAsync(FilePath);
        await File.WriteAllTextAsync(FilePath, text + FileLeaseStore.Format(L(3))[..20]); // crash mid-write
        await using var again = NewStore();
        var leases = await again.LoadAsync(default);
        Assert.Equal([L(1).Address, L(2).Address], leases.Select(l => l.Address));
    }

    [Fact]
    public async Task A_corrupted_line_fails_its_checksum()
    {
        await using (var store = NewStore())
        {
            await store.LoadAsync(default);
            await store.CommitAsync(L(1), default);
        }

        var text = await File.ReadAllTextAsync(FilePath);
        await File.WriteAllTextAsync(FilePath, text.Replace("10.77.0.1 ", "10.77.0.9 ", StringComparison.Ordinal));
        await using var again = NewStore();
        Assert.Empty(await again.LoadAsync(default));
    }

    [Fact]
    public async Task Superseded_records_are_compacted_on_load()
    {
        await using (var store = NewStore())
        {
            await store.LoadAsync(default);
            for (var i = 0; i < 3000; i++)
            {
                await store.CommitAsync(L(1 + (i % 10)), default);
            }
        }

        await using var again = NewStore();
        Assert.Equal(10, (await again.LoadAsync(default)).Count);
        Assert.Equal(10, File.ReadAllLines(FilePath).Length);
    }
}
