using ZeroCloud.Model.Api;

namespace ZeroCloud.Node.Runtime;

/// <summary>The catalogue and the storage instances, from the control plane (the next member when one fails).</summary>
internal sealed class ControlImageSources(ControlEndpoints endpoints, string node) : IImageSources
{
    /// <summary>Where storage instances serve when the spec names no port.</summary>
    private const int StoragePort = 8890;

    public Task<ImageDto?> ImageAsync(string name, CancellationToken ct) =>
        CallAsync<ImageDto?>(
            async client =>
            {
                try
                {
                    return await client.ImageAsync(name, ct).ConfigureAwait(false);
                }
                catch (ControlApiException ex) when (ex.Status == 404)
                {
                    return null;
                }
            },
            $"image {name}: the catalogue",
            ct);

    public Task<IReadOnlyList<ImageDto>> ImagesAsync(CancellationToken ct) =>
        CallAsync(async client => (await client.ImagesAsync(ct).ConfigureAwait(false)).Images, "the catalogue", ct);

    public Task<IReadOnlyList<Uri>> StorageAsync(CancellationToken ct) =>
        CallAsync<IReadOnlyList<Uri>>(
            async client =>
            {
                var nodes = (await client.NodesAsync(ct).ConfigureAwait(false)).Nodes.Where(n => n.Status == NodeStatus.Ready && n.Address is not null).ToDictionary(n => n.Name, StringComparer.Ordinal);
                return [.. (await client.InstancesAsync(ct: ct).ConfigureAwait(false)).Instances
                    .Where(v => (v.Instance.Image == "builtin/storage" || ImageReference.Parse(v.Instance.Image)?.Name == "storage") && v.State?.State == InstanceState.Running && nodes.ContainsKey(v.Instance.Node))
                    .OrderBy(v => v.Instance.Node == node ? 0 : 1).ThenBy(v => v.Instance.Node, StringComparer.Ordinal)
                    .Select(v => new Uri($"https://{nodes[v.Instance.Node].Address}:{(v.Instance.Ports is { Count: > 0 } ports ? ports[0] : StoragePort)}"))];
            },
            "the storage instances",
            ct);

    /// <summary>One call to the current member; a failure moves on to the next member and is a transient refusal of the image.</summary>
    private async Task<T> CallAsync<T>(Func<ControlClient, Task<T>> call, string what, CancellationToken ct)
    {
        var client = endpoints.Current;
        try
        {
            return await call(client).ConfigureAwait(false);
        }
        catch (ControlApiException ex) when (!ct.IsCancellationRequested)
        {
            endpoints.Failed(client);
            throw new ImageRefusedException($"{what} could not be read via {client.Server}: {ex.Message}", transient: true);
        }
    }
}
