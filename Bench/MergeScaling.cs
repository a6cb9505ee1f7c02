using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;
using Npgsql;

namespace NexusArchive.Bench;

/// <summary>
/// <c>--merge-scaling a,b,…</c>: the sink's per-page MERGE time as the archive grows to each size, for edits of recent
/// rows and edits anywhere, relative to the smallest size.
/// </summary>
internal sealed class MergeScaling(BenchServers servers, Report report)
{
    public async Task RunAsync()
    {
        var arguments = servers.Arguments;
        await servers.ResetAsync();
        var data = new BenchData(1_700_000_000_000);
        await using var services = servers.Services();
        var sink = services.GetRequiredService<IArchiveSink>();
        var dataSource = services.GetRequiredService<NpgsqlDataSource>();
        var pageSize = servers.PageSize;
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
                        await BenchServers.WriteRowAsync(importer, data.MessageRow(i));
                    }

                    await importer.CompleteAsync();
                }

                await BenchServers.ExecAsync(connection, "VACUUM ANALYZE public.messages");
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
                    var rows = new List<MappedRow>(pageSize);
                    for (var k = 0; k < pageSize; k++)
                    {
                        var i = k % 2 == 0
                            ? (recentOnly ? random.NextInt64(Math.Max(0, loaded - 100_000), loaded) : random.NextInt64(0, loaded))
                            : 1_000_000_000L + (loaded * 10) + (recentOnly ? 0 : 500_000) + (p * pageSize) + k;
                        var row = new ArchiveRow(EntityCatalog.Message, data.MessageRow(i, version: k % 2 == 0 ? (recentOnly ? 1000 : 2000) + p : 0));
                        rows.Add(new(new SourceRecord(new ChangeEntry(Encoding.UTF8.GetBytes(row.Id), 0), []), row));
                    }

                    var clock = Stopwatch.StartNew();
                    await sink.WritePageAsync(EntityCatalog.Message, runId, rows, [], new ChangeCursor(p, [1]), CancellationToken.None);
                    samples.Add(clock.Elapsed.TotalMilliseconds);
                }

                samples.Sort();
                var median = samples[samples.Count / 2];
                var first = perPage.Count < 2 ? (double?)null : perPage[recentOnly ? 0 : 1];
                perPage.Add(median);
                report.Note($"MERGE page of {pageSize:N0} rows (½ {workload}, ½ inserts) on {target:N0} archived rows", $"{median:N1} ms median",
                    first is null ? "per-page time; the reference" : $"{median / first.Value:0.00}× the time at {arguments.MergeScaling.Order().First():N0} rows");
            }

            await sink.ReleaseAsync(EntityCatalog.Message, runId, quiet: null, CancellationToken.None);
        }
    }
}
