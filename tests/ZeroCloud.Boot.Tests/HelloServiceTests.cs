using ZeroCloud.TestSupport;

namespace ZeroCloud.Boot.Tests;

/// <summary>zc-hello, the builtin/hello workload: answers who served it, and its health check.</summary>
[Collection("lab")]
[Trait("Category", "Lab")]
public sealed class HelloServiceTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(60);

    [LabFact]
    public async Task Hello_answers_and_reports_healthy()
    {
        await using var lab = await NetnsLab.CreateAsync("svc", "client");
        await lab.AddressAsync("svc", "10.77.0.30/24");
        await lab.AddressAsync("client", "10.77.0.31/24");
        var hello = lab.Start("svc", "dotnet", NetnsLab.ServiceBinary("ZeroCloud.Hello", "zc-hello.dll", "node"), "--port", "8080");
        await hello.WaitForLineAsync(l => l.Contains("zc-hello: listening on port 8080", StringComparison.Ordinal), Long, what: "zc-hello to listen");
        var (code, body) = await lab.RunAsync("client", Long, "curl", "-sS", "--retry", "5", "--retry-connrefused", "http://10.77.0.30:8080/");
        Assert.True(code == 0, body);
        Assert.StartsWith("hello from ", body, StringComparison.Ordinal);
        (code, body) = await lab.RunAsync("client", Long, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://10.77.0.30:8080/healthz");
        Assert.Equal("200", body.Trim());
        var (bad, output) = await lab.RunAsync("svc", Long, "dotnet", NetnsLab.ServiceBinary("ZeroCloud.Hello", "zc-hello.dll", "node"), "--port", "x");
        Assert.Equal(2, bad);
        Assert.Contains("zc-hello:", output, StringComparison.Ordinal);
    }
}
