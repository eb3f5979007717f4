using System.Text.Json.Serialization;

namespace ZeroCloud.Model.Api;

/// <summary>PUT /v1/kv/{key}: the new value (UTF-8 text); with <see cref="IfModRevision"/>, only if the key is at that revision (0: absent).</summary>
public sealed record PutRequest(string? Value, long? IfModRevision = null);

public sealed record KvDto(string Key, string Value, long CreateRevision, long ModRevision, long Version);

public sealed record RangeResponse(long Revision, IReadOnlyList<KvDto> Kvs);

public sealed record WriteResponse(long Revision, bool Succeeded, int Changed);

/// <summary>One comparison of a transaction. Target: mod, create, version or value; result: =, !=, &lt; or &gt;.</summary>
public sealed record CompareDto(string Key, string Target, string Result, long? Number = null, string? Value = null);

/// <summary>One operation of a transaction: op put (key, value) or delete (key, prefix).</summary>
public sealed record OpDto(string Op, string Key, string? Value = null, bool Prefix = false);

public sealed record TxnRequest(IReadOnlyList<CompareDto>? Compare, IReadOnlyList<OpDto>? Success, IReadOnlyList<OpDto>? Failure);

public sealed record EventDto(long Revision, string Type, string Key, string Value);

public sealed record TxnResponse(bool Succeeded, long Revision, IReadOnlyList<EventDto> Events);

public sealed record MemberDto(string Id, string? Name, string? Api, MemberStatus Status, bool Leader, bool Self);

public sealed record MembersResponse(IReadOnlyList<MemberDto> Members);

/// <summary>POST /v1/members: the Raft address (ip:port) of the member to add.</summary>
public sealed record AddMemberRequest(string Address);

public sealed record StatusResponse(
    string Id,
    string? Name,
    string Api,
    string Role,
    string? Leader,
    long Term,
    long CommitIndex,
    long LastIndex,
    long SnapshotIndex,
    long Revision,
    long CompactedRevision,
    int Keys,
    IReadOnlyList<MemberDto> Members,
    IReadOnlyList<SiloDto>? Silos = null);

/// <summary>An Orleans silo of the control plane, as its membership table row says.</summary>
public sealed record SiloDto(string Address, string? Name, string Status, DateTime IAmAlive);

/// <summary>GET /v1/metrics: requests this member's API received since it started, by route, origin and agent.</summary>
public sealed record MetricsResponse(IReadOnlyList<RequestCountDto> Requests);

/// <summary>Origin: client, member (a write another member forwarded), self (this member calling itself: a bug).</summary>
public sealed record RequestCountDto(string Route, string Origin, string Agent, long Count);

public sealed record DiagnosticDto(string File, int Line, int Column, string Path, string Message);

/// <summary>A refused request: a code for programs, a message for people, and cluster.yaml problems where there were some.</summary>
public sealed record ErrorResponse(string Code, string Message, IReadOnlyList<DiagnosticDto>? Diagnostics = null)
{
    /// <summary>The media type of an error answer: RFC 9457 problem details.</summary>
    public const string MediaType = "application/problem+json";

    /// <summary>RFC 9457: a URI naming the kind of problem, <c>urn:zerocloud:error:&lt;code&gt;</c>.</summary>
    public string? Type { get; init; }

    /// <summary>RFC 9457: a short summary of the kind of problem (the code in words).</summary>
    public string? Title { get; init; }

    /// <summary>RFC 9457: the HTTP status of the answer.</summary>
    public int? Status { get; init; }

    /// <summary>RFC 9457: what went wrong this time (the same as <see cref="Message"/>).</summary>
    public string? Detail { get; init; }

    /// <summary>An error answer as problem details, with the API's code and message (and cluster.yaml diagnostics) as extension members.</summary>
    public static ErrorResponse Problem(int status, string code, string message, IReadOnlyList<DiagnosticDto>? diagnostics = null) =>
        new(code, message, diagnostics) { Type = $"urn:zerocloud:error:{code}", Title = code.Replace('_', ' '), Status = status, Detail = message };
}

