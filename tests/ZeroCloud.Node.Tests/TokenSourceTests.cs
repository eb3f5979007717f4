using ZeroCloud.Model;

namespace ZeroCloud.Node.Tests;

/// <summary>The join token can come from a 0600 file instead of the argument list, which other users can read.</summary>
public class TokenSourceTests
{
    [Fact]
    public void A_token_file_is_written_owner_only_and_read_back_and_both_ways_at_once_are_refused()
    {
        var path = Path.Combine(Path.GetTempPath(), $"zc-token-{Guid.NewGuid():N}", "join-token");
        try
        {
            SecretFile.Write(path, "abc123.s3cret");

            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            }

            var problems = new List<string>();
            Assert.Equal("abc123.s3cret", AgentCommand.TokenFrom(null, path, problems));
            Assert.Empty(problems);

            Assert.Null(AgentCommand.TokenFrom("x.y", path, problems));
            Assert.Contains("not both", Assert.Single(problems), StringComparison.Ordinal);

            problems.Clear();
            Assert.Null(AgentCommand.TokenFrom(null, path + ".missing", problems));
            Assert.StartsWith("--token-file", Assert.Single(problems), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }
}
