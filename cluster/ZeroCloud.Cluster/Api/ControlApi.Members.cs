using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ZeroCloud.Cluster.Raft;
using ZeroCloud.Model.Api;
using static ZeroCloud.Cluster.Api.ApiResults;

namespace ZeroCloud.Cluster.Api;

/// <summary>Raft membership, this member's status, the leader's read index, and the API's request counts.</summary>
public sealed partial class ControlApi
{
    private async Task GetMembersAsync(HttpContext ctx)
    {
        var members = await _node.MembersAsync(ctx.RequestAborted).ConfigureAwait(false);
        await JsonAsync(ctx, 200, new MembersResponse([.. members.Select(ToDto)]), ControlJsonContext.Default.MembersResponse).ConfigureAwait(false);
    }

    private async Task AddMemberAsync(HttpContext ctx)
    {
        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        var request = Parse(ctx, body, ControlJsonContext.Default.AddMemberRequest, out var error);
        if (request is null)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidJson, error).ConfigureAwait(false);
            return;
        }

        if (!IPEndPoint.TryParse(request.Address ?? "", out var address) || address.Port == 0)
        {
            await ErrorAsync(ctx, 400, ErrorCodes.InvalidArgument, $"address: \"{request.Address}\" is not a Raft address (ip:port)").ConfigureAwait(false);
            return;
        }

        // A node (whose voter placement let it through) adds only a member on its own address.
        if (Identify(ctx) is { IsNode: true } caller && NodeAddress(caller.Name) is var own && own != address.Address.ToString())
        {
            await ErrorAsync(ctx, 403, ErrorCodes.Forbidden, $"node {caller.Name} may add a member only on its own address ({own ?? "unknown"}), not {ControlNode.Format(address)}").ConfigureAwait(false);
            return;
        }

        if (!_node.IsLeader)
        {
            await ErrorAsync(ctx, 503, ErrorCodes.LeaderChanged, "the leadership moved while the request was handled; nothing was changed; retry").ConfigureAwait(false);
            return;
        }

        if (_node.HasMember(address))
        {
            await GetMembersAsync(ctx).ConfigureAwait(false);
            return;
        }

        LogAdding(ControlNode.Format(address));
        bool added;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted))
        {
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            try
            {
                added = await _node.AddMemberAsync(address, timeout.Token).ConfigureAwait(false);
            }
            catch (Raft.NotLeaderException ex)
            {
                await ErrorAsync(ctx, 503, ErrorCodes.LeaderChanged, $"{ex.Message}; retry").ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException) when (!ctx.RequestAborted.IsCancellationRequested)
            {
                added = false;
            }
        }

        if (!added)
        {
            await ErrorAsync(ctx, 503, ErrorCodes.MemberNotAdded, $"{ControlNode.Format(address)} did not catch up or could not be committed; is a fresh member (`zc serve control` without --bootstrap) listening there?").ConfigureAwait(false);
            return;
        }

        await AuditAsync(ctx, Audit.MemberAdded, ControlNode.Format(address)).ConfigureAwait(false);
        var members = await _node.MembersAsync(ctx.RequestAborted).ConfigureAwait(false);
        await JsonAsync(ctx, 201, new MembersResponse([.. members.Select(ToDto)]), ControlJsonContext.Default.MembersResponse).ConfigureAwait(false);
    }

    private async Task RemoveMemberAsync(HttpContext ctx, string id)
    {
        var body = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        if (!_node.IsLeader)
        {
            await ErrorAsync(ctx, 503, ErrorCodes.LeaderChanged, "the leadership moved while the request was handled; nothing was changed; retry").ConfigureAwait(false);
            return;
        }

        var members = await _node.MembersAsync(ctx.RequestAborted).ConfigureAwait(false);
        var member = members.FirstOrDefault(m => m.Id == id) ?? members.FirstOrDefault(m => m.Name == id);
        if (member is null || !IPEndPoint.TryParse(member.Id, out var address))
        {
            await ErrorAsync(ctx, 404, ErrorCodes.MemberNotFound, $"no member \"{id}\" (members: {string.Join(", ", members.Select(m => m.Id))})").ConfigureAwait(false);
            return;
        }

        if (members.Count == 1)
        {
            await ErrorAsync(ctx, 409, ErrorCodes.LastMember, "the last member cannot be removed").ConfigureAwait(false);
            return;
        }

        LogRemoving(member.Id);
        bool removed;
        try
        {
            removed = await _node.RemoveMemberAsync(address, ctx.RequestAborted).ConfigureAwait(false);
        }
        catch (Raft.NotLeaderException ex)
        {
            await ErrorAsync(ctx, 503, ErrorCodes.LeaderChanged, $"{ex.Message}; retry").ConfigureAwait(false);
            return;
        }

        if (!removed)
        {
            await ErrorAsync(ctx, 503, ErrorCodes.MemberNotRemoved, $"the removal of {member.Id} could not be committed; retry").ConfigureAwait(false);
            return;
        }

        await AuditAsync(ctx, Audit.MemberRemoved, member.Id, member.Name is { } n ? $"name {n}" : null).ConfigureAwait(false);
        var after = await _node.MembersAsync(ctx.RequestAborted).ConfigureAwait(false);
        await JsonAsync(ctx, 200, new MembersResponse([.. after.Select(ToDto)]), ControlJsonContext.Default.MembersResponse).ConfigureAwait(false);
    }

    private async Task StatusAsync(HttpContext ctx) =>
        await JsonAsync(ctx, 200, await BuildStatusAsync(ctx.RequestAborted).ConfigureAwait(false), ControlJsonContext.Default.StatusResponse).ConfigureAwait(false);

    /// <summary>This member's view: its role, term, indexes, store revision, the members and the silos' rows.</summary>
    public async Task<StatusResponse> BuildStatusAsync(CancellationToken ct)
    {
        var members = await _node.MembersAsync(ct).ConfigureAwait(false);
        var (revision, compacted, keys) = _node.Read(s => (s.Revision, s.CompactedRevision, s.Count));
        return new StatusResponse(
            _node.Id,
            _node.Options.Name.Length > 0 ? _node.Options.Name : null,
            _node.Options.ApiUrl,
            _node.Role,
            members.FirstOrDefault(m => m.IsLeader)?.Id,
            _node.Term,
            _node.CommitIndex,
            _node.LastIndex,
            _node.SnapshotIndex,
            revision,
            compacted,
            keys,
            [.. members.Select(ToDto)],
            _services.GetService<ISiloDirectory>()?.Silos());
    }

    /// <summary>GET /v1/read-index (members ask the leader): the leader's commit index once it has confirmed its leadership.</summary>
    private async Task ReadIndexAsync(HttpContext ctx)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted);
        timeout.CancelAfter(TimeSpan.FromSeconds(4));
        try
        {
            var index = await _node.ReadIndexAsync(timeout.Token).ConfigureAwait(false);
            ctx.Response.ContentType = "text/plain";
            await ctx.Response.WriteAsync(index.ToString(System.Globalization.CultureInfo.InvariantCulture), ctx.RequestAborted).ConfigureAwait(false);
        }
        catch (Raft.NotLeaderException ex)
        {
            await ErrorAsync(ctx, 503, ErrorCodes.NotLeader, ex.Message).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // answered as 503 whatever it was
        catch (Exception ex) when (!ctx.RequestAborted.IsCancellationRequested)
#pragma warning restore CA1031
        {
            await ErrorAsync(ctx, 503, ErrorCodes.NoQuorum, ex is OperationCanceledException ? "the leadership could not be confirmed within 4s" : ex.Message).ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "adding member {Address}")]
    private partial void LogAdding(string address);

    [LoggerMessage(Level = LogLevel.Information, Message = "removing member {Address}")]
    private partial void LogRemoving(string address);

    /// <summary>The address node <paramref name="name"/> reported, from its record; null when it has none.</summary>
    private string? NodeAddress(string name)
    {
        var kv = _node.Read(s => s.Get(StoreKeys.Node(name)));
        return kv is null ? null : TypedValues.Read(kv.Key, kv.Value, ControlJsonContext.Default.NodeDto, new List<string>())?.Address;
    }
}
