namespace ZeroCloud.Model.Api;

/// <summary>Where the typed objects of a cluster live in the control plane's store. Every value is JSON.</summary>
public static class StoreKeys
{
    /// <summary>The applied cluster.yaml (its text).</summary>
    public const string Spec = "/zc/spec";

    /// <summary><c>/zc/nodes/&lt;name&gt;</c>: <see cref="NodeDto"/>, written by the node's grain.</summary>
    public const string Nodes = "/zc/nodes/";

    /// <summary><c>/zc/instances/&lt;node&gt;/&lt;id&gt;</c>: <see cref="InstanceDto"/>, written by the scheduler only.</summary>
    public const string Instances = "/zc/instances/";

    /// <summary><c>/zc/instance-state/&lt;node&gt;/&lt;id&gt;</c>: <see cref="InstanceStateDto"/>, written by the node's agent.</summary>
    public const string InstanceStates = "/zc/instance-state/";

    /// <summary>The scheduler's last decision; every placement change compares its revision, so two planners never interleave.</summary>
    public const string Scheduler = "/zc/scheduler";

    /// <summary><c>/zc/tokens/&lt;id&gt;</c>: <see cref="TokenDto"/>, join tokens.</summary>
    public const string Tokens = "/zc/tokens/";

    /// <summary><c>/zc/leases/&lt;address&gt;</c>: <see cref="LeaseRecord"/>, written by the DHCP replicas.</summary>
    public const string Leases = "/zc/leases/";

    /// <summary>
    /// <c>/zc/reservations/&lt;mac, 12 hex digits&gt;</c>: <see cref="ReservationDto"/>, the address a trusted node enrolled
    /// with, kept for it by every DHCP replica (no other machine gets it, also while the node is off).
    /// </summary>
    public const string Reservations = "/zc/reservations/";

    public static string Reservation(Net.MacAddress mac) => Reservations + mac.ToCompactString();

    /// <summary><c>/zc/tickets/&lt;mac, 12 hex digits&gt;</c>: <see cref="TicketDto"/>, single-use enrollment tickets.</summary>
    public const string Tickets = "/zc/tickets/";

    /// <summary><c>/zc/node-keys/&lt;name&gt;</c>: <see cref="NodeKeyDto"/>, each node's own credential (its hash).</summary>
    public const string NodeKeys = "/zc/node-keys/";

    /// <summary><c>/zc/approvals/&lt;name&gt;</c>: <see cref="ApprovalDto"/>, nodes an operator approved under enroll: approve.</summary>
    public const string Approvals = "/zc/approvals/";

    /// <summary><c>/zc/operators/&lt;id&gt;</c>: <see cref="OperatorDto"/>, operator credentials (their hash and role).</summary>
    public const string Operators = "/zc/operators/";

    public static string Operator(string id) => Operators + id;

    /// <summary><c>/zc/secrets/&lt;name&gt;</c>: <see cref="SecretDto"/>, sealed with a key derived from the cluster CA's key (never in the store).</summary>
    public const string Secrets = "/zc/secrets/";

    public static string SecretOf(string name) => Secrets + name;

    /// <summary>
    /// The prefixes that hold credentials (join tokens, tickets, node keys, operator credentials, sealed secrets): only
    /// the admin role reads them, in a get, a range or a watch.
    /// </summary>
    public static readonly string[] Secret = [Tokens, Tickets, NodeKeys, Operators, Secrets];

    /// <summary>Whether <paramref name="key"/> holds a credential (see <see cref="Secret"/>).</summary>
    public static bool IsSecret(string key) => Secret.Any(p => key.StartsWith(p, StringComparison.Ordinal));

    /// <summary>Whether a range over <paramref name="prefix"/> may reach a credential.</summary>
    public static bool MayReachSecret(string prefix) => Secret.Any(p => p.StartsWith(prefix, StringComparison.Ordinal) || prefix.StartsWith(p, StringComparison.Ordinal));

    /// <summary><c>/zc/images/&lt;name&gt;</c>: <see cref="ImageDto"/>, the image catalogue (signed manifests; the files are in the store).</summary>
    public const string Images = "/zc/images/";

    public static string Image(string name) => Images + name;

    /// <summary>The store's metadata: objects (name → digest), blobs (digest → chunks) and chunks (digest → nodes).</summary>
    public const string Storage = "/zc/storage/";

    public const string StorageObjects = Storage + "objects/";

    public const string StorageBlobs = Storage + "blobs/";

    public const string StorageChunks = Storage + "chunks/";

    public static string StorageObject(string name) => StorageObjects + name;

    /// <summary>A blob's key, by its digest <c>sha256:&lt;hex&gt;</c>.</summary>
    public static string StorageBlob(string digest) => StorageBlobs + digest;

    /// <summary>A chunk's key, by the 64 hex digits of its SHA-256.</summary>
    public static string StorageChunk(string hex) => StorageChunks + hex;

    public static string Approval(string name) => Approvals + name;

    /// <summary><c>/zc/power/jobs/&lt;node&gt;/&lt;time&gt;-&lt;random&gt;</c>: <see cref="PowerJobDto"/>, the last power jobs of each machine.</summary>
    public const string PowerJobs = "/zc/power/jobs/";

    public static string PowerJob(string node, string id) => $"{PowerJobs}{node}/{id}";

    /// <summary><c>/zc/audit/&lt;time&gt;-&lt;random&gt;</c>: <see cref="AuditDto"/>, the audit log.</summary>
    public const string Audit = "/zc/audit/";

    public static string Ticket(Net.MacAddress mac) => Tickets + mac.ToCompactString();

    public static string NodeKey(string name) => NodeKeys + name;

    public static string Node(string name) => Nodes + name;

    public static string Token(string id) => Tokens + id;

    public static string Instance(string node, string id) => $"{Instances}{node}/{id}";

    public static string InstanceState(string node, string id) => $"{InstanceStates}{node}/{id}";
}
