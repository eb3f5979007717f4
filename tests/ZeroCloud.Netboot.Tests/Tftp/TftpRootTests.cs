using ZeroCloud.Netboot.Tftp;

namespace ZeroCloud.Netboot.Tests.Tftp;

public sealed class TftpRootTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("zc-root-").FullName;
    private readonly string _outside = Directory.CreateTempSubdirectory("zc-outside-").FullName;

    public TftpRootTests()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "sub"));
        File.WriteAllText(Path.Combine(_dir, "sub", "file.bin"), "x");
        File.WriteAllText(Path.Combine(_outside, "secret"), "s");
        File.CreateSymbolicLink(Path.Combine(_dir, "escape"), Path.Combine(_outside, "secret"));
        Directory.CreateSymbolicLink(Path.Combine(_dir, "escape-dir"), _outside);
        File.CreateSymbolicLink(Path.Combine(_dir, "inside-link"), Path.Combine(_dir, "sub", "file.bin"));
        File.CreateSymbolicLink(Path.Combine(_dir, "null"), "/dev/null");
    }

    public void Dispose()
    {
        Directory.Delete(_dir, recursive: true);
        Directory.Delete(_outside, recursive: true);
    }

    [Theory]
    [InlineData("sub/file.bin")]
    [InlineData("sub//file.bin")]
    [InlineData("./sub/file.bin")]
    [InlineData("sub\\file.bin")]
    [InlineData("inside-link")]
    public void Names_inside_the_root_resolve(string name)
    {
        var root = new TftpRoot(_dir);
        Assert.True(root.TryResolve(name, out var path, out _, out var reason), reason);
        Assert.Equal(Path.Combine(root.Path, "sub", "file.bin"), path);
    }

    [Theory]
    [InlineData("../etc/passwd", "'..' in the path")]
    [InlineData("sub/../../etc/passwd", "'..' in the path")]
    [InlineData("/etc/passwd", "absolute path")]
    [InlineData("escape", "outside the root")]
    [InlineData("escape-dir/secret", "outside the root")]
    [InlineData("null", "outside the root")]
    [InlineData("sub", "not a regular file")]
    [InlineData("a\u0001b", "control character")]
    public void Escapes_are_refused_with_an_access_violation(string name, string reason)
    {
        var root = new TftpRoot(_dir);
        Assert.False(root.TryResolve(name, out _, out var code, out var why));
        Assert.Equal(TftpErrorCode.AccessViolation, code);
        Assert.Contains(reason, why, StringComparison.Ordinal);
    }

    [Fact]
    public void Very_long_names_are_refused()
    {
        Assert.False(new TftpRoot(_dir).TryResolve(new string('a', 300), out _, out var code, out var why));
        Assert.Equal(TftpErrorCode.AccessViolation, code);
        Assert.Contains("longer than 255", why, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_file_is_not_found()
    {
        Assert.False(new TftpRoot(_dir).TryResolve("nope.bin", out _, out var code, out _));
        Assert.Equal(TftpErrorCode.FileNotFound, code);
    }

    [Fact]
    public void The_ipxe_folder_answers_for_what_the_root_lacks()
    {
        var ipxe = Directory.CreateTempSubdirectory("zc-ipxe-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(ipxe, "undionly.kpxe"), "pxe");
            var root = new TftpRoot(_dir, ipxe);
            Assert.True(root.TryResolve("undionly.kpxe", out var path, out _, out _));
            Assert.Equal(Path.Combine(ipxe, "undionly.kpxe"), path);
            Assert.False(root.TryResolve("../zc-root/sub/file.bin", out _, out _, out _));
        }
        finally
        {
            Directory.Delete(ipxe, recursive: true);
        }
    }
}
