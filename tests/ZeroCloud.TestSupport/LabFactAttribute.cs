namespace ZeroCloud.TestSupport;

/// <summary>
/// A test that builds a lab (network namespaces, iptables, QEMU). It always runs: the tests run as root on Linux
/// (README, CI), and a lab test run otherwise fails with the error of the step it could not take, rather than being
/// skipped and checking nothing. Lab test classes also carry <c>[Trait("Category", "Lab")]</c>, so
/// <c>dotnet test --filter "Category!=Lab"</c> runs the fast unit tests alone.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class LabFactAttribute : FactAttribute;

/// <summary>A lab test with data (see <see cref="LabFactAttribute"/>).</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class LabTheoryAttribute : TheoryAttribute;