public sealed record ApplyResponse(long Revision, string Cluster, int Nodes, int Services, bool Changed);

/// <summary>
/// POST /v1/nodes/{name}/heartbeat: what the agent reports. Address, labels and runtimes are optional; a change in
/// any reported field is written to the node's record, an unchanged heartbeat writes nothing. <see cref="Persistent"/>:
/// whether the agent's data folder survives a reboot (a claimed disk, a host's filesystem; false: RAM only);
/// <see cref="Disk"/>: its data disk in words, or why it has none; <see cref="Disks"/>: each block device it sees, one line each;
/// <see cref="Accelerator"/>: how its VMs run when it runs any, <c>kvm</c> or <c>tcg</c> (emulated: slow to boot and to run).
/// </summary>
public sealed record HeartbeatRequest(
    int Cpus,
    long MemoryBytes,
    string? Address = null,
    IReadOnlyDictionary<string, string>? Labels = null,
    IReadOnlyList<string>? Runtimes = null,
    string? Mac = null,
    IReadOnlyList<string>? Images = null,
    string? Csr = null,
    string? Agent = null,
    bool? Persistent = null,
    string? Disk = null,
    IReadOnlyList<string>? Disks = null,
    string? Accelerator = null);

/// <summary>
/// A node as the store holds it (<c>/zc/nodes/&lt;name&gt;</c>), written by its grain on transitions and inventory
/// changes only. Status: Ready, Suspect or Down; <see cref="Since"/> is when it entered that status.
/// </summary>
public sealed record NodeDto(
    string Name,
    NodeStatus Status,
    DateTime Since,
    int Cpus,
    long MemoryBytes,
    string? Address,
    IReadOnlyDictionary<string, string>? Labels,
    IReadOnlyList<string>? Runtimes,
    long Transitions,
    IReadOnlyList<string>? Images = null,
    string? Mac = null,
    string? Agent = null,
    bool? Persistent = null,
    string? Disk = null,
    IReadOnlyList<string>? Disks = null,
    string? Accelerator = null);

/// <summary>
/// A placement (<c>/zc/instances/&lt;node&gt;/&lt;id&gt;</c>), written by the scheduler: what the node's agent must run.
/// <see cref="SpecRevision"/> is the revision of the applied cluster.yaml it was planned from. <see cref="Runtime"/>:
/// <c>vm</c> or <c>process</c> when spec.boot.runtime asks for one, null for <c>auto</c> (the node picks).
/// </summary>
public sealed record InstanceDto(
    string Id,
    string Service,
    string Node,
    string Image,
    long CpuMillis,
    long MemoryBytes,
    long SpecRevision,
    IReadOnlyList<int>? Ports = null,
    IReadOnlyList<string>? Args = null,
    IReadOnlyDictionary<string, string>? Env = null,
    HealthDto? Health = null,
    string? Runtime = null);

/// <summary>An instance's health check: HTTP GET of Path on Port (2xx/3xx healthy), or a TCP connect when Path is null.</summary>
public sealed record HealthDto(string? Path, int Port, double IntervalSeconds, double TimeoutSeconds, int FailureThreshold);

/// <summary>
/// What a node's agent reports about an instance (<c>/zc/instance-state/&lt;node&gt;/&lt;id&gt;</c>): Pending, Starting,
/// Running, Failed or Stopped, whether its health check passes, and how often it was restarted.
/// </summary>
public sealed record InstanceStateDto(string Id, string Node, InstanceState State, bool Healthy, int Restarts, DateTime Since, string? Detail = null);

/// <summary>GET /v1/instances: each placement with the state its node reported (none yet: Pending).</summary>
public sealed record InstanceView(InstanceDto Instance, InstanceStateDto? State);

