using ZeroCloud.Model.Api;

namespace ZeroCloud.Cluster.Api;

/// <summary>The silos of the control plane as this member's copy of their membership table lists them; given by the host that runs them.</summary>
public interface ISiloDirectory
{
    IReadOnlyList<SiloDto> Silos();
}
