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
    public async Task A_corrupted_line_never_lets_an_older_record_win_its_address_is_held()
    {
        // Address 1: bound to client 1, then released, then bound to client 9 (the last record, which gets damaged).
        await using (var store = NewStore())
        {
            await store.LoadAsync(default);
            await store.CommitAsync(L(1), default);
            await store.CommitAsync(L(1, LeaseState.Released), default);
            await store.CommitAsync(L(1) with { ClientKey = "mac:9", Mac = new MacAddress(0x525400000009UL) }, default);
            await store.CommitAsync(L(2), default);
        }

        var lines = (await File.ReadAllLinesAsync(FilePath)).ToList();
        Assert.Contains("mac%3A9", lines[2], StringComparison.Ordinal);
        lines[2] = lines[2].Replace("mac%3A9", "mac%3A8", StringComparison.Ordinal); // its checksum no longer holds
        await File.WriteAllLinesAsync(FilePath, lines);
        await using (var again = NewStore())
        {
            var leases = await again.LoadAsync(default);
            var one = leases.Single(l => l.Address == L(1).Address);
            // Not the older "released" record (which would free the address for anyone): held.
            Assert.Equal(LeaseState.Declined, one.State);
            Assert.True(one.Expires > DateTimeOffset.UtcNow.AddMinutes(59), $"held until {one.Expires:u}");
            Assert.Equal(L(2), leases.Single(l => l.Address == L(2).Address));
        }

        // Written back as held: the next start reads it as held, with no damaged line left.
        await using var third = NewStore();
        Assert.Equal(LeaseState.Declined, (await third.LoadAsync(default)).Single(l => l.Address == L(1).Address).State);
        Assert.All(await File.ReadAllLinesAsync(FilePath), l => Assert.True(FileLeaseStore.TryParse(l, out _), l));
    }

    [Fact]
    public async Task A_corrupted_line_that_names_no_address_refuses_the_file_with_where()
    {
        await using (var store = NewStore())
        {
            await store.LoadAsync(default);
            await store.CommitAsync(L(1), default);
            await store.CommitAsync(L(2), default);
        }

        var lines = (await File.ReadAllLinesAsync(FilePath)).ToList();
        lines[0] = "zcl1 10.77.0.#garbage";
        await File.WriteAllLinesAsync(FilePath, lines);
        await using var again = NewStore();
        var ex = await Assert.ThrowsAsync<InvalidDataException>(() => again.LoadAsync(default));
        Assert.Contains($"{FilePath}: line 1 is corrupt", ex.Message, StringComparison.Ordinal);
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
