using ZeroCloud.Model.Config;

namespace ZeroCloud.Model.Api;

/// <summary>Wanted, placed, running and healthy replicas of each service, from the spec, the placements and the agents' reports.</summary>
public static class ServiceCounts
{
    public static List<ServiceDto> Compute(IEnumerable<ServiceSpec> services, IReadOnlyList<InstanceDto> placements, IReadOnlyList<InstanceStateDto> states)
    {
        var stateOf = states.ToDictionary(s => (s.Node, s.Id));
        var result = new List<ServiceDto>();
        foreach (var s in services.OrderBy(s => s.Name, StringComparer.Ordinal))
        {
            var mine = placements.Where(p => p.Service == s.Name).ToList();
            var running = mine.Select(p => stateOf.GetValueOrDefault((p.Node, p.Id))).Where(st => st?.State == InstanceState.Running).ToList();
            result.Add(new ServiceDto(s.Name, s.Image, s.Replicas, mine.Count, running.Count, running.Count(st => st!.Healthy)));
        }

        return result;
    }
}
