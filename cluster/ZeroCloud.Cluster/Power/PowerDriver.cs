using ZeroCloud.Model.Config;

namespace ZeroCloud.Cluster.Power;

/// <summary>A machine's power as its BMC reports it.</summary>
public enum PowerState
{
    Off,
    On,

    /// <summary>Between the two (Redfish's <c>PoweringOn</c>/<c>PoweringOff</c>): read it again.</summary>
    Changing,
}

/// <summary>
/// One machine's baseboard management controller: read the power state, switch it, and set the next boot to PXE. Each
/// call is one request to the BMC; retrying, ordering and confirming are the <see cref="PowerJob"/>'s.
/// </summary>
public interface IPowerDriver : IDisposable
{
    Task<PowerState> StatusAsync(CancellationToken ct);

    Task PowerOnAsync(CancellationToken ct);

    /// <summary>Off now, without a graceful shutdown.</summary>
    Task PowerOffAsync(CancellationToken ct);

    /// <summary>A hard reset of a machine that is on.</summary>
    Task ResetAsync(CancellationToken ct);

    /// <summary>The next boot (only the next) from the network.</summary>
    Task PxeOnceAsync(CancellationToken ct);
}

/// <summary>
/// The BMC refused or failed a request. <see cref="Transient"/>: worth retrying (a timeout, a 5xx, a busy BMC); not so
/// for bad credentials, a missing tool or a request the BMC does not support.
/// </summary>
public sealed class BmcException(string message, bool transient = true) : Exception(message)
{
    public bool Transient { get; } = transient;
}

public static class PowerDrivers
{
    /// <summary>
    /// The driver for <paramref name="bmc"/>, with <paramref name="credentials"/> as the secret holds them
    /// (<c>username:password</c>); a <see cref="BmcException"/> (not transient) when they are not in that form.
    /// </summary>
    public static IPowerDriver For(BmcSpec bmc, ReadOnlySpan<byte> credentials)
    {
        var text = System.Text.Encoding.UTF8.GetString(credentials).TrimEnd('\r', '\n');
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            throw new BmcException($"secret {bmc.Credentials} does not hold \"username:password\" (no ':' after a user name); set it again with zc secret set {bmc.Credentials}", transient: false);
        }

        var (user, password) = (text[..colon], text[(colon + 1)..]);
        return bmc.Protocol switch
        {
            BmcProtocol.Ipmi => new IpmiDriver(bmc.Address, user, password) { CipherSuite = bmc.CipherSuite },
            _ => new RedfishDriver(new Uri(bmc.Address), user, password, bmc.InsecureTls),
        };
    }
}