public sealed record InstancesResponse(long Revision, IReadOnlyList<InstanceView> Instances);

public sealed record NodesResponse(long Revision, IReadOnlyList<NodeDto> Nodes);

/// <summary>GET /v1/services: each service of the applied spec, its replicas wanted, placed, running and healthy.</summary>
public sealed record ServiceDto(string Name, string Image, int Desired, int Placed, int Running, int Healthy);

/// <summary>
/// A join token (<c>/zc/tokens/&lt;id&gt;</c>): agents send <c>&lt;id&gt;.&lt;secret&gt;</c> as <c>Authorization: Bearer</c> with
/// every heartbeat (the first one is the node's join). One is made when the control plane is bootstrapped.
/// </summary>
public sealed record TokenDto(string Id, string Secret, DateTime Created, DateTime? Expires = null, string? Description = null);

public sealed record TokensResponse(IReadOnlyList<TokenDto> Tokens);

/// <summary>POST /v1/tokens: a new join token, valid for <see cref="TtlSeconds"/> (none: until deleted).</summary>
public sealed record CreateTokenRequest(string? Description = null, double? TtlSeconds = null);

/// <summary>The scheduler's last decision (<c>/zc/scheduler</c>): why it planned, what changed, what it could not place.</summary>
public sealed record SchedulerDto(string Reason, DateTime At, long SpecRevision, int Added, int Removed, IReadOnlyList<string> Unplaced);

public sealed record ServicesResponse(long Revision, long SpecRevision, IReadOnlyList<ServiceDto> Services, SchedulerDto? Scheduler = null);

/// <summary>
/// A node as its grain sees it: status (Ready, Suspect, Down), inventory, the silo holding the grain, and how often
/// the agent should heartbeat (the applied spec's nodes.heartbeat).
/// </summary>
/// <summary>A node's status as a heartbeat answers it. <see cref="Key"/> is the node's own credential, given once: on the join that used up its ticket.</summary>
/// <see cref="Disks"/>: the applied spec's nodes.disks, which disk the agent claims as its data disk.
/// <see cref="Placements"/>: a token of what is placed on the node, as the answering member has it applied (it changes
/// whenever a placement of the node is added, changed or removed): the agent lists its placements when it changes, and
/// otherwise every <see cref="PlacementsToken.RelistEvery"/>, not once a second. Null from members that predate it.
public sealed record NodeStatusDto(string Name, NodeStatus Status, DateTime? LastSeen, int Cpus, long MemoryBytes, long Transitions, string Silo, double HeartbeatSeconds = 1, string? Key = null, string? Certificate = null, IReadOnlyList<ZeroCloud.Model.Config.DiskSelector>? Disks = null, string? Placements = null);

/// <summary>The token of a node's placements (<see cref="NodeStatusDto.Placements"/>): their count and an FNV-1a hash of their keys' revisions.</summary>
public static class PlacementsToken
{
    /// <summary>How often an agent lists its placements when the token has not changed (a safety net, not the path).</summary>
    public static readonly TimeSpan RelistEvery = TimeSpan.FromSeconds(10);

    /// <summary>The token of placements whose keys were last written at these revisions, in key order.</summary>
    public static string Of(IEnumerable<long> modRevisions)
    {
        var hash = 14695981039346656037UL;
        var count = 0;
        foreach (var revision in modRevisions)
        {
            count++;
            for (var v = (ulong)revision; ; v >>= 8)
            {
                hash = (hash ^ (v & 0xff)) * 1099511628211UL;
                if (v < 256)
                {
                    break;
                }
            }

            hash = (hash ^ 0x2c) * 1099511628211UL;
        }

        return string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{count}-{hash:x16}");
    }
}

/// <summary>POST /v1/pki/node: a node's CSR (PEM) for a new certificate, asked with its current one (or its key).</summary>
public sealed record NodeCertificateRequest(string Csr);

