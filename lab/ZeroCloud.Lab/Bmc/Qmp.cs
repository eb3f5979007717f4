using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ZeroCloud.Lab.Bmc;

/// <summary>QEMU refused a QMP command: its class and description.</summary>
public sealed class QmpException(string message) : Exception(message);

/// <summary>
/// A client of QEMU's machine protocol (QMP) on its unix socket: one JSON object a line, the greeting answered with
/// <c>qmp_capabilities</c>, then one command at a time; asynchronous events between the answers are skipped.
/// </summary>
public sealed class QmpClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly StreamReader _reader;
    private readonly NetworkStream _stream;
    private readonly SemaphoreSlim _gate = new(1, 1);

    private QmpClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
        _reader = new StreamReader(_stream, Encoding.UTF8);
    }

    /// <summary>Connects to <paramref name="path"/>, waiting up to <paramref name="wait"/> for QEMU to create it.</summary>
    public static async Task<QmpClient> ConnectAsync(string path, TimeSpan wait, CancellationToken ct)
    {
        var until = DateTime.UtcNow + wait;
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), ct).ConfigureAwait(false);
                var client = new QmpClient(socket);
                var greeting = await client.ReadAsync(ct).ConfigureAwait(false);
                if (greeting["QMP"] is null)
                {
                    throw new QmpException($"{path} did not greet with QMP: {greeting.ToJsonString()}");
                }

                await client.ExecuteAsync("qmp_capabilities", null, ct).ConfigureAwait(false);
                return client;
            }
            catch (SocketException) when (DateTime.UtcNow < until)
            {
                socket.Dispose();
                await Task.Delay(50, ct).ConfigureAwait(false);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
    }

    /// <summary>Runs <paramref name="command"/> and returns its <c>return</c> value; a <see cref="QmpException"/> with QEMU's error.</summary>
    public async Task<JsonNode?> ExecuteAsync(string command, JsonObject? arguments, CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var request = new JsonObject { ["execute"] = command };
            if (arguments is not null)
            {
                request["arguments"] = arguments;
            }

            await _stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToJsonString() + "\n"), ct).ConfigureAwait(false);
            while (true)
            {
                var answer = await ReadAsync(ct).ConfigureAwait(false);
                if (answer["event"] is not null)
                {
                    continue;
                }

                if (answer["error"] is { } error)
                {
                    throw new QmpException($"{command}: {error["class"]?.GetValue<string>()}: {error["desc"]?.GetValue<string>()}");
                }

                return answer["return"];
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<JsonObject> ReadAsync(CancellationToken ct)
    {
        var line = await _reader.ReadLineAsync(ct).ConfigureAwait(false) ?? throw new QmpException("QEMU closed the QMP socket");
        try
        {
            return JsonNode.Parse(line) as JsonObject ?? throw new QmpException($"QMP sent {line}");
        }
        catch (JsonException ex)
        {
            throw new QmpException($"QMP sent a line that is not JSON ({ex.Message}): {line}");
        }
    }

    public ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _stream.Dispose();
        _socket.Dispose();
        _gate.Dispose();
        return ValueTask.CompletedTask;
    }
}
