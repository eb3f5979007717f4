using System.Globalization;
using Orleans.Storage;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Orleans;

/// <summary>
/// Grain state kept in the control plane's Raft store under <c>/zc/grains/&lt;state&gt;/&lt;grain id&gt;</c>, so a grain's
/// state outlives the silo that held it. The etag is the key's mod revision: a write or clear compares it, and a
/// stale one is refused with Orleans' <see cref="InconsistentStateException"/>. The value is the state serialized by
/// Orleans' grain-storage serializer, base64 (the store holds text).
/// </summary>
public sealed class RaftGrainStorage(IControlStore client, IGrainStorageSerializer serializer) : IGrainStorage
{
    public const string Prefix = "/zc/grains/";

    public static string Key(string stateName, GrainId grainId) =>
        $"{Prefix}{Uri.EscapeDataString(stateName)}/{Uri.EscapeDataString(grainId.ToString())}";

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var kv = await client.GetAsync(Key(stateName, grainId)).ConfigureAwait(false);
        if (kv is null)
        {
            grainState.State = Activator.CreateInstance<T>();
            grainState.ETag = null;
            grainState.RecordExists = false;
            return;
        }

        grainState.State = serializer.Deserialize<T>(new BinaryData(Convert.FromBase64String(kv.Value)));
        grainState.ETag = kv.ModRevision.ToString(CultureInfo.InvariantCulture);
        grainState.RecordExists = true;
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = Key(stateName, grainId);
        var value = Convert.ToBase64String(serializer.Serialize(grainState.State).ToArray());
        var result = await client.TxnAsync(new TxnRequest([Expect(key, grainState.ETag)], [new OpDto("put", key, value)], [])).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            throw await ConflictAsync(key, grainState.ETag).ConfigureAwait(false);
        }

        grainState.ETag = result.Revision.ToString(CultureInfo.InvariantCulture);
        grainState.RecordExists = true;
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = Key(stateName, grainId);
        var result = await client.TxnAsync(new TxnRequest([Expect(key, grainState.ETag)], [new OpDto("delete", key)], [])).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            throw await ConflictAsync(key, grainState.ETag).ConfigureAwait(false);
        }

        grainState.ETag = null;
        grainState.RecordExists = false;
        grainState.State = Activator.CreateInstance<T>();
    }

    /// <summary>No etag: the key must not exist yet; an etag: the key must still be at that revision.</summary>
    private static CompareDto Expect(string key, string? etag) => etag is null
        ? new CompareDto(key, "version", "=", Number: 0)
        : new CompareDto(key, "mod", "=", Number: long.TryParse(etag, NumberStyles.None, CultureInfo.InvariantCulture, out var rev) ? rev : -1);

    private async Task<InconsistentStateException> ConflictAsync(string key, string? etag)
    {
        var current = await client.GetAsync(key).ConfigureAwait(false);
        var stored = current?.ModRevision.ToString(CultureInfo.InvariantCulture);
        return new InconsistentStateException($"the state under {key} changed since it was read (etag {etag ?? "none"}, stored {stored ?? "none"})", stored, etag);
    }
}
