using System.Net;
using System.Text;
using System.Text.Json;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Model.Tests.Api;

/// <summary>A client sends a call again only when the answer says nothing was done, and never past its budget.</summary>
public class ControlClientRetryTests
{
    /// <summary>Answers each request with the next scripted (status, code) and keeps the bodies it was sent.</summary>
    private sealed class Scripted(params (HttpStatusCode Status, string? Code)[] answers) : HttpMessageHandler
    {
        private int _next;

        public List<string> Bodies { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Bodies.Add(request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken));
            var (status, code) = answers[Math.Min(_next++, answers.Length - 1)];
            var body = code is null
                ? JsonSerializer.Serialize(new WriteResponse(42, true, 1), ControlJsonContext.Default.WriteResponse)
                : JsonSerializer.Serialize(new ErrorResponse(code, $"scripted {code}"), ControlJsonContext.Default.ErrorResponse);
            return new HttpResponseMessage(status) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        }
    }

    private static ControlClient Client(Scripted handler, double retrySeconds) =>
        new(new Uri("http://control.test:7070"), new HttpClient(handler)) { RetryRefusalsFor = TimeSpan.FromSeconds(retrySeconds) };

    [Fact]
    public async Task A_write_refused_while_the_leadership_moves_is_sent_again_with_the_same_body_and_succeeds()
    {
        var handler = new Scripted((HttpStatusCode.ServiceUnavailable, ErrorCodes.NoLeader), (HttpStatusCode.ServiceUnavailable, ErrorCodes.NotLeader), (HttpStatusCode.OK, null));
        using var client = Client(handler, 10);
        var written = await client.PutAsync("/p/k", "value-1");
        Assert.Equal(42, written.Revision);
        Assert.Equal(3, handler.Bodies.Count);
        Assert.Single(handler.Bodies.Distinct());
        Assert.Contains("value-1", handler.Bodies[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_read_refused_for_want_of_a_quorum_is_retried()
    {
        var handler = new Scripted((HttpStatusCode.ServiceUnavailable, ErrorCodes.NoQuorum), (HttpStatusCode.OK, null));
        using var client = Client(handler, 10);
        await client.DeleteAsync("/p/k");
        Assert.Equal(2, handler.Bodies.Count);
    }

    [Theory]
    [InlineData(ErrorCodes.OutcomeUnknown, HttpStatusCode.GatewayTimeout)]
    [InlineData(ErrorCodes.GrainUnavailable, HttpStatusCode.ServiceUnavailable)]
    [InlineData(ErrorCodes.InvalidArgument, HttpStatusCode.BadRequest)]
    public async Task An_answer_that_may_have_acted_or_is_final_is_never_sent_again(string code, HttpStatusCode status)
    {
        var handler = new Scripted((status, code), (HttpStatusCode.OK, null));
        using var client = Client(handler, 10);
        var ex = await Assert.ThrowsAsync<ControlApiException>(() => client.PutAsync("/p/k", "v"));
        Assert.Equal(code, ex.Code);
        Assert.Single(handler.Bodies);
    }

    [Fact]
    public async Task Without_a_budget_the_first_refusal_is_the_answer_and_with_one_the_last_refusal_is()
    {
        var once = new Scripted((HttpStatusCode.ServiceUnavailable, ErrorCodes.NoLeader), (HttpStatusCode.OK, null));
        using (var client = Client(once, 0))
        {
            Assert.Equal(ErrorCodes.NoLeader, (await Assert.ThrowsAsync<ControlApiException>(() => client.PutAsync("/p/k", "v"))).Code);
        }

        Assert.Single(once.Bodies);

        // A budget of 0.5 s: tries after 0.1 and 0.2 s fit in it, the next (0.4 s later) does not.
        var always = new Scripted((HttpStatusCode.ServiceUnavailable, ErrorCodes.NoQuorum));
        using (var client = Client(always, 0.5))
        {
            Assert.Equal(ErrorCodes.NoQuorum, (await Assert.ThrowsAsync<ControlApiException>(() => client.PutAsync("/p/k", "v"))).Code);
        }

        Assert.InRange(always.Bodies.Count, 2, 3);
    }
}
