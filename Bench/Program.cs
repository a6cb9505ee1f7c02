using NexusArchive.Bench;

// NexusArchive benchmark: every figure is printed next to a baseline measured in the same run on the same rows.
// Usage: nexus-archive-bench [--messages N] [--memory-scale K] [--page-size P] [--merge-scaling 1000000,10000000]
//        [--latency 0,5,20 [--latency-settings PipelineDepth=8,PageSize=10000]] [--pooler] [--redis-commands] [--shards 4]
//        [--offload-sessions N] [--search-cost [--search-designs stored,none,expression] [--search-rounds R]]
// Connection: ConnectionStrings__Redis and ConnectionStrings__Postgres (scripts/bench.sh sets them from local servers).
// Benchmark.cs runs the measurements in order; Baselines.cs, Scenarios.cs, MergeScaling.cs, OffloadScenario.cs and SearchCost.cs measure; CpuAccount.cs,
// PeakWorkingSet.cs, Report.cs and ReadOnlyProbe.cs are the diagnostics.
var arguments = BenchArguments.Parse(args);
var redisBase = Environment.GetEnvironmentVariable("ConnectionStrings__Redis")
    ?? throw new InvalidOperationException("Set ConnectionStrings__Redis (scripts/bench.sh does it for you).");
var postgresAdmin = Environment.GetEnvironmentVariable("ConnectionStrings__Postgres")
    ?? throw new InvalidOperationException("Set ConnectionStrings__Postgres (scripts/bench.sh does it for you).");
var bench = new Benchmark(arguments, redisBase + ",defaultDatabase=" + arguments.RedisDatabase + ",syncTimeout=30000,asyncTimeout=30000", postgresAdmin);
return await bench.RunAsync();
