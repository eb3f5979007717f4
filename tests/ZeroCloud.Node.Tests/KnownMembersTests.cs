using Microsoft.Extensions.Logging.Abstractions;

namespace ZeroCloud.Node.Tests;

public sealed class KnownMembersTests : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("zc-members-").FullName;

    public void Dispose() => Directory.Delete(_data, recursive: true);

    [Fact]
    public void Members_learned_before_the_folder_is_settled_are_written_once_it_is_and_read_back_by_a_restart()
    {
        var known = new KnownMembers(_data, NullLogger.Instance);
        Assert.Empty(known.Read());

        // Before the disk step is settled nothing lands in the folder (a disk may be mounted over it).
        known.Learned(["https://10.0.0.3:7070", "https://10.0.0.2:7070"]);
        Assert.Empty(Directory.GetFileSystemEntries(_data));

        known.Settled();
        Assert.Equal("https://10.0.0.2:7070\nhttps://10.0.0.3:7070\n", File.ReadAllText(known.Path));

        // A later list replaces it whole (no temporary file left); an empty one keeps what is there.
        known.Learned(["https://10.0.0.4:7070"]);
        known.Learned([]);
        Assert.Equal(["members"], Directory.GetFileSystemEntries(_data).Select(Path.GetFileName));
        Assert.Equal(["https://10.0.0.4:7070"], new KnownMembers(_data, NullLogger.Instance).Read());
    }

    [Fact]
    public void Lines_that_are_not_http_urls_are_ignored()
    {
        File.WriteAllText(Path.Combine(_data, KnownMembers.FileName), "https://10.0.0.2:7070\n\nnot a url\nftp://10.0.0.9/\n  https://10.0.0.2:7070  \nhttp://10.0.0.5:7070\n");
        Assert.Equal(["https://10.0.0.2:7070", "http://10.0.0.5:7070"], new KnownMembers(_data, NullLogger.Instance).Read());
    }
}
