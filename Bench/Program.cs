using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using NexusArchive.Bench;
using NexusArchive.Core;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;
using Npgsql;
using StackExchange.Redis;

// NexusArchive benchmark: every figure is printed next to a baseline measured in the same run on the same rows.
// Usage: nexus-archive-bench [--messages N] [--memory-scale K] [--page-size P] [--merge-scaling 1000000,10000000]
// Connection: ConnectionStrings__Redis and ConnectionStrings__Postgres (scripts/bench.sh sets them from local servers).
var arguments = BenchArguments.Parse(args);
var redisBase = Environment.GetEnvironmentVariable("ConnectionStrings__Redis")
    ?? throw new InvalidOperationException("Set ConnectionStrings__Redis (scripts/bench.sh does it for you).");
var postgresAdmin = Environment.GetEnvironmentVariable("ConnectionStrings__Postgres")
    ?? throw new InvalidOperationException("Set ConnectionStrings__Postgres (scripts/bench.sh does it for you).");
var bench = new Benchmark(arguments, redisBase + ",defaultDatabase=" + arguments.RedisDatabase + ",syncTimeout=30000,asyncTimeout=30000", postgresAdmin);
return await bench.RunAsync();

internal sealed record BenchArguments(long Messages, int MemoryScale, int PageSize, long[] MergeScaling, int RedisDatabase, string Database)
{
    public static BenchArguments Parse(string[] args)
    {
        string? Value(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
        return new BenchArguments(
            long.Parse(Value("--messages") ?? "1000000", CultureInfo.InvariantCulture),
            int.Parse(Value("--memory-scale") ?? "5", CultureInfo.InvariantCulture),
            int.Parse(Value("--page-size") ?? "0", CultureInfo.InvariantCulture),
            (Value("--merge-scaling") ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries).Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray(),
            int.Parse(Value("--redis-database") ?? "1", CultureInfo.InvariantCulture),
            Value("--database") ?? "nexus_bench");
    }
}

internal sealed class Benchmark(BenchArguments arguments, string redisConnection, string postgresAdmin)
{
    private readonly List<(string Name, string Value, string Note)> _results = [];
    private readonly string _postgres = new NpgsqlConnectionStringBuilder(postgresAdmin) { Database = arguments.Database, MaxPoolSize = 20 }.ConnectionString;

