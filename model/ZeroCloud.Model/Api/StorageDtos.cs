namespace ZeroCloud.Model.Api;

/// <summary>
/// A named object of the store (<c>/zc/storage/objects/&lt;name&gt;</c>): a name that points at a blob's digest, like
/// a tag. Written only after every chunk of the blob is on its replicas' disks.
/// </summary>
public sealed record StorageObjectDto(string Name, string Digest, long Size, DateTime Created);

/// <summary>
/// A blob (<c>/zc/storage/blobs/sha256:&lt;hex&gt;</c>): its SHA-256, its size, and the SHA-256 of each of its fixed-size
/// chunks in order (the last may be shorter). A blob no object references is collected after a grace period.
/// </summary>
public sealed record BlobDto(string Digest, long Size, int ChunkSize, IReadOnlyList<string> Chunks, DateTime Created);

/// <summary>
/// Where a chunk's bytes are (<c>/zc/storage/chunks/&lt;hex&gt;</c>): the nodes holding a verified copy on disk (the
/// replicas; cached copies are not listed). While one storage instance repairs it, <see cref="RepairBy"/> names that
/// node until <see cref="RepairUntil"/> (a compare-and-swap claim, so one repairer per chunk).
/// </summary>
public sealed record ChunkDto(string Digest, long Size, IReadOnlyList<string> Nodes, string? RepairBy = null, DateTime? RepairUntil = null);

/// <summary>PUT /v1/blobs and PUT /v1/objects/&lt;name&gt;: what was stored (chunks new to the store, and those it had already).</summary>
public sealed record PutBlobResponse(string Digest, long Size, int Chunks, int NewChunks, IReadOnlyList<string> Nodes, string? Name = null);

public sealed record StorageObjectsResponse(IReadOnlyList<StorageObjectDto> Objects);

/// <summary>One storage instance's own figures (<c>GET /v1/storage/local</c>).</summary>
public sealed record StorageLocalDto(
    string Node,
    long Chunks,
    long UsedBytes,
    long FreeBytes,
    long CorruptFound,
    long Repaired,
    long ScrubbedChunks,
    DateTime? LastScrub,
    long Collected);

/// <summary>One storage node in <c>GET /v1/storage/status</c>: its own figures when it answered.</summary>
public sealed record StorageNodeStatusDto(string Node, string? Address, NodeStatus Status, long ListedChunks, StorageLocalDto? Local, string? Problem);

/// <summary>One object in <c>GET /v1/storage/status</c>: the fewest copies any of its chunks has.</summary>
public sealed record StorageObjectStatusDto(string Name, string Digest, long Size, int Chunks, int MinCopies);

/// <summary>
/// GET /v1/storage/status: objects, bytes (logical, and on disk with every copy), the wanted copies, how many chunks
/// have fewer live copies than that and how many are being repaired, and each storage node.
/// </summary>
public sealed record StorageStatusResponse(
    int Objects,
    int Blobs,
    int ChunkCount,
    long Bytes,
    long StoredBytes,
    int Replicas,
    int UnderReplicated,
    int Repairing,
    int Lost,
    IReadOnlyList<StorageNodeStatusDto> Nodes,
    IReadOnlyList<StorageObjectStatusDto> ObjectList);

/// <summary>
/// POST /v1/storage/scrub: what one instance's scrub found: copies that did not hash to their name, and copies the
/// records list for the node that are not on its disk (<see cref="Missing"/>: a replaced disk, a deleted file).
/// </summary>
public sealed record ScrubReport(string Node, long Scanned, long Corrupt, long Repaired, long Unrepaired, double Seconds, long Missing = 0);

/// <summary>GET /v1/whoami: the role and name the control plane gives the presented credential.</summary>
public sealed record WhoAmIResponse(string Role, string Name);
