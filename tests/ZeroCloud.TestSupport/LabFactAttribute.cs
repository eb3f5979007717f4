namespace ZeroCloud.TestSupport;

/// <summary>
/// A test that builds a lab (network namespaces, iptables, QEMU): skipped, with the reason, where the tests do not
/// run as root on Linux. Lab test classes also carry <c>[Trait("Category", "Lab")]</c>, so
/// <c>dotnet test --filter "Category!=Lab"</c> runs the fast unit tests alone.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class LabFactAttribute : FactAttribute
{
    public LabFactAttribute()
    {
        if (!CanBuildLabs)
        {
            Skip = "needs root on Linux: it builds network namespaces (run the tests as root, as CI does)";
        }
    }

    public static bool CanBuildLabs => OperatingSystem.IsLinux() && Environment.UserName == "root";
}

/// <summary>A lab test with data (see <see cref="LabFactAttribute"/>).</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class LabTheoryAttribute : TheoryAttribute
{
    public LabTheoryAttribute()
    {
        if (!LabFactAttribute.CanBuildLabs)
        {
            Skip = "needs root on Linux: it builds network namespaces (run the tests as root, as CI does)";
        }
    }
}