    public async Task<int> RunAsync()
    {
        Console.WriteLine($"NexusArchive benchmark: {arguments.Messages:N0} messages, {Environment.ProcessorCount} cores, .NET {Environment.Version}");
        if (Environment.GetEnvironmentVariable("NEXUS_BENCH_READ_ONLY") == "1")
        {
            await ReadOnlyAsync();
            return 0;
        }

        if (Environment.GetEnvironmentVariable("NEXUS_BENCH_NO_OP_ONLY") == "1")
        {
            // Diagnostics: the no-op pass alone, on whatever the benchmark database and Redis hold now.
            await NoOpLatencyAsync("on the data already archived");
            return 0;
        }

        if (arguments.MergeScaling.Length > 0)
        {
            await MergeScalingAsync();
            Print();
            return 0;
        }

        var n = arguments.Messages;
        await ResetAsync();
        var data = new BenchData(await RedisNowMsAsync() - (long)TimeSpan.FromDays(20).TotalMilliseconds);
        var seeded = await SeedRedisAsync(data, 0, n);
        Note("seed Redis (Lua writer, pipelined)", $"{seeded / 1000.0:N1}k records in {_lastSeconds:N1} s", $"{seeded / _lastSeconds:N0} records/s");

        // Baselines on the same rows.
        var copyRate = await DirectCopyAsync(data, n);
        var naiveCount = Math.Min(n, 200_000);
        var naiveRate = await NaiveUpsertAsync(data, naiveCount);

        // NexusArchive: initial load, end to end, as the real CLI.
        var initial = await RunCliPassAsync();
        var initialRate = initial.Rows / initial.Seconds;
        Note("NexusArchive initial load (pass)", $"{initialRate:N0} rows/s", $"{initial.Rows:N0} rows in {initial.Seconds:N1} s; {initialRate / copyRate:0.00}× direct COPY, {initialRate / naiveRate:0.0}× naive upsert");
        Note("  where the initial load's CPU went (process start included)", initial.Cpu, "from /proc");
        // The pass shares this machine's cores with Redis and PostgreSQL: its total CPU per row bounds its rate.
        var ceiling = Environment.ProcessorCount / initial.CpuSecondsPerRow;
        Note("  CPU ceiling of the initial load", $"{ceiling:N0} rows/s", $"{Environment.ProcessorCount} cores fully busy at this CPU per row = {ceiling / copyRate:0.00}× direct COPY");

        // A pass with nothing to do right after the initial load: it still probes the look-back overlap.
        await NoOpLatencyAsync("nothing changed since the initial load (the look-back overlap still covers the newest seeded entries)");

        // Incremental: 10% of messages edited.
        var edits = await EditAsync(data, n, 10);
        var onConflictRate = await OnConflictPathAsync(data, n, 10);
        var incremental = await RunCliPassAsync();
        var incrementalRate = incremental.Upserted / incremental.Seconds;
        Note("NexusArchive incremental pass (10% edited)", $"{incrementalRate:N0} rows/s", $"{incremental.Upserted:N0} of {edits:N0} edits in {incremental.Seconds:N1} s; {incrementalRate / onConflictRate:0.00}× the ON CONFLICT path");
        Note("  where the incremental pass's CPU went (process start included)", incremental.Cpu, "from /proc, per record read");

        // The same right after the edit burst: every edit is still inside the look-back overlap and is probed again.
        await NoOpLatencyAsync($"right after {edits:N0} edits, all inside the look-back overlap");

        // Incremental again, in the warm process that ran the no-op passes: how the Functions host runs each timer tick
        // (no process start, code compiled, connections pooled). Baseline: the same second round of edits.
        var warmEdits = await EditAsync(data, n, 10, version: 2);
        var warmOnConflictRate = await OnConflictPathAsync(data, n, 10, version: 2);
        var warmRun = await Warm.GetRequiredService<ArchiveService>().RunAsync(new ArchiveRunRequest("bench"), CancellationToken.None);
        var warmRate = warmRun.TotalUpserted / (warmRun.DurationMs / 1000);
        Note("NexusArchive incremental pass in a warm process (10% edited again)", $"{warmRate:N0} rows/s",
            $"{warmRun.TotalUpserted:N0} of {warmEdits:N0} edits in {warmRun.DurationMs / 1000:N1} s; {warmRate / warmOnConflictRate:0.00}× the ON CONFLICT path");
        Note("peak working set at N", $"{initial.PeakMb:N0} MB", "the CLI process running the initial load");

        if (arguments.MemoryScale > 1)
        {
            await ResetAsync();
            var big = n * arguments.MemoryScale;
            await SeedRedisAsync(data, 0, big);
            var large = await RunCliPassAsync();
            Note($"peak working set at {arguments.MemoryScale}×N", $"{large.PeakMb:N0} MB",
                $"{large.Rows:N0} rows at {large.Rows / large.Seconds:N0} rows/s; {large.PeakMb / initial.PeakMb:0.00}× the peak at N");
        }

        if (_warm is not null)
        {
            await _warm.DisposeAsync();
        }

        Print();
        return 0;
    }

    private double _lastSeconds;

    private void Note(string name, string value, string note)
    {
        _results.Add((name, value, note));
        Console.WriteLine($"  {name}: {value}  ({note})");
    }

    private void Print()
    {
        Console.WriteLine();
        Console.WriteLine("| measurement | result | notes |");
        Console.WriteLine("|---|---|---|");
        foreach (var (name, value, note) in _results)
        {
            Console.WriteLine($"| {name} | {value} | {note} |");
        }
    }

