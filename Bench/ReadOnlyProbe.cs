using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Source;

namespace NexusArchive.Bench;

/// <summary>
/// Diagnostics (<c>NEXUS_BENCH_READ_ONLY=1</c>): the Redis side of a pass alone (page, fetch, map), on the data
/// already seeded, twice, with the time of each step.
/// </summary>
internal sealed class ReadOnlyProbe(BenchServers servers)
{
    public async Task RunAsync()
    {
        await using var services = servers.Services();
        var source = services.GetRequiredService<RedisChangeSource>();
        var mapper = services.GetRequiredService<RecordMapper>();
        var pageSize = servers.Arguments.PageSize > 0 ? servers.Arguments.PageSize : 2000;
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
}
