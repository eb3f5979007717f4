using ZeroCloud.Model.Api;

namespace ZeroCloud.Node.Runtime;

/// <summary>The catalogue and the storage instances, from the control plane (the next member when one fails).</summary>
internal sealed class ControlImageSources(ControlEndpoints endpoints, string node) : IImageSources
{
    /// <summary>Where storage instances serve when the spec names no port.</summary>
    private const int StoragePort = 8890;

    public async Task<ImageDto?> ImageAsync(string name, CancellationToken ct)
    {
        var client = endpoints.Current;
        try
        {
            return await client.ImageAsync(name, ct).ConfigureAwait(false);
        }
        catch (ControlApiException ex) when (ex.Status == 404)
        {
            return null;
        }
        catch (ControlApiException ex) when (!ct.IsCancellationRequested)
        {
            endpoints.Failed(client);
            throw new ImageRefusedException($"image {name}: the catalogue could not be read via {client.Server}: {ex.Message}", transient: true);
        }
    }

    public async Task<IReadOnlyList<ImageDto>> ImagesAsync(CancellationToken ct)
    {
        var client = endpoints.Current;
        try
        {
            return (await client.ImagesAsync(ct).ConfigureAwait(false)).Images;
        }
        catch (ControlApiException ex) when (!ct.IsCancellationRequested)
        {
            endpoints.Failed(client);
            throw new ImageRefusedException($"the catalogue could not be read via {client.Server}: {ex.Message}", transient: true);
        }
    }

    public async Task<IReadOnlyList<Uri>> StorageAsync(CancellationToken ct)
    {
        var client = endpoints.Current;
        try
        {
            var nodes = (await client.NodesAsync(ct).ConfigureAwait(false)).Nodes.Where(n => n.Status == NodeStatus.Ready && n.Address is not null).ToDictionary(n => n.Name, StringComparer.Ordinal);
            return [.. (await client.InstancesAsync(ct: ct).ConfigureAwait(false)).Instances
                .Where(v => (v.Instance.Image == "builtin/storage" || ImageReference.Parse(v.Instance.Image)?.Name == "storage") && v.State?.State == InstanceState.Running && nodes.ContainsKey(v.Instance.Node))
                .OrderBy(v => v.Instance.Node == node ? 0 : 1).ThenBy(v => v.Instance.Node, StringComparer.Ordinal)
                .Select(v => new Uri($"https://{nodes[v.Instance.Node].Address}:{(v.Instance.Ports is { Count: > 0 } ports ? ports[0] : StoragePort)}"))];
        }
        catch (ControlApiException ex) when (!ct.IsCancellationRequested)
        {
            endpoints.Failed(client);
            throw new ImageRefusedException($"the storage instances could not be listed via {client.Server}: {ex.Message}", transient: true);
        }
    }
}
