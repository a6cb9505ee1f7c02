using System.Diagnostics;
using Npgsql;

namespace NexusArchive.Bench;

/// <summary>
/// What NexusArchive is compared to, on the same rows, generated in memory (no Redis, no mapping): the direct binary
/// COPY into an empty table (the limit), a naive per-row upsert, and the hand-written COPY → staging → ON CONFLICT path.
/// </summary>
internal sealed class Baselines(BenchServers servers, Report report)
{
    /// <summary>CPU seconds per row of the direct-COPY client (this warm process) in the last <see cref="DirectCopyAsync"/>.</summary>
    public double DirectCopyClientCpuPerRow { get; private set; }

    /// <summary>Direct binary COPY of messages 0..<paramref name="n"/> into an empty copy of the messages table.</summary>
    /// <returns>Rows per second.</returns>
    public async Task<double> DirectCopyAsync(BenchData data, long n)
    {
        await using var dataSource = NpgsqlDataSource.Create(servers.Postgres);
        await using var connection = await dataSource.OpenConnectionAsync();
        await BenchServers.ExecAsync(connection, "DROP TABLE IF EXISTS public.bench_copy; CREATE TABLE public.bench_copy (LIKE public.messages INCLUDING ALL)");
        var cpuBefore = CpuSample.Take();
        var clock = Stopwatch.StartNew();
        await using (var importer = await connection.BeginBinaryImportAsync($"COPY public.bench_copy ({BenchData.MessageColumns}) FROM STDIN (FORMAT BINARY)"))
        {
            for (long i = 0; i < n; i++)
            {
                await BenchServers.WriteRowAsync(importer, data.MessageRow(i));
            }

            await importer.CompleteAsync();
        }

        var seconds = clock.Elapsed.TotalSeconds;
        var cpu = CpuSample.Take() - cpuBefore;
        var rate = n / seconds;
        report.Note("baseline: direct binary COPY into an empty copy of messages (the limit)", $"{rate:N0} rows/s", $"{n:N0} rows in {seconds:N1} s");
        report.Note("  what the direct COPY cost", cpu.DescribeBaseline(seconds, n), "rows generated in memory: no Redis, no mapping");
        DirectCopyClientCpuPerRow = cpu.Self / n;
        return rate;
    }

    /// <summary>Per-row <c>INSERT … ON CONFLICT DO UPDATE WHERE newer</c>, 1,000 statements per round trip.</summary>
    /// <returns>Rows per second.</returns>
    public async Task<double> NaiveUpsertAsync(BenchData data, long n)
    {
        await using var dataSource = NpgsqlDataSource.Create(servers.Postgres);
        await using var connection = await dataSource.OpenConnectionAsync();
        await BenchServers.ExecAsync(connection, "DROP TABLE IF EXISTS public.bench_naive; CREATE TABLE public.bench_naive (LIKE public.messages INCLUDING ALL)");
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
        report.Note("baseline: naive per-row INSERT … ON CONFLICT, 1,000 per round trip", $"{rate:N0} rows/s", $"{n:N0} rows in {clock.Elapsed.TotalSeconds:N1} s");
        return rate;
    }

    /// <summary>The same edits <see cref="RedisWorkload.EditAsync"/> made, applied to <c>bench_copy</c> by a hand-written upsert.</summary>
    /// <returns>Rows per second.</returns>
    public async Task<double> OnConflictPathAsync(BenchData data, long n, int percent, int version = 1)
    {
        // The same edited rows, applied to bench_copy (which holds N rows) the way a hand-written upsert would:
        // COPY into a temp staging table + INSERT … SELECT … ON CONFLICT DO UPDATE WHERE newer, per page.
        await using var dataSource = NpgsqlDataSource.Create(servers.Postgres);
        await using var connection = await dataSource.OpenConnectionAsync();
        var columns = BenchData.MessageColumns.Split(", ");
        var pageSize = servers.PageSize;
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
            await BenchServers.ExecAsync(connection, "CREATE TEMP TABLE bench_stage (LIKE public.messages INCLUDING DEFAULTS) ON COMMIT DROP");
            await using (var importer = await connection.BeginBinaryImportAsync($"COPY bench_stage ({BenchData.MessageColumns}) FROM STDIN (FORMAT BINARY)"))
            {
                foreach (var i in chunk)
                {
                    await BenchServers.WriteRowAsync(importer, data.MessageRow(i, version));
                }

                await importer.CompleteAsync();
            }

            await BenchServers.ExecAsync(connection,
                $"INSERT INTO public.bench_copy ({BenchData.MessageColumns}) SELECT {BenchData.MessageColumns} FROM bench_stage " +
                $"ON CONFLICT (id) DO UPDATE SET {string.Join(", ", columns.Skip(1).Select(c => $"{c} = EXCLUDED.{c}"))} WHERE EXCLUDED.updated_at > bench_copy.updated_at");
            await transaction.CommitAsync();
        }

        var seconds = clock.Elapsed.TotalSeconds;
        var cpu = CpuSample.Take() - cpuBefore;
        var rate = ids.Count / seconds;
        report.Note("baseline: COPY→staging + INSERT … ON CONFLICT DO UPDATE WHERE newer (same edits)", $"{rate:N0} rows/s", $"{ids.Count:N0} rows in {clock.Elapsed.TotalSeconds:N1} s, pages of {pageSize:N0}");
        report.Note("  what the ON CONFLICT path cost", cpu.DescribeBaseline(seconds, ids.Count), "rows generated in memory: no Redis, no mapping");
        return rate;
    }
}
