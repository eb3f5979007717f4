using System.Text.Json;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Model.Tests.Api;

/// <summary>The heartbeat's placements token changes with every change of a node's placements, and only then.</summary>
public class PlacementsTokenTests
{
    [Fact]
    public void The_token_changes_when_a_placement_is_added_removed_or_rewritten_and_not_otherwise()
    {
        long[] placed = [120, 130, 145];
        var token = PlacementsToken.Of(placed);
        Assert.Equal(token, PlacementsToken.Of([120, 130, 145]));

        // Added, removed (the first, the last: the highest revision alone would miss the first), rewritten, replaced in
        // one transaction (one key gone, another written at a new revision), none at all.
        string[] others =
        [
            PlacementsToken.Of([120, 130, 145, 160]),
            PlacementsToken.Of([130, 145]),
            PlacementsToken.Of([120, 130]),
            PlacementsToken.Of([120, 161, 145]),
            PlacementsToken.Of([130, 145, 162]),
            PlacementsToken.Of([]),
        ];
        Assert.DoesNotContain(token, others);
        Assert.Equal(others.Length, others.Distinct().Count());

        // Revisions whose bytes would run together without a separator: 1,2 is not 258 (0x0102) nor 513.
        Assert.NotEqual(PlacementsToken.Of([1, 2]), PlacementsToken.Of([258]));
        Assert.NotEqual(PlacementsToken.Of([1, 2]), PlacementsToken.Of([513]));
        Assert.StartsWith("0-", PlacementsToken.Of([]), StringComparison.Ordinal);
    }

    [Fact]
    public void A_heartbeat_answer_without_a_token_from_an_older_member_reads_as_none()
    {
        const string old = """{"name":"n1","status":"ready","lastSeen":null,"cpus":2,"memoryBytes":1,"transitions":1,"silo":"s","heartbeatSeconds":1}""";
        var answer = JsonSerializer.Deserialize(old, ControlJsonContext.Default.NodeStatusDto)!;
        Assert.Null(answer.Placements);
        var now = answer with { Placements = PlacementsToken.Of([7]) };
        var json = JsonSerializer.Serialize(now, ControlJsonContext.Default.NodeStatusDto);
        Assert.Equal(now.Placements, JsonSerializer.Deserialize(json, ControlJsonContext.Default.NodeStatusDto)!.Placements);
    }
}
