using System.Diagnostics;
using Xunit.Abstractions;
using ZeroCloud.Cluster.Tests.Lab;
using ZeroCloud.Lab;
using ZeroCloud.Model.Api;
using ZeroCloud.TestSupport;

namespace ZeroCloud.Cluster.Tests;

/// <summary>
/// A member's write-ahead log under faults, with real processes: a full disk (a small tmpfs under the log) answers
/// 507 and keeps the member alive, and writes resume once there is room, with nothing acknowledged lost; a flipped
/// byte in the log, a missing page and a cut snapshot are found at start, and the member refuses to serve from them.
/// </summary>
[Collection("control")]
[Trait("Category", "Lab")]
public sealed class WalFaultTests(ITestOutputHelper output)
{
    private static async Task ShAsync(string command)
    {
        var (code, text) = await Processes.RunAsync("sh", ["-c", command], TimeSpan.FromMinutes(1));
        Assert.True(code == 0, $"{command}: {text}");
    }

    /// <summary>Stops <paramref name="member"/> and puts its folder (its log and snapshots) on a 6 MiB tmpfs of its own, contents kept.</summary>
    private static async Task OnTinyDiskAsync(ControlMember member)
    {
        var stopped = await member.TerminateAsync(TimeSpan.FromSeconds(30));
        Assert.True(stopped == 0, member.Output);
        var saved = member.DataDirectory + ".saved";
        await ShAsync($"mv '{member.DataDirectory}' '{saved}' && mkdir '{member.DataDirectory}' && mount -t tmpfs -o size=6m zc-wal-tiny '{member.DataDirectory}' && cp -a '{saved}/.' '{member.DataDirectory}/'");
    }

    [LabFact]
    public async Task A_full_disk_answers_507_the_member_stays_up_and_writes_resume_when_there_is_room()
    {
        await using var cluster = await ControlCluster.StartAsync(1);
        var member = cluster.Members[0];
        await member.Client.PutAsync("/before", "x");
        await OnTinyDiskAsync(member);
        try
        {
            member.Start();
            await cluster.WaitForAsync(async () => (await member.Client.StatusAsync()).Role == "leader", "the member to lead again");

            // 256 KiB values until the disk is full: each write is acknowledged, or refused with 507.
            var value = new string('v', 256 << 10);
            var acknowledged = new List<string>();
            ControlApiException? refused = null;
            for (var i = 0; i < 100 && refused is null; i++)
            {
                try
                {
                    var w = await member.Client.PutAsync($"/fill/{i:000}", value);
                    Assert.True(w.Succeeded);
                    acknowledged.Add($"/fill/{i:000}");
                }
                catch (ControlApiException ex)
                {
                    refused = ex;
                }
            }

            await Task.Delay(1500);
            output.WriteLine($"{acknowledged.Count} writes acknowledged, then: {refused?.Status} {refused?.Code} {refused?.Message}");
            output.WriteLine(member.Output);
            Assert.NotNull(refused);
            Assert.Equal(507, refused.Status);
            // Alive, and saying why it does not lead: Raft is stopped here until the log can be reopened.
            Assert.True(member.IsRunning, member.Output);
            Assert.Equal("log-failed", (await member.Client.StatusAsync()).Role);
            Assert.Contains("the disk is full", member.Output, StringComparison.Ordinal);
            var stale = await member.Client.RangeAsync("/fill/", stale: true);
            Assert.Equal(acknowledged.Count, stale.Kvs.Count);

            // Room again: writes resume, and every acknowledged one is there.
            await ShAsync($"mount -o remount,size=64m '{member.DataDirectory}'");
            var resumed = Stopwatch.StartNew();
            await cluster.WaitForAsync(async () =>
            {
                try
                {
                    return (await member.Client.PutAsync("/after", "y")).Succeeded;
                }
                catch (ControlApiException)
                {
                    return false;
                }
            }, "a write after space was freed");
            output.WriteLine($"writes resumed {resumed.Elapsed.TotalSeconds:0.0} s after space was freed");
            foreach (var key in acknowledged)
            {
                Assert.Equal(value.Length, (await member.Client.GetAsync(key))!.Value.Length);
            }

            // And they survive a restart from that log.
            Assert.Equal(0, await member.TerminateAsync(TimeSpan.FromSeconds(30)));
            member.Start();
            await cluster.WaitForAsync(async () => (await member.Client.StatusAsync()).Role == "leader", "the member to lead after the restart");
            Assert.Equal(acknowledged.Count, (await member.Client.RangeAsync("/fill/")).Kvs.Count);
            Assert.Equal("y", (await member.Client.GetAsync("/after"))!.Value);
        }
        finally
        {
            await member.KillAsync();
            await Processes.RunAsync("umount", ["-l", member.DataDirectory], TimeSpan.FromSeconds(10));
        }
    }

