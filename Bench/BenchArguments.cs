using System.Globalization;

namespace NexusArchive.Bench;

/// <summary>
/// The command line: <c>--messages N --memory-scale K --page-size P --merge-scaling a,b --redis-database D --database name
/// --offload-sessions N --records-latency --search-cost [--search-designs expression,none,stored] [--search-rounds R]
/// --lag [--lag-seconds S] [--lag-rate R] --views-at N --latency 0,5,20 [--latency-settings PipelineDepth=8,PageSize=10000]
/// --pooler --redis-commands --shards 4</c>. <c>--messages</c> defaults to 1,000,000, or 200,000 for the network scenarios and the
/// Redis commands table.
/// </summary>
internal sealed record BenchArguments(
    long Messages,
    int MemoryScale,
    int PageSize,
    long[] MergeScaling,
    int RedisDatabase,
    string Database,
    int OffloadSessions,
    bool RecordsLatency,
    bool SearchCost,
    string[] SearchDesigns,
    int SearchRounds,
    bool Lag,
    int LagSeconds,
    int LagRate,
    long ViewsAt,
    double[] Latency,
    string[] LatencySettings,
    bool Pooler,
    bool RedisCommands,
    int Shards)
{
    public static BenchArguments Parse(string[] args)
    {
        string? Value(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
        var network = args.Contains("--latency") || args.Contains("--pooler") || args.Contains("--redis-commands") || args.Contains("--shards");
        var latencySettings = Value("--latency-settings") ?? "PipelineDepth=8,PageSize=10000";
        return new BenchArguments(
            long.Parse(Value("--messages") ?? (network ? "200000" : "1000000"), CultureInfo.InvariantCulture),
            int.Parse(Value("--memory-scale") ?? "5", CultureInfo.InvariantCulture),
            int.Parse(Value("--page-size") ?? "0", CultureInfo.InvariantCulture),
            (Value("--merge-scaling") ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries).Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray(),
            int.Parse(Value("--redis-database") ?? "1", CultureInfo.InvariantCulture),
            Value("--database") ?? "nexus_bench",
            int.Parse(Value("--offload-sessions") ?? "0", CultureInfo.InvariantCulture),
            args.Contains("--records-latency"),
            args.Contains("--search-cost"),
            (Value("--search-designs") ?? "expression,none").Split(',', StringSplitOptions.RemoveEmptyEntries),
            int.Parse(Value("--search-rounds") ?? "1", CultureInfo.InvariantCulture),
            args.Contains("--lag"),
            int.Parse(Value("--lag-seconds") ?? "60", CultureInfo.InvariantCulture),
            int.Parse(Value("--lag-rate") ?? "20", CultureInfo.InvariantCulture),
            long.Parse(Value("--views-at") ?? "0", CultureInfo.InvariantCulture),
            (Value("--latency") ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries).Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray(),
            latencySettings == "none" ? [] : latencySettings.Split(',', StringSplitOptions.RemoveEmptyEntries),
            args.Contains("--pooler"),
            args.Contains("--redis-commands"),
            int.Parse(Value("--shards") ?? "0", CultureInfo.InvariantCulture));
    }
}
