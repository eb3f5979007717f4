namespace ZeroCloud.Lab;

/// <summary>Where things are in a ZeroCloud checkout: its root (the folder with ZeroCloud.sln) and what was built there.</summary>
public static class Repository
{
    public const string Marker = "ZeroCloud.sln";

    /// <summary>The checkout's root above the current folder or this program's folder; null outside a checkout.</summary>
    public static string? Root()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, Marker)))
                {
                    return dir.FullName;
                }
            }
        }

        return null;
    }

    /// <summary>The checkout's root, or an error that says what needs one.</summary>
    public static string RequireRoot(string what) =>
        Root() ?? throw new InvalidOperationException($"{what} runs from a ZeroCloud checkout ({Marker} not found above {Environment.CurrentDirectory} or {AppContext.BaseDirectory})");

    /// <summary>A path under the checkout's root.</summary>
    public static string PathOf(params string[] parts) => Path.Combine([RequireRoot("this"), .. parts]);

    /// <summary>
    /// An assembly built with the same configuration and framework as the running program (a test project's output
    /// is <c>tests/X/bin/&lt;configuration&gt;/&lt;tfm&gt;</c>): <c>&lt;folder&gt;/&lt;project&gt;/bin/&lt;configuration&gt;/&lt;tfm&gt;/&lt;assembly&gt;</c>.
    /// </summary>
    public static string Built(string folder, string project, string assembly)
    {
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));
        var path = Path.Combine(RequireRoot("a built binary"), folder, project, "bin", output.Parent!.Name, output.Name, assembly);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{path} is not built (dotnet build ZeroCloud.sln)");
    }
}
