using Npgsql;

namespace NexusArchive.Bench;

/// <summary>
/// The benchmark's running order: seed, baselines, then each NexusArchive scenario with the figures it is compared
/// to. Every figure is printed next to a baseline measured in the same run on the same rows.
/// </summary>
internal sealed class Benchmark(BenchArguments arguments, string redisConnection, string postgresAdmin)
{
    private readonly BenchServers _servers = new(arguments, redisConnection, postgresAdmin);
    private readonly Report _report = new();

    public async Task<int> RunAsync()
    {
        var workload = new RedisWorkload(_servers);
        var baselines = new Baselines(_servers, _report);
        var scenarios = new Scenarios(_servers, _report);
        Console.WriteLine($"NexusArchive benchmark: {arguments.Messages:N0} messages, {Environment.ProcessorCount} cores, .NET {Environment.Version}");
        if (Environment.GetEnvironmentVariable("NEXUS_BENCH_READ_ONLY") == "1")
        {
            await new ReadOnlyProbe(_servers).RunAsync();
            return 0;
        }

        if (Environment.GetEnvironmentVariable("NEXUS_BENCH_NO_OP_ONLY") == "1")
        {
            // Diagnostics: the no-op pass alone, on whatever the benchmark database and Redis hold now.
            await scenarios.NoOpLatencyAsync("on the data already archived");
            return 0;
        }

        if (arguments.Lag)
        {
            await new LagScenario(_servers, _report, arguments.LagSeconds, arguments.LagRate).RunAsync();
            _report.Print();
            return 0;
        }

        if (arguments.RecordsLatency)
        {
            await new RecordsLatency(_servers, scenarios, _report).RunAsync();
            await _servers.DisposeWarmAsync();
            _report.Print();
            return 0;
        }

        if (arguments.OffloadSessions > 0)
        {
            await new OffloadScenario(_servers, scenarios, _report).RunAsync(arguments.OffloadSessions);
            await _servers.DisposeWarmAsync();
            _report.Print();
            return 0;
        }

        if (arguments.SearchCost)
        {
            await new SearchCost(_servers, scenarios, _report).RunAsync();
            _report.Print();
            return 0;
        }

        if (arguments.ViewsAt > 0)
        {
            await new ViewsAtScale(_servers, scenarios, _report).RunAsync(arguments.ViewsAt);
            _report.Print();
            return 0;
        }

        if ((arguments.Latency.Length > 0 || arguments.Pooler) && arguments.Shards <= 1)
        {
            var network = new NetworkScenario(_servers, scenarios, _report);
            await network.RunAsync(arguments.Messages, arguments.Latency, arguments.LatencySettings, arguments.Pooler);
            _report.Print();
            return network.Succeeded ? 0 : 1;
        }

        if (arguments.Shards > 1)
        {
            await new ShardScenario(_servers, scenarios, _report).RunAsync(arguments.Messages, arguments.Shards, arguments.Latency is { Length: > 0 } l ? l : [0]);
            _report.Print();
            return 0;
        }

        if (arguments.RedisCommands)
        {
            await new RedisCommandsTable(_servers, scenarios, _report).RunAsync(arguments.Messages);
            await _servers.DisposeWarmAsync();
            _report.Print();
            return 0;
        }

        if (arguments.MergeScaling.Length > 0)
        {
            await new MergeScaling(_servers, _report).RunAsync();
            _report.Print();
            return 0;
        }

        var n = arguments.Messages;
        await _servers.ResetAsync();
        var data = new BenchData(await _servers.RedisNowMsAsync() - (long)TimeSpan.FromDays(20).TotalMilliseconds);
        var (seeded, seedSeconds) = await workload.SeedAsync(data, 0, n);
        _report.Note("seed Redis (Lua writer, pipelined)", $"{seeded / 1000.0:N1}k records in {seedSeconds:N1} s", $"{seeded / seedSeconds:N0} records/s");

        // Baselines on the same rows.
        var copyRate = await baselines.DirectCopyAsync(data, n);
        var naiveCount = Math.Min(n, 200_000);
        var naiveRate = await baselines.NaiveUpsertAsync(data, naiveCount);

        // NexusArchive: initial load, end to end, as the real CLI.
        var initial = await scenarios.CliPassAsync();
        var initialRate = initial.Rows / initial.Seconds;
        _report.Note("NexusArchive initial load (pass)", $"{initialRate:N0} rows/s", $"{initial.Rows:N0} rows in {initial.Seconds:N1} s; {initialRate / copyRate:0.00}× direct COPY, {initialRate / naiveRate:0.0}× naive upsert");
        _report.Note("  where the initial load's CPU went (process start included)", initial.Cpu, "from /proc");
        // The pass shares this machine's cores with Redis and PostgreSQL: its total CPU per row bounds its rate.
        var ceiling = CpuSample.CeilingRowsPerSecond(initial.CpuSecondsPerRow);
        _report.Note("  CPU ceiling of the initial load", $"{ceiling:N0} rows/s", $"{Environment.ProcessorCount} cores fully busy at this CPU per row = {ceiling / copyRate:0.00}× direct COPY");
        RedisCommandsTable.NotePerRecord(_report, "initial load", initial);

        // A pass with nothing to do right after the initial load: it still probes the look-back overlap.
        RedisCommandsTable.NoteNoOp(_report, "nothing changed since the initial load", await scenarios.CliPassAsync());
        await scenarios.NoOpLatencyAsync("nothing changed since the initial load (the look-back overlap still covers the newest seeded entries)");

        // Incremental: 10% of messages edited.
        var edits = await workload.EditAsync(data, n, 10);
        var onConflictRate = await baselines.OnConflictPathAsync(data, n, 10);
        var incremental = await scenarios.CliPassAsync();
        var incrementalRate = incremental.Upserted / incremental.Seconds;
        _report.Note("NexusArchive incremental pass (10% edited)", $"{incrementalRate:N0} rows/s", $"{incremental.Upserted:N0} of {edits:N0} edits in {incremental.Seconds:N1} s; {incrementalRate / onConflictRate:0.00}× the ON CONFLICT path");
        _report.Note("  where the incremental pass's CPU went (process start included)", incremental.Cpu, "from /proc, per record read");
        RedisCommandsTable.NotePerRecord(_report, "incremental pass (10% edited)", incremental);

        // The same right after the edit burst: every edit is still inside the look-back overlap and is probed again.
        await scenarios.NoOpLatencyAsync($"right after {edits:N0} edits, all inside the look-back overlap");

        // Incremental again, in the warm process that ran the no-op passes: how the Functions host runs each timer tick
        // (no process start, code compiled, connections pooled). Baseline: the same second round of edits.
        var warmEdits = await workload.EditAsync(data, n, 10, version: 2);
        var warmOnConflictRate = await baselines.OnConflictPathAsync(data, n, 10, version: 2);
        var warmRun = await scenarios.WarmPassAsync();
        var warmRate = warmRun.TotalUpserted / (warmRun.DurationMs / 1000);
        _report.Note("NexusArchive incremental pass in a warm process (10% edited again)", $"{warmRate:N0} rows/s",
            $"{warmRun.TotalUpserted:N0} of {warmEdits:N0} edits in {warmRun.DurationMs / 1000:N1} s; {warmRate / warmOnConflictRate:0.00}× the ON CONFLICT path");
        _report.Note("peak working set at N", $"{initial.PeakMb:N0} MB", "the CLI process running the initial load");

        // The initial load again, into an empty archive, in the warm process (its code compiled by the passes above): what
        // a Functions worker that is already running pays per row. The direct-COPY client is measured warm in this same
        // process too, so this is the like-for-like CPU ratio; the CLI figure above also carries start-up and JIT.
        await _servers.ResetArchiveAsync();
        NpgsqlConnection.ClearAllPools();
        var warmCpuBefore = CpuSample.Take();
        var warmInitial = await scenarios.WarmPassAsync();
        var warmCpu = CpuSample.Take() - warmCpuBefore;
        var warmRows = Math.Max(1, warmInitial.TotalRead);
        var warmSeconds = warmInitial.DurationMs / 1000;
        var archiverPerRow = warmCpu.Self / warmRows;
        _report.Note("NexusArchive initial load in a warm process", $"{warmRows / warmSeconds:N0} rows/s",
            $"{warmRows:N0} rows in {warmSeconds:N1} s ({warmInitial.Status}); {warmRows / warmSeconds / copyRate:0.00}× direct COPY; "
            + $"CPU per row: archiver {archiverPerRow * 1e6:N1} µs = {archiverPerRow / baselines.DirectCopyClientCpuPerRow:0.0}× the direct-COPY client's {baselines.DirectCopyClientCpuPerRow * 1e6:N1} µs, "
            + $"Redis {warmCpu.Redis / warmRows * 1e6:N1} µs, PostgreSQL {warmCpu.Postgres / warmRows * 1e6:N1} µs");

        if (arguments.MemoryScale > 1)
        {
            await _servers.ResetAsync();
            var big = n * arguments.MemoryScale;
            await workload.SeedAsync(data, 0, big);
            var large = await scenarios.CliPassAsync();
            _report.Note($"peak working set at {arguments.MemoryScale}×N", $"{large.PeakMb:N0} MB",
                $"{large.Rows:N0} rows at {large.Rows / large.Seconds:N0} rows/s; {large.PeakMb / initial.PeakMb:0.00}× the peak at N");
        }

        await _servers.DisposeWarmAsync();
        _report.Print();
        return 0;
    }
}
