using ZeroCloud.Node.Runtime;

namespace ZeroCloud.Node.Tests;

/// <summary>
/// The agent's sweep deletes an instance's data only when an answer from the same cluster, newer than the one that
/// placed it, no longer lists it: never on an empty answer from a wiped store (its revisions start again) or from
/// another cluster, never for a folder nothing says anything about.
/// </summary>
public sealed class SafeSweepTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("zc-sweep-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private void Marker(string json) => File.WriteAllText(Path.Combine(_folder, "placement.json"), json);

    [Fact]
    public void A_placement_gone_in_a_newer_answer_of_the_same_cluster_is_deleted()
    {
        Marker("""{"cluster":"AB12","revision":100}""");
        Assert.True(InstanceAgent.MayDelete(_folder, "AB12", 101, out var why), why);
    }

    [Fact]
    public void An_empty_answer_from_a_wiped_store_whose_revisions_started_again_deletes_nothing()
    {
        Marker("""{"cluster":"AB12","revision":100}""");
        Assert.False(InstanceAgent.MayDelete(_folder, "AB12", 7, out var why));
        Assert.Contains("not newer", why, StringComparison.Ordinal);
        Assert.False(InstanceAgent.MayDelete(_folder, "AB12", 100, out _));
    }

    [Fact]
    public void An_answer_from_another_cluster_deletes_nothing()
    {
        Marker("""{"cluster":"AB12","revision":100}""");
        Assert.False(InstanceAgent.MayDelete(_folder, "CD34", 5000, out var why));
        Assert.Contains("another cluster", why, StringComparison.Ordinal);
        Assert.False(InstanceAgent.MayDelete(_folder, "", 5000, out _));
    }

    [Fact]
    public void A_folder_without_a_marker_or_with_a_broken_one_is_kept()
    {
        Assert.False(InstanceAgent.MayDelete(_folder, "AB12", 5000, out var why));
        Assert.Contains("no placement.json", why, StringComparison.Ordinal);
        Marker("{not json");
        Assert.False(InstanceAgent.MayDelete(_folder, "AB12", 5000, out why));
        Assert.Contains("unreadable", why, StringComparison.Ordinal);
    }
}