    private Dictionary<string, string?> Settings(int? pageSize = null) => new()
    {
        ["ConnectionStrings:Redis"] = redisConnection,
        ["ConnectionStrings:Postgres"] = _postgres,
        ["Archive:KeyPrefix"] = "bench",
        ["Archive:SettleWindow"] = "00:00:00",
        ["Archive:TimeBudget"] = "01:00:00",
        ["Archive:QuietPasses"] = "true", // every benchmark write goes through the Lua writer with its counter key
        ["Archive:PageSize"] = (pageSize ?? (arguments.PageSize > 0 ? arguments.PageSize : null))?.ToString(CultureInfo.InvariantCulture),
    };

    private ServiceProvider Services(int? pageSize = null)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(Settings(pageSize).Where(s => s.Value is not null)).Build();
        var services = new ServiceCollection();
        // The benchmark connects as the superuser: the safety check's least-privilege warning would repeat every pass.
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning).AddFilter("NexusArchive.Core.Security", LogLevel.Error).AddSimpleConsole());
        services.AddNexusArchive(configuration);
        return services.BuildServiceProvider();
    }

    private async Task ResetAsync()
    {
        await using (var admin = new NpgsqlConnection(postgresAdmin))
        {
            await admin.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{arguments.Database}\" WITH (FORCE)", admin);
            await drop.ExecuteNonQueryAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{arguments.Database}\"", admin);
            await create.ExecuteNonQueryAsync();
        }

        await using var services = Services();
        await services.GetRequiredService<Migrator>().MigrateAsync(CancellationToken.None);
        await using var mux = await ConnectionMultiplexer.ConnectAsync(redisConnection + ",allowAdmin=true");
        // ASYNC: freeing millions of keys must not block Redis (or time out this client).
        var database = mux.GetDatabase(arguments.RedisDatabase);
        await database.ExecuteAsync("FLUSHDB", "ASYNC");

        // Wait until Redis has actually freed them and handed the memory back: after a 5×N run that takes minutes of a
        // whole core, which the next measurements would otherwise pay for.
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < TimeSpan.FromMinutes(5))
        {
            var memory = (string)(await database.ExecuteAsync("INFO", "memory"))!;
            var pending = memory.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("lazyfree_pending_objects:", StringComparison.Ordinal));
            if (pending is null || pending.EndsWith(":0", StringComparison.Ordinal))
            {
                break;
            }

            await Task.Delay(200);
        }

        await database.ExecuteAsync("MEMORY", "PURGE");
        while (waited.Elapsed < TimeSpan.FromMinutes(5))
        {
            var before = CpuSample.Take();
            await Task.Delay(1000);
            if ((CpuSample.Take() - before).Redis < 0.05)
            {
                break; // Redis idle: the kernel has taken the memory back
            }
        }
    }

    private async Task<long> RedisNowMsAsync()
    {
        await using var services = Services();
        return (await services.GetRequiredService<IChangeSource>().GetServerTimeAsync(CancellationToken.None)).ToUnixTimeMilliseconds();
    }

    private async Task<long> SeedRedisAsync(BenchData data, long from, long count)
    {
        await using var services = Services();
        var writer = services.GetRequiredService<RecordWriter>();
        var database = services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        var clock = Stopwatch.StartNew();
        var pending = new List<Task>(20_000);
        long written = 0;

        async Task Flush()
        {
            await Task.WhenAll(pending);
            pending.Clear();
        }

        var sessions = (from + count + BenchData.MessagesPerSession - 1) / BenchData.MessagesPerSession;
        var users = (sessions + BenchData.SessionsPerUser - 1) / BenchData.SessionsPerUser;
        for (long u = from / (BenchData.MessagesPerSession * BenchData.SessionsPerUser); u < users; u++)
        {
            var ts = data.CreatedMs(u * BenchData.MessagesPerSession * BenchData.SessionsPerUser);
            pending.Add(writer.WriteAsync(database, EntityCatalog.User, $"u-{u:D7}",
                [new("email", $"user{u}@example.com"), new("displayName", $"User {u}"), new("createdAt", ts.ToString(CultureInfo.InvariantCulture))], ts));
            written++;
        }

        for (long s = from / BenchData.MessagesPerSession; s < sessions; s++)
        {
            var ts = data.CreatedMs(s * BenchData.MessagesPerSession);
            pending.Add(writer.WriteAsync(database, EntityCatalog.Session, $"s-{s:D8}",
                [new("userId", $"u-{s / BenchData.SessionsPerUser:D7}"), new("title", "Benchmark conversation"), new("model", "gpt-4o"), new("createdAt", ts.ToString(CultureInfo.InvariantCulture))], ts));
            written++;
            if (pending.Count >= 20_000)
            {
                await Flush();
            }
        }

        for (var i = from; i < from + count; i++)
        {
            var (id, updated, fields) = data.MessageFields(i);
            pending.Add(writer.WriteAsync(database, EntityCatalog.Message, id, fields, updated));
            written++;
            if (pending.Count >= 20_000)
            {
                await Flush();
            }
        }

        await Flush();
        _lastSeconds = clock.Elapsed.TotalSeconds;
        return written;
    }

    private async Task<double> DirectCopyAsync(BenchData data, long n)
    {
        await using var dataSource = NpgsqlDataSource.Create(_postgres);
        await using var connection = await dataSource.OpenConnectionAsync();
        await Exec(connection, "DROP TABLE IF EXISTS public.bench_copy; CREATE TABLE public.bench_copy (LIKE public.messages INCLUDING ALL)");
        var cpuBefore = CpuSample.Take();
        var clock = Stopwatch.StartNew();
        await using (var importer = await connection.BeginBinaryImportAsync($"COPY public.bench_copy ({BenchData.MessageColumns}) FROM STDIN (FORMAT BINARY)"))
        {
            for (long i = 0; i < n; i++)
            {
                await WriteRowAsync(importer, data.MessageRow(i));
            }

            await importer.CompleteAsync();
        }

        var seconds = clock.Elapsed.TotalSeconds;
        var cpu = CpuSample.Take() - cpuBefore;
        var rate = n / seconds;
        Note("baseline: direct binary COPY into an empty copy of messages (the limit)", $"{rate:N0} rows/s", $"{n:N0} rows in {seconds:N1} s");
        Note("  what the direct COPY cost", cpu.DescribeBaseline(seconds, n), "rows generated in memory: no Redis, no mapping");
        return rate;
    }

    private async Task<double> NaiveUpsertAsync(BenchData data, long n)
    {
        await using var dataSource = NpgsqlDataSource.Create(_postgres);
        await using var connection = await dataSource.OpenConnectionAsync();
        await Exec(connection, "DROP TABLE IF EXISTS public.bench_naive; CREATE TABLE public.bench_naive (LIKE public.messages INCLUDING ALL)");
        var columns = BenchData.MessageColumns.Split(", ");
        var sql = $"INSERT INTO public.bench_naive ({BenchData.MessageColumns}) VALUES ({string.Join(", ", columns.Select((_, i) => $"${i + 1}"))}) " +
                  $"ON CONFLICT (id) DO UPDATE SET {string.Join(", ", columns.Skip(1).Select(c => $"{c} = EXCLUDED.{c}"))} WHERE EXCLUDED.updated_at > bench_naive.updated_at";
        var clock = Stopwatch.StartNew();
        for (long start = 0; start < n; start += 1000)
        {
            await using var batch = new NpgsqlBatch(connection);
            for (var i = start; i < Math.Min(n, start + 1000); i++)
            {
                var command = new NpgsqlBatchCommand(sql);
                var row = data.MessageRow(i);
                for (var c = 0; c < row.Length; c++)
                {
                    command.Parameters.Add(new NpgsqlParameter { Value = row[c] ?? DBNull.Value, NpgsqlDbType = BenchData.MessageTypes[c] });
                }

                batch.BatchCommands.Add(command);
            }

            await batch.ExecuteNonQueryAsync();
        }

        var rate = n / clock.Elapsed.TotalSeconds;
        Note("baseline: naive per-row INSERT … ON CONFLICT, 1,000 per round trip", $"{rate:N0} rows/s", $"{n:N0} rows in {clock.Elapsed.TotalSeconds:N1} s");
        return rate;
    }

    private async Task<long> EditAsync(BenchData data, long n, int percent, int version = 1)
    {
        await using var services = Services();
        var writer = services.GetRequiredService<RecordWriter>();
        var database = services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        var pending = new List<Task>();
        long edits = 0;
        for (long i = 0; i < n; i += 100 / percent)
        {
            // An edit as NexusChat makes it: stamped by the Redis server clock, so it lands after the checkpoint.
            var (id, _, fields) = data.MessageFields(i, version);
            pending.Add(writer.WriteAsync(database, EntityCatalog.Message, id, fields));
            edits++;
            if (pending.Count >= 20_000)
            {
                await Task.WhenAll(pending);
                pending.Clear();
            }
        }

        await Task.WhenAll(pending);
        return edits;
    }

    private async Task<double> OnConflictPathAsync(BenchData data, long n, int percent, int version = 1)
    {
        // The same edited rows, applied to bench_copy (which holds N rows) the way a hand-written upsert would:
        // COPY into a temp staging table + INSERT … SELECT … ON CONFLICT DO UPDATE WHERE newer, per page.
        await using var dataSource = NpgsqlDataSource.Create(_postgres);
        await using var connection = await dataSource.OpenConnectionAsync();
        var columns = BenchData.MessageColumns.Split(", ");
        var pageSize = arguments.PageSize > 0 ? arguments.PageSize : new NexusArchive.Core.Configuration.ArchiveOptions().PageSize;
        var ids = new List<long>();
        for (long i = 0; i < n; i += 100 / percent)
        {
            ids.Add(i);
        }

        var cpuBefore = CpuSample.Take();
        var clock = Stopwatch.StartNew();
        foreach (var chunk in ids.Chunk(pageSize))
        {
            await using var transaction = await connection.BeginTransactionAsync();
            await Exec(connection, "CREATE TEMP TABLE bench_stage (LIKE public.messages INCLUDING DEFAULTS) ON COMMIT DROP");
            await using (var importer = await connection.BeginBinaryImportAsync($"COPY bench_stage ({BenchData.MessageColumns}) FROM STDIN (FORMAT BINARY)"))
            {
                foreach (var i in chunk)
                {
                    await WriteRowAsync(importer, data.MessageRow(i, version));
                }

                await importer.CompleteAsync();
            }

            await Exec(connection,
                $"INSERT INTO public.bench_copy ({BenchData.MessageColumns}) SELECT {BenchData.MessageColumns} FROM bench_stage " +
                $"ON CONFLICT (id) DO UPDATE SET {string.Join(", ", columns.Skip(1).Select(c => $"{c} = EXCLUDED.{c}"))} WHERE EXCLUDED.updated_at > bench_copy.updated_at");
            await transaction.CommitAsync();
        }

        var seconds = clock.Elapsed.TotalSeconds;
        var cpu = CpuSample.Take() - cpuBefore;
        var rate = ids.Count / seconds;
        Note("baseline: COPY→staging + INSERT … ON CONFLICT DO UPDATE WHERE newer (same edits)", $"{rate:N0} rows/s", $"{ids.Count:N0} rows in {clock.Elapsed.TotalSeconds:N1} s, pages of {pageSize:N0}");
        Note("  what the ON CONFLICT path cost", cpu.DescribeBaseline(seconds, ids.Count), "rows generated in memory: no Redis, no mapping");
        return rate;
    }

    private ServiceProvider? _warm;

    /// <summary>One long-lived archiver in this process, as a Functions worker keeps it between timer ticks.</summary>
    private ServiceProvider Warm => _warm ??= Services();

    private async Task NoOpLatencyAsync(string situation)
    {
        var archive = Warm.GetRequiredService<ArchiveService>();
        double? first = null;
        for (var i = 0; i < 3; i++)
        {
            var warmUp = await archive.RunAsync(new ArchiveRunRequest("bench"), CancellationToken.None);
            first ??= warmUp.DurationMs;
        }

        var samples = new List<double>();
        for (var i = 0; i < 21; i++)
        {
            var run = await archive.RunAsync(new ArchiveRunRequest("bench"), CancellationToken.None);
            if (run.TotalUpserted != 0)
            {
                throw new InvalidOperationException("The no-op pass found work: the benchmark data changed underneath it.");
            }

            samples.Add(run.DurationMs);
        }

        samples.Sort();
        Note($"NexusArchive no-op pass, {situation}", $"{samples[samples.Count / 2]:N1} ms median", $"p90 {samples[(int)(samples.Count * 0.9)]:N1} ms over {samples.Count} passes of all 4 entities in a warm process");
        Note("  the first of those passes", $"{first:N1} ms", "it re-reads and probes the look-back overlap: writes happened since this process's last pass (or it had none)");
    }

    private sealed record PassResult(long Rows, long Upserted, double Seconds, double PeakMb, string Cpu, double CpuSecondsPerRow);

    private async Task<PassResult> RunCliPassAsync()
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "nexus-archive.dll");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(cli);
        info.ArgumentList.Add("archive");
        info.ArgumentList.Add("--json");
        foreach (var (key, value) in Settings())
        {
            if (value is not null)
            {
                info.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
            }
        }

        info.Environment["Logging__LogLevel__NexusArchive"] = "Warning";
        var cpuBefore = CpuSample.Take();
        var wall = Stopwatch.StartNew();
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        long peakKb = 0;
        while (!process.HasExited)
        {
            try
            {
                var line = File.ReadLines($"/proc/{process.Id}/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
                if (line is not null)
                {
                    peakKb = Math.Max(peakKb, long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture));
                }
            }
            catch (IOException)
            {
                // exited between the check and the read
            }

            await Task.Delay(20);
        }

        await process.WaitForExitAsync();
        await Task.Delay(300); // let the pass's PostgreSQL backends exit, so their time is counted
        var cpu = CpuSample.Take() - cpuBefore;
        var wallSeconds = wall.Elapsed.TotalSeconds;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"archive exited {process.ExitCode}: {await stderr}\n{await stdout}");
        }

        using var json = JsonDocument.Parse(await stdout);
        var root = json.RootElement;
        var read = root.GetProperty("totalRead").GetInt64();
        return new PassResult(
            read,
            root.GetProperty("totalUpserted").GetInt64(),
            root.GetProperty("durationMs").GetDouble() / 1000,
            peakKb / 1024.0,
            cpu.Describe(wallSeconds, Math.Max(1, read)),
            cpu.PassTotal / Math.Max(1, read));
    }

    /// <summary>Diagnostics: the Redis side of a pass alone (page, fetch, map), on the data already seeded.</summary>
    private async Task ReadOnlyAsync()
    {
        await using var services = Services();
        var source = services.GetRequiredService<RedisChangeSource>();
        var mapper = services.GetRequiredService<NexusArchive.Core.Mapping.RecordMapper>();
        var pageSize = arguments.PageSize > 0 ? arguments.PageSize : 2000;
        for (var round = 0; round < 2; round++)
        {
            double page = 0, fetch = 0, map = 0;
            long count = 0;
            var cursor = ChangeCursor.Start;
            while (true)
            {
                var t = Stopwatch.GetTimestamp();
                var entries = await source.ReadPageAsync(EntityCatalog.Message, cursor, double.MaxValue, pageSize, CancellationToken.None);
                page += Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                if (entries.Entries.Count == 0)
                {
                    break;
                }

                t = Stopwatch.GetTimestamp();
                var records = await source.FetchAsync(EntityCatalog.Message, entries.Entries, CancellationToken.None);
                fetch += Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                t = Stopwatch.GetTimestamp();
                mapper.MapPage(EntityCatalog.Message, records, DateTimeOffset.MaxValue);
                map += Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                count += entries.Entries.Count;
                cursor = entries.Entries[^1].After;
                if (entries.ReachedEnd)
                {
                    break;
                }
            }

            Console.WriteLine($"  read-only round {round}: {count:N0} records: page {page:N0} ms, fetch {fetch:N0} ms ({count / (fetch / 1000):N0}/s), map {map:N0} ms ({count / (map / 1000):N0}/s)");
        }
    }

    private async Task MergeScalingAsync()
    {
        await ResetAsync();
        var data = new BenchData(1_700_000_000_000);
        await using var services = Services();
        var sink = services.GetRequiredService<IArchiveSink>();
        var dataSource = services.GetRequiredService<NpgsqlDataSource>();
        var pageSize = arguments.PageSize > 0 ? arguments.PageSize : new NexusArchive.Core.Configuration.ArchiveOptions().PageSize;
        long loaded = 0;
        var perPage = new List<double>();
        foreach (var target in arguments.MergeScaling.Order())
        {
            await using (var connection = await dataSource.OpenConnectionAsync())
            {
                var clock = Stopwatch.StartNew();
                await using (var importer = await connection.BeginBinaryImportAsync($"COPY public.messages ({BenchData.MessageColumns}) FROM STDIN (FORMAT BINARY)"))
                {
                    for (var i = loaded; i < target; i++)
                    {
                        await WriteRowAsync(importer, data.MessageRow(i));
                    }

                    await importer.CompleteAsync();
                }

                await Exec(connection, "VACUUM ANALYZE public.messages");
                Console.WriteLine($"  loaded {target:N0} archived rows ({clock.Elapsed.TotalSeconds:N0} s)");
            }

            loaded = target;
            var runId = Guid.NewGuid();
            await sink.AcquireAsync(EntityCatalog.Message, runId, CancellationToken.None);

            // Two workloads per archive size: edits of recent messages (how chat behaves: messages are edited soon after
            // they are written) and edits of messages anywhere in the archive (the worst case for caches).
            foreach (var (workload, recentOnly) in new[] { ("edits of the newest 100k rows", true), ("edits anywhere in the archive", false) })
            {
                var random = new Random(7);
                var samples = new List<double>();
                for (var p = 0; p < 25; p++)
                {
                    // Half updates (newer versions), half brand-new rows.
                    var rows = new List<NexusArchive.Core.Mapping.MappedRow>(pageSize);
                    for (var k = 0; k < pageSize; k++)
                    {
                        var i = k % 2 == 0
                            ? (recentOnly ? random.NextInt64(Math.Max(0, loaded - 100_000), loaded) : random.NextInt64(0, loaded))
                            : 1_000_000_000L + (loaded * 10) + (recentOnly ? 0 : 500_000) + (p * pageSize) + k;
                        var values = data.MessageRow(i, version: k % 2 == 0 ? (recentOnly ? 1000 : 2000) + p : 0);
                        rows.Add(new(new SourceRecord(new ChangeEntry(System.Text.Encoding.UTF8.GetBytes((string)values[0]!), 0), []), values));
                    }

                    var clock = Stopwatch.StartNew();
                    await sink.WritePageAsync(EntityCatalog.Message, runId, rows, [], new ChangeCursor(p, [1]), CancellationToken.None);
                    samples.Add(clock.Elapsed.TotalMilliseconds);
                }

                samples.Sort();
                var median = samples[samples.Count / 2];
                var first = perPage.Count < 2 ? (double?)null : perPage[recentOnly ? 0 : 1];
                perPage.Add(median);
                Note($"MERGE page of {pageSize:N0} rows (½ {workload}, ½ inserts) on {target:N0} archived rows", $"{median:N1} ms median",
                    first is null ? "per-page time; the reference" : $"{median / first.Value:0.00}× the time at {arguments.MergeScaling.Order().First():N0} rows");
            }

            await sink.ReleaseAsync(EntityCatalog.Message, runId, CancellationToken.None);
        }
    }

    private static async Task WriteRowAsync(NpgsqlBinaryImporter importer, object?[] row)
    {
        await importer.StartRowAsync();
        for (var c = 0; c < row.Length; c++)
        {
            if (row[c] is null)
            {
                await importer.WriteNullAsync();
            }
            else
            {
                await importer.WriteAsync(row[c]!, BenchData.MessageTypes[c]);
            }
        }
    }

    private static async Task Exec(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.CommandTimeout = 0;
        await command.ExecuteNonQueryAsync();
    }
}