/// <summary>A node's certificate and the issuing CA (PEM, leaf first): what it presents as a TLS client.</summary>
public sealed record NodeCertificateResponse(string Certificate);

/// <summary>
/// A machine's enrollment ticket (<c>/zc/tickets/&lt;mac&gt;</c>): single use, bound to its MAC, short-lived; only the
/// SHA-256 of its secret is kept. Netboot asks for one when it writes the machine's boot script.
/// </summary>
public sealed record TicketDto(string Mac, string Hash, DateTime Expires);

/// <summary>A node's own credential (<c>/zc/node-keys/&lt;name&gt;</c>), made when its ticket is used up; only the hash is kept.</summary>
public sealed record NodeKeyDto(string Name, string Hash, DateTime Created);

public sealed record CreateTicketRequest(string Mac);

/// <summary>An operator's approval of a pending node (<c>/zc/approvals/&lt;name&gt;</c>), bound to the MAC it was pending with.</summary>
public sealed record ApprovalDto(string Name, string Mac, DateTime At);

/// <summary>An address kept for a trusted node since its enrollment (<c>/zc/reservations/&lt;mac&gt;</c>): the DHCP replicas give it to that MAC only.</summary>
public sealed record ReservationDto(string Mac, string Address, string Node, DateTime Created);

public sealed record TicketResponse(string Ticket, DateTime Expires);

/// <summary>
/// A secret (<c>/zc/secrets/&lt;name&gt;</c>): its value sealed with AES-256-GCM (the name as associated data, so a
/// record cannot be moved to another name), by a key derived from the cluster CA's key (<see cref="Key"/> names it).
/// <see cref="Readers"/>: the services whose nodes may read it, besides the admin.
/// </summary>
public sealed record SecretDto(string Name, IReadOnlyList<string> Readers, DateTime Created, DateTime Updated, int Size, string Key, string Nonce, string Ciphertext, string Tag);

/// <summary>PUT /v1/secrets/&lt;name&gt;: the value (base64) and the services that may read it.</summary>
public sealed record SetSecretRequest(string Value, IReadOnlyList<string>? Readers = null);

/// <summary>What is shown of a secret: never its value.</summary>
public sealed record SecretInfo(string Name, IReadOnlyList<string> Readers, DateTime Created, DateTime Updated, int Size);

public sealed record SecretsResponse(IReadOnlyList<SecretInfo> Secrets);

/// <summary>GET /v1/secrets/&lt;name&gt;: the value (base64), for the admin and the nodes of its readers.</summary>
public sealed record SecretValueResponse(string Name, string Value);

/// <summary>POST /v1/pki/member: a joining member's CSR (PEM), the addresses its API serves on, and its Raft endpoint (ip:port).</summary>
public sealed record MemberCertificateRequest(string Csr, IReadOnlyList<string> Addresses, string? Raft = null);

/// <summary>The member's certificate, and the cluster's CA (the issuing CA's key included: members sign), sent over TLS only.</summary>
public sealed record MemberCertificateResponse(string Certificate, string Issuing, string Root, string IssuingKey);

/// <summary>
/// An operator credential (<c>/zc/operators/&lt;id&gt;</c>): <see cref="Role"/> is <c>admin</c> or <c>read-only</c>; only the
/// SHA-256 of the secret is kept. Sent as <c>Authorization: Bearer op:&lt;id&gt;.&lt;secret&gt;</c>.
/// </summary>
public sealed record OperatorDto(string Id, string Hash, string Role, DateTime Created, DateTime? Expires = null, string? Description = null);

/// <summary>POST /v1/operators: a new operator credential with <see cref="Role"/>, valid for <see cref="TtlSeconds"/> (default one hour).</summary>
public sealed record CreateOperatorRequest(string Role, double? TtlSeconds = null, string? Description = null);

/// <summary>The new credential, shown once: its secret is not kept.</summary>
public sealed record OperatorResponse(string Id, string Role, string Credential, DateTime? Expires);

