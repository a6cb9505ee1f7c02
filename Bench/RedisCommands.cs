namespace NexusArchive.Bench;

/// <summary>
/// Redis commands counted by <c>INFO commandstats</c> between two readings, per command (lower case, as Redis names
/// them: <c>evalsha</c>, <c>hgetall</c>, …). Commands a Lua script runs with <c>redis.call</c> are counted under their
/// own names besides the script's <c>evalsha</c>, which is how Upstash bills them (its rate-limit "costs" page counts
/// a script call as <c>EVAL</c> plus every command inside it).
/// </summary>
internal sealed record RedisCommands(IReadOnlyDictionary<string, long> Calls)
{
    public long Total => Calls.Values.Sum();

    /// <summary><paramref name="after"/> − <paramref name="before"/> − <paramref name="overhead"/>, per command, without the zeros.</summary>
    public static RedisCommands Between(Dictionary<string, long> before, Dictionary<string, long> after, IReadOnlyDictionary<string, long>? overhead) =>
        new(after
            .Select(c => (c.Key, Calls: c.Value - before.GetValueOrDefault(c.Key) - (overhead?.GetValueOrDefault(c.Key) ?? 0)))
            .Where(c => c.Calls > 0)
            .ToDictionary(c => c.Key, c => c.Calls, StringComparer.Ordinal));

    /// <summary>Total per <paramref name="unit"/>, e.g. <c>1.03</c>.</summary>
    public double Per(double unit) => Total / Math.Max(1, unit);

    /// <summary>The commands by count, each per <paramref name="unit"/>: <c>hgetall 1, evalsha 0.0005, …</c>.</summary>
    public string Breakdown(double unit, int top = 16)
    {
        var ordered = Calls.OrderByDescending(c => c.Value).ThenBy(c => c.Key, StringComparer.Ordinal).ToList();
        var shown = string.Join(", ", ordered.Take(top).Select(c => $"{c.Key} {Format(c.Value / Math.Max(1, unit))}"));
        return ordered.Count > top ? shown + $", {ordered.Count - top} more" : shown;
    }

    private static string Format(double value) => value >= 10 ? $"{value:N1}" : value >= 0.01 ? $"{value:0.###}" : $"{value:0.#####}";
}