    [LabFact]
    public async Task Damage_found_when_the_log_is_opened_again_after_a_full_disk_stops_the_member_instead_of_serving_it()
    {
        await using var cluster = await ControlCluster.StartAsync(1);
        var member = cluster.Members[0];
        await OnTinyDiskAsync(member);
        try
        {
            member.Start();
            await cluster.WaitForAsync(async () => (await member.Client.StatusAsync()).Role == "leader", "the member to lead again");
            var value = new string('d', 256 << 10);
            var full = false;
            for (var i = 0; i < 100 && !full; i++)
            {
                try
                {
                    await member.Client.PutAsync($"/fill/{i:000}", value);
                }
                catch (ControlApiException ex) when (ex.Status == 507)
                {
                    full = true;
                }
            }

            Assert.True(full, "the disk never filled");

            // While Raft is stopped here, a byte of an acknowledged value flips on disk; then there is room again.
            var marker = System.Text.Encoding.UTF8.GetBytes(new string('d', 1024));
            var page = Directory.EnumerateFiles(Path.Combine(member.DataDirectory, "wal", "data")).First(f => File.ReadAllBytes(f).AsSpan().IndexOf(marker) >= 0);
            var at = (await File.ReadAllBytesAsync(page)).AsSpan().IndexOf(marker) + 100;
            await using (var stream = new FileStream(page, FileMode.Open, FileAccess.Write))
            {
                // In place: the disk is full, so the file cannot be written anew.
                stream.Position = at;
                stream.WriteByte((byte)('d' ^ 0x01));
            }

            await ShAsync($"mount -o remount,size=64m '{member.DataDirectory}'");

            var watch = Stopwatch.StartNew();
            while (member.IsRunning)
            {
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"the member kept running on a damaged log:\n{member.Output}");
                await Task.Delay(200);
            }

            Assert.Contains("its log is damaged", member.Output, StringComparison.Ordinal);
            Assert.Contains("refuses to serve from damaged state", member.Output, StringComparison.Ordinal);
            Assert.EndsWith("[process exited with code 3]", member.Output.TrimEnd(), StringComparison.Ordinal);
        }
        finally
        {
            await member.KillAsync();
            await Processes.RunAsync("umount", ["-l", member.DataDirectory], TimeSpan.FromSeconds(10));
        }
    }

    /// <summary>Starts <paramref name="member"/> and waits for it to exit by itself: its exit code.</summary>
    private static async Task<int> ExitCodeAsync(ControlMember member, params string[] args)
    {
        member.Start(args);
        int code;
        try
        {
            // WaitForExitAsync returns once the output is read to its end too: the refusal is in it by then.
            code = await member.WaitForExitAsync(TimeSpan.FromSeconds(60));
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"{member.Name} did not stop by itself:\n{member.Output}");
            throw;
        }

        return code == 3 && member.Output.Contains("refuses to serve", StringComparison.Ordinal) ? 3 : code == 3 ? -1 : code;
    }

    [LabFact]
    public async Task A_flipped_byte_a_missing_page_and_a_cut_snapshot_are_found_at_start_and_the_member_rejoins_fresh_by_itself()
    {
        // A snapshot every 20 entries: the first writes end up in a snapshot, the last ones only in the log.
        await using var cluster = await ControlCluster.StartAsync(3, "--snapshot-every", "20");
        var leader = cluster.Leader();
        for (var i = 0; i < 30; i++)
        {
            await leader.Client.PutAsync($"/filler/{i}", $"{i}");
        }

        const string Right = "the-right-value-7f3a9c";
        await leader.Client.PutAsync("/k", Right);
        var victim = cluster.Members.First(m => m != leader);
        await cluster.WaitForAsync(async () => (await victim.Client.GetAsync("/k", stale: true))?.Value == Right, "the follower to have the value");
        Assert.Equal(0, await victim.TerminateAsync(TimeSpan.FromSeconds(30)));
        var folder = victim.DataDirectory;
        var saved = folder + ".good";
        await ShAsync($"cp -a '{folder}' '{saved}'");

        // 1. One flipped byte in the value's bytes in the log (after the last snapshot): found by the entries' XxHash3.
        var page = Directory.EnumerateFiles(Path.Combine(folder, "wal", "data")).Single(f => File.ReadAllBytes(f).AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(Right)) >= 0);
        var bytes = await File.ReadAllBytesAsync(page);
        bytes[bytes.AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(Right)) + 4] ^= 0x20;
        await File.WriteAllBytesAsync(page, bytes);
        Assert.True(await ExitCodeAsync(victim) == 3, victim.Output);
        Assert.Contains("refuses to serve from damaged state", victim.Output, StringComparison.Ordinal);
        Assert.Contains("XxHash3", victim.Output, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(folder, "wal"), victim.Output, StringComparison.Ordinal);

        // 2. A page of the log gone.
        await ShAsync($"rm -rf '{folder}' && cp -a '{saved}' '{folder}' && rm -f '{folder}/wal/data/'*");
        Assert.True(await ExitCodeAsync(victim) == 3, victim.Output);
        output.WriteLine(victim.Output);
        Assert.Contains("a page of the log is missing", victim.Output, StringComparison.Ordinal);

        // 3. The snapshot cut short.
        await ShAsync($"rm -rf '{folder}' && cp -a '{saved}' '{folder}'");
        var snapshot = Directory.EnumerateFiles(Path.Combine(folder, "snapshots")).OrderByDescending(File.GetLastWriteTimeUtc).First();
        await File.WriteAllBytesAsync(snapshot, (await File.ReadAllBytesAsync(snapshot))[..(int)(new FileInfo(snapshot).Length / 2)]);
        Assert.True(await ExitCodeAsync(victim) == 3, victim.Output);
        Assert.Contains("the snapshot is cut short or unreadable", victim.Output, StringComparison.Ordinal);

        // Meanwhile the other two went on. Started with --peers, the damaged member recovers by itself: it has its
        // peers remove it from the configuration, moves its folder aside, starts empty and joins as a new member.
        await leader.Client.PutAsync("/after", "written while it was down");
        await ShAsync($"rm -rf '{saved}'");
        victim.Start("--peers", string.Join(',', cluster.Members.Where(m => m != victim).Select(m => m.Api)));
        await cluster.WaitForAsync(async () => (await victim.Client.GetAsync("/k", stale: true))?.Value == Right, "the damaged member to rejoin by itself and serve the right value");
        await cluster.WaitForMembersAsync(3);
        Assert.Contains("removed from the configuration; its damaged folder is kept at", victim.Output, StringComparison.Ordinal);
        Assert.Single(Directory.GetDirectories(Path.GetDirectoryName(folder)!, Path.GetFileName(folder) + ".damaged-*"));
        Assert.Equal("written while it was down", (await victim.Client.GetAsync("/after", stale: true))!.Value);
        Assert.Equal(30, (await victim.Client.RangeAsync("/filler/", stale: true)).Kvs.Count);
    }

    [LabFact]
    public async Task With_1024_descriptors_a_member_takes_100000_puts_and_holds_no_descriptor_per_log_page()
    {
        await using var cluster = await ControlCluster.StartAsync(1);
        var member = cluster.Members[0];
        // The limit of a process on a booted node is far lower than a developer's shell's: 1024, as PID 1 gets.
        var (code, text) = await Processes.RunAsync("prlimit", ["--pid", $"{member.Pid}", "--nofile=1024:1024"], TimeSpan.FromSeconds(10));
        Assert.True(code == 0, text);

        var value = new string('p', 100);
        var watch = Stopwatch.StartNew();
        var next = -1;
        var failures = 0;
        await Task.WhenAll(Enumerable.Range(0, 32).Select(async _ =>
        {
            for (var i = Interlocked.Increment(ref next); i < 100_000; i = Interlocked.Increment(ref next))
            {
                try
                {
                    Assert.True((await member.Client.PutAsync($"/many/{i:000000}", value)).Succeeded);
                }
                catch (ControlApiException ex)
                {
                    if (Interlocked.Increment(ref failures) < 5)
                    {
                        output.WriteLine($"put {i}: {ex.Status} {ex.Code} {ex.Message}");
                    }
                }
            }
        }));
        var wal = Path.Combine(member.DataDirectory, "wal");
        var open = Directory.GetFiles($"/proc/{member.Pid}/fd").Select(fd => new FileInfo(fd).LinkTarget ?? "").ToList();
        var onLog = open.Count(t => t.StartsWith(wal, StringComparison.Ordinal));
        var pages = Directory.EnumerateFiles(wal, "*", SearchOption.AllDirectories).Count();
        output.WriteLine($"100000 puts in {watch.Elapsed.TotalSeconds:0.0} s ({100_000 / watch.Elapsed.TotalSeconds:0}/s); {failures} failed; {open.Count} descriptors open, {onLog} of them on the log's {pages} files");
        Assert.Equal(0, failures);
        Assert.True(member.IsRunning, member.Output);
        // The log holds no descriptor per page (DotNext's default held one per 4 KiB page: 17,900 at 17,900 pages).
        Assert.True(pages > 1000, $"only {pages} files in the log: the test did not make many pages");
        Assert.True(onLog <= 4, $"{onLog} descriptors on the log's files");
        var status = await member.Client.StatusAsync();
        Assert.True(status.Keys >= 100_000, $"{status.Keys} keys");
        Assert.Equal(value, (await member.Client.GetAsync("/many/099999"))!.Value);
    }
}
