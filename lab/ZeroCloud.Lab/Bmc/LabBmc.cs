using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ZeroCloud.Lab.Bmc;

/// <summary>
/// The lab's BMC for a <see cref="QemuMachine"/>: a small Redfish service (DMTF DSP0266; the subset Ironic, Metal3 and
/// Tinkerbell's Rufio use) over HTTPS with a self-signed certificate and basic authentication, as BMCs ship.
/// <c>/redfish/v1</c> lists one ComputerSystem; its <c>PowerState</c> is whether QEMU runs; <c>#ComputerSystem.Reset</c>
/// takes <c>On</c>, <c>ForceOff</c>, <c>ForceRestart</c> and <c>PowerCycle</c> (QMP <c>system_reset</c>, or a cold start
/// when a PXE-once boot is due, since QEMU reads its boot order when it starts); a PATCH of <c>Boot</c> with
/// <c>BootSourceOverrideTarget: Pxe</c> and <c>BootSourceOverrideEnabled: Once</c> makes the next boot a network boot,
/// then the override is spent. A PATCH must carry the system's ETag in <c>If-Match</c> (412 otherwise, as iLO does).
/// <see cref="FailNext"/> makes it answer 503 to that many requests, as a busy BMC does.
/// </summary>
public sealed class LabBmc : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly QemuMachine _machine;
    private readonly string _authorization;
    private readonly string _system;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Guid _uuid = Guid.NewGuid();
    private int _generation = 1;
    private int _failNext;

    private LabBmc(WebApplication app, QemuMachine machine, string user, string password)
    {
        _app = app;
        _machine = machine;
        _authorization = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));
        _system = $"/redfish/v1/Systems/{machine.Name}";
    }

    /// <summary>The service root, <c>https://&lt;address&gt;:&lt;port&gt;/redfish/v1</c>.</summary>
    public Uri ServiceRoot => new(new Uri(_app.Urls.First()), "/redfish/v1");

    public string SystemPath => _system;

    public string BootTarget { get; private set; } = "None";

    public string BootEnabled { get; private set; } = "Disabled";

    /// <summary>Requests to answer with 503 before answering again.</summary>
    public int FailNext { get => Volatile.Read(ref _failNext); set => Volatile.Write(ref _failNext, value); }

    /// <summary>Every request, in order: method, path and, for a POST or PATCH, its body.</summary>
    public IReadOnlyList<string> Requests { get { lock (_requests) { return [.. _requests]; } } }

    private readonly List<string> _requests = [];

    /// <summary>Serves <paramref name="machine"/>'s BMC on <paramref name="address"/> (port 0: any free one).</summary>
    public static async Task<LabBmc> StartAsync(QemuMachine machine, IPEndPoint address, string user, string password)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN=bmc-{machine.Name}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        var certificate = X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), null);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(address, l => l.UseHttps(certificate)));
        var app = builder.Build();
        var bmc = new LabBmc(app, machine, user, password);
        app.Run(bmc.HandleAsync);
        await app.StartAsync().ConfigureAwait(false);
        return bmc;
    }

    private async Task HandleAsync(HttpContext ctx)
    {
        var body = ctx.Request.Method is "POST" or "PATCH" ? await new StreamReader(ctx.Request.Body).ReadToEndAsync(ctx.RequestAborted).ConfigureAwait(false) : "";
        var path = ctx.Request.Path.Value!.TrimEnd('/');
        lock (_requests)
        {
            _requests.Add($"{ctx.Request.Method} {path}{(body.Length > 0 ? " " + body : "")}");
        }

        int status;
        JsonNode? answer;
        await _gate.WaitAsync(ctx.RequestAborted).ConfigureAwait(false);
        try
        {
            (status, answer) = await HandleAsync(ctx, path, body).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is QmpException or IOException or InvalidOperationException)
        {
            (status, answer) = (500, Error("Base.1.8.InternalError", $"The machine did not do it: {ex.Message}"));
        }
        finally
        {
            _gate.Release();
        }

        ctx.Response.StatusCode = status;
        ctx.Response.Headers["OData-Version"] = "4.0";
        if (answer is not null)
        {
            ctx.Response.ContentType = "application/json";
            await ctx.Response.WriteAsync(answer.ToJsonString(), ctx.RequestAborted).ConfigureAwait(false);
        }
    }

    private async Task<(int, JsonNode?)> HandleAsync(HttpContext ctx, string path, string body)
    {
        if (FailNext > 0)
        {
            FailNext--;
            return (503, Error("Base.1.8.ServiceTemporarilyUnavailable", "The service is temporarily unavailable."));
        }

        if (path == "/redfish" && ctx.Request.Method == "GET")
        {
            return (200, new JsonObject { ["v1"] = "/redfish/v1/" });
        }

        if (ctx.Request.Headers.Authorization.ToString() != _authorization && path != "/redfish/v1")
        {
            ctx.Response.Headers.WWWAuthenticate = "Basic realm=\"Redfish\"";
            return (401, Error("Base.1.8.AccessDenied", "While attempting to establish a connection, the credentials were denied."));
        }

        switch (ctx.Request.Method, path)
        {
            case ("GET", "/redfish/v1"):
                return (200, new JsonObject
                {
                    ["@odata.id"] = "/redfish/v1/",
                    ["@odata.type"] = "#ServiceRoot.v1_5_0.ServiceRoot",
                    ["Id"] = "RootService",
                    ["Name"] = "ZeroCloud lab BMC",
                    ["RedfishVersion"] = "1.11.0",
                    ["UUID"] = _uuid.ToString(),
                    ["Systems"] = new JsonObject { ["@odata.id"] = "/redfish/v1/Systems" },
                });
            case ("GET", "/redfish/v1/Systems"):
                return (200, new JsonObject
                {
                    ["@odata.id"] = "/redfish/v1/Systems",
                    ["@odata.type"] = "#ComputerSystemCollection.ComputerSystemCollection",
                    ["Name"] = "Computer System Collection",
                    ["Members"] = new JsonArray(new JsonObject { ["@odata.id"] = _system }),
                    ["Members@odata.count"] = 1,
                });
            case ("GET", _) when path == _system:
                ctx.Response.Headers.ETag = ETag;
                return (200, System());
            case ("PATCH", _) when path == _system:
                if (ctx.Request.Headers.IfMatch.ToString() is { Length: > 0 } ifMatch && ifMatch != ETag && ifMatch != "*")
                {
                    return (412, Error("Base.1.8.PreconditionFailed", "The ETag supplied did not match the ETag required to change this resource."));
                }

                if (JsonNode.Parse(body)?["Boot"] is not JsonObject boot)
                {
                    return (400, Error("Base.1.8.PropertyMissing", "The request body has no Boot object."));
                }

                var target = boot["BootSourceOverrideTarget"]?.GetValue<string>() ?? BootTarget;
                var enabled = boot["BootSourceOverrideEnabled"]?.GetValue<string>() ?? BootEnabled;
                if (target is not ("None" or "Pxe" or "Hdd") || enabled is not ("Disabled" or "Once" or "Continuous"))
                {
                    return (400, Error("Base.1.8.PropertyValueNotInList", $"BootSourceOverrideTarget {target} or BootSourceOverrideEnabled {enabled} is not supported (Target: None, Pxe, Hdd; Enabled: Disabled, Once, Continuous)."));
                }

                (BootTarget, BootEnabled) = (target, enabled);
                _generation++;
                return (204, null);
            case ("POST", _) when path == _system + "/Actions/ComputerSystem.Reset":
                var type = JsonNode.Parse(body)?["ResetType"]?.GetValue<string>();
                switch (type, _machine.IsOn)
                {
                    case ("On", false):
                        await _machine.PowerOnAsync(SpendPxe(), ctx.RequestAborted).ConfigureAwait(false);
                        break;
                    case ("On", true):
                    case ("ForceOff", false):
                        break;
                    case ("ForceOff", true):
                        await _machine.PowerOffAsync(ctx.RequestAborted).ConfigureAwait(false);
                        break;
                    case ("ForceRestart" or "PowerCycle", true):
                        if (BootTarget == "Pxe" && BootEnabled != "Disabled")
                        {
                            // QEMU reads its boot order when it starts: a network boot needs a cold start.
                            await _machine.PowerOffAsync(ctx.RequestAborted).ConfigureAwait(false);
                            await _machine.PowerOnAsync(SpendPxe(), ctx.RequestAborted).ConfigureAwait(false);
                        }
                        else
                        {
                            await _machine.ResetAsync(ctx.RequestAborted).ConfigureAwait(false);
                        }

                        break;
                    case ("ForceRestart" or "PowerCycle", false):
                        return (409, Error("Base.1.8.ActionNotSupported", $"ResetType {type} needs the system on; it is off (use On)."));
                    default:
                        return (400, Error("Base.1.8.ActionParameterValueNotInList", $"The value {type ?? "(none)"} for the parameter ResetType is not in the list of acceptable values (On, ForceOff, ForceRestart, PowerCycle)."));
                }

                _generation++;
                return (204, null);
            default:
                return (404, Error("Base.1.8.ResourceMissingAtURI", $"The resource at the URI {path} was not found."));
        }
    }

    private string ETag => $"W/\"{_generation}\"";

    /// <summary>Whether this boot is a network boot; a Once override is spent by it.</summary>
    private bool SpendPxe()
    {
        var pxe = BootTarget == "Pxe" && BootEnabled != "Disabled";
        if (BootEnabled == "Once")
        {
            (BootTarget, BootEnabled) = ("None", "Disabled");
            _generation++;
        }

        return pxe;
    }

    private JsonObject System() => new()
    {
        ["@odata.id"] = _system,
        ["@odata.type"] = "#ComputerSystem.v1_10_0.ComputerSystem",
        ["Id"] = _machine.Name,
        ["Name"] = _machine.Name,
        ["UUID"] = _uuid.ToString(),
        ["SystemType"] = "Virtual",
        ["Manufacturer"] = "QEMU",
        ["PowerState"] = _machine.IsOn ? "On" : "Off",
        ["Boot"] = new JsonObject
        {
            ["BootSourceOverrideTarget"] = BootTarget,
            ["BootSourceOverrideEnabled"] = BootEnabled,
            ["BootSourceOverrideTarget@Redfish.AllowableValues"] = new JsonArray("None", "Pxe", "Hdd"),
        },
        ["Actions"] = new JsonObject
        {
            ["#ComputerSystem.Reset"] = new JsonObject
            {
                ["target"] = _system + "/Actions/ComputerSystem.Reset",
                ["ResetType@Redfish.AllowableValues"] = new JsonArray("On", "ForceOff", "ForceRestart", "PowerCycle"),
            },
        },
    };

    private static JsonObject Error(string id, string message) => new()
    {
        ["error"] = new JsonObject
        {
            ["code"] = id,
            ["message"] = message,
            ["@Message.ExtendedInfo"] = new JsonArray(new JsonObject { ["MessageId"] = id, ["Message"] = message }),
        },
    };

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync().ConfigureAwait(false);
        _gate.Dispose();
    }
}
