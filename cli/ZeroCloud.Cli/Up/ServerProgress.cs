using ZeroCloud.Model.Api;

namespace ZeroCloud.Cli.Up;

/// <summary>How far a virtual server got, in order; Suspect and the two ways to be lost come after.</summary>
internal enum ServerPhase
{
    PoweredOn,
    Dhcp,
    Tftp,
    Ipxe,
    Http,
    Booted,
    Joined,
    Ready,
    Suspect,
    LostDown,
    LostOff,
}

/// <summary>
/// One virtual server as <c>zc up</c> follows it: the phase its structured boot events reached, then what the
/// control plane says of its node; lost when its node is Down or its processes are gone. The transitions are pure.
/// </summary>
internal sealed class ServerView(LabServer server)
{
    public LabServer Server { get; } = server;

    public ServerPhase Phase { get; private set; } = ServerPhase.PoweredOn;

    public string? Name { get; private set; }

    public string? Address { get; private set; }

    public string? Problem { get; set; }

    public string LastLine { get; set; } = "";

    public bool IsLost => Phase is ServerPhase.LostDown or ServerPhase.LostOff;

    /// <summary>In: Ready, or lost (nothing more will come of it).</summary>
    public bool IsIn => Phase == ServerPhase.Ready || IsLost;

    /// <summary>The phase as people read it.</summary>
    public string PhaseText => Text(Phase);

    public static string Text(ServerPhase phase) => phase switch
    {
        ServerPhase.PoweredOn => "powered on",
        ServerPhase.LostDown => "lost (Down)",
        ServerPhase.LostOff => "lost (off)",
        ServerPhase.Ready => "Ready",
        ServerPhase.Suspect => "Suspect",
        _ => phase.ToString().ToLowerInvariant(),
    };

    /// <summary>Reached <paramref name="phase"/> or went past it on the way to Ready (a Suspect node had joined).</summary>
    public bool Reached(ServerPhase phase) => !IsLost && Rank(Phase) >= Rank(phase);

    private static int Rank(ServerPhase phase) => phase == ServerPhase.Suspect ? (int)ServerPhase.Joined : (int)phase;

    /// <summary>A boot event from the server's zc-node: phases only move forward; a failure is remembered as the problem.</summary>
    public void Apply(BootEvent e)
    {
        if (IsIn)
        {
            return;
        }

        switch (e.Phase)
        {
            case BootPhase.Failed:
                Problem = e.Detail;
                return;
            case BootPhase.Dhcp:
                Address = e.Address;
                break;
            case BootPhase.Booted:
                Name = e.Name;
                break;
        }

        var phase = e.Phase switch
        {
            BootPhase.Dhcp => ServerPhase.Dhcp,
            BootPhase.Tftp => ServerPhase.Tftp,
            BootPhase.Ipxe => ServerPhase.Ipxe,
            BootPhase.Http => ServerPhase.Http,
            BootPhase.Booted => ServerPhase.Booted,
            BootPhase.Joined => ServerPhase.Joined,
            _ => ServerPhase.PoweredOn,
        };
        if (Rank(phase) > Rank(Phase))
        {
            Phase = phase;
        }
    }

    /// <summary>What the control plane says of the server's node, once it has a name.</summary>
    public void Apply(NodeStatus? status)
    {
        if (Name is null || IsLost)
        {
            return;
        }

        Phase = status switch
        {
            NodeStatus.Ready => ServerPhase.Ready,
            NodeStatus.Down => ServerPhase.LostDown,
            NodeStatus.Suspect => ServerPhase.Suspect,
            _ => Phase,
        };
    }

    /// <summary>Its processes (or a QEMU machine's QEMU) are gone before it was in: switched off (or crashed).</summary>
    public void SwitchedOff(string? why = null)
    {
        if (IsIn)
        {
            return;
        }

        Problem ??= why ?? $"its processes are gone (was at {PhaseText})";
        Phase = ServerPhase.LostOff;
    }
}