/// <summary>An operator credential without its hash, as GET /v1/operators lists it.</summary>
public sealed record OperatorInfo(string Id, string Role, DateTime Created, DateTime? Expires, string? Description);

public sealed record OperatorsResponse(IReadOnlyList<OperatorInfo> Operators);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(PutRequest))]
[JsonSerializable(typeof(RangeResponse))]
[JsonSerializable(typeof(WriteResponse))]
[JsonSerializable(typeof(TxnRequest))]
[JsonSerializable(typeof(TxnResponse))]
[JsonSerializable(typeof(EventDto))]
[JsonSerializable(typeof(MembersResponse))]
[JsonSerializable(typeof(AddMemberRequest))]
[JsonSerializable(typeof(StatusResponse))]
[JsonSerializable(typeof(MetricsResponse))]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(ApplyResponse))]
[JsonSerializable(typeof(ApiError))]
[JsonSerializable(typeof(HeartbeatRequest))]
[JsonSerializable(typeof(NodeStatusDto))]
[JsonSerializable(typeof(NodeDto))]
[JsonSerializable(typeof(InstanceDto))]
[JsonSerializable(typeof(InstanceStateDto))]
[JsonSerializable(typeof(InstancesResponse))]
[JsonSerializable(typeof(NodesResponse))]
[JsonSerializable(typeof(ServicesResponse))]
[JsonSerializable(typeof(SchedulerDto))]
[JsonSerializable(typeof(TokenDto))]
[JsonSerializable(typeof(TokensResponse))]
[JsonSerializable(typeof(CreateTokenRequest))]
[JsonSerializable(typeof(LeaseRecord))]
[JsonSerializable(typeof(TicketDto))]
[JsonSerializable(typeof(ApprovalDto))]
[JsonSerializable(typeof(ReservationDto))]
[JsonSerializable(typeof(SecretDto))]
[JsonSerializable(typeof(ImageDto))]
[JsonSerializable(typeof(ImagesResponse))]
[JsonSerializable(typeof(PushImageRequest))]
[JsonSerializable(typeof(PushImageResponse))]
[JsonSerializable(typeof(NodeCertificateRequest))]
[JsonSerializable(typeof(NodeCertificateResponse))]
[JsonSerializable(typeof(SetSecretRequest))]
[JsonSerializable(typeof(SecretsResponse))]
[JsonSerializable(typeof(SecretInfo))]
[JsonSerializable(typeof(SecretValueResponse))]
[JsonSerializable(typeof(AuditDto))]
[JsonSerializable(typeof(AuditResponse))]
[JsonSerializable(typeof(NodeKeyDto))]
[JsonSerializable(typeof(CreateTicketRequest))]
[JsonSerializable(typeof(TicketResponse))]
[JsonSerializable(typeof(MemberCertificateRequest))]
[JsonSerializable(typeof(MemberCertificateResponse))]
[JsonSerializable(typeof(OperatorDto))]
[JsonSerializable(typeof(CreateOperatorRequest))]
[JsonSerializable(typeof(OperatorResponse))]
[JsonSerializable(typeof(OperatorsResponse))]
[JsonSerializable(typeof(StorageObjectDto))]
[JsonSerializable(typeof(BlobDto))]
[JsonSerializable(typeof(ChunkDto))]
[JsonSerializable(typeof(PutBlobResponse))]
[JsonSerializable(typeof(StorageObjectsResponse))]
[JsonSerializable(typeof(StorageLocalDto))]
[JsonSerializable(typeof(StorageStatusResponse))]
[JsonSerializable(typeof(ScrubReport))]
[JsonSerializable(typeof(WhoAmIResponse))]
[JsonSerializable(typeof(PowerRequest))]
[JsonSerializable(typeof(PowerJobDto))]
[JsonSerializable(typeof(PowerJobsResponse))]
public sealed partial class ControlJsonContext : JsonSerializerContext;
