using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Source;
using Npgsql;
using StackExchange.Redis;

namespace NexusArchive.Bench;

/// <summary>
/// <c>--records-latency</c>: the named-records path (critical writes) in a warm process — edit records through the Lua
/// writer, then time <see cref="ArchiveRecordsService.ArchiveAsync"/> for 1 and for 100 of them until committed; p50 and
/// p99 of 200 calls each. Baseline in the same run: one plain <c>INSERT … ON CONFLICT DO UPDATE</c> round trip per call
/// with the same number of rows (no Redis read, no mapping, no dead letters, no ordering with passes).
/// </summary>
internal sealed class RecordsLatency(BenchServers servers, Scenarios scenarios, Report report)
{
    private const int Calls = 200;

    public async Task RunAsync()
    {
        await servers.ResetAsync();
        var data = new BenchData(await servers.RedisNowMsAsync() - (long)TimeSpan.FromDays(1).TotalMilliseconds);
        await new RedisWorkload(servers).SeedAsync(data, 0, 10_000);
        await scenarios.WarmPassAsync();
        var services = servers.Warm;
        var records = services.GetRequiredService<ArchiveRecordsService>();
        var writer = services.GetRequiredService<RecordWriter>();
        var database = services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        await using var dataSource = NpgsqlDataSource.Create(servers.Postgres);

        foreach (var size in new[] { 1, 100 })
        {
            var ours = new List<double>();
            var baseline = new List<double>();
            for (var call = 0; call < Calls + 10; call++)
            {
                var ids = Enumerable.Range(0, size).Select(i => BenchData.MessageId(((long)call * size + i) % 10_000)).ToArray();
                await Task.WhenAll(ids.Select(id => writer.WriteAsync(database, EntityCatalog.Message, id, [new("content", $"edit {call}")])));
                var clock = Stopwatch.StartNew();
                var result = await records.ArchiveAsync([.. ids.Select(id => new RecordRef("message", id))], CancellationToken.None);
                var elapsed = clock.Elapsed.TotalMilliseconds;
                if (result.Records.Any(r => r.Outcome != RecordOutcome.Archived))
                {
                    throw new InvalidOperationException("a named record was not archived: " + string.Join(", ", result.Records.Where(r => r.Outcome != RecordOutcome.Archived)));
                }

                clock.Restart();
                await using (var command = dataSource.CreateCommand(
                    "INSERT INTO public.messages (id, session_id, user_id, role, content, created_at, updated_at) " +
                    "SELECT id, 's', 'u', 'user', 'baseline', now(), now() FROM unnest($1::text[]) AS t(id) " +
                    "ON CONFLICT (id) DO UPDATE SET content = excluded.content, updated_at = excluded.updated_at WHERE messages.updated_at < excluded.updated_at"))
                {
                    command.Parameters.Add(new() { Value = ids.Select(id => "baseline-" + id).ToArray() });
                    await command.ExecuteNonQueryAsync();
                }

                if (call >= 10)
                {
                    ours.Add(elapsed);
                    baseline.Add(clock.Elapsed.TotalMilliseconds);
                }
            }

            ours.Sort();
            baseline.Sort();
            report.Note($"baseline: one INSERT … ON CONFLICT round trip, {size} row(s)", $"p50 {Report.Percentile(baseline, 0.5):N1} ms", $"p99 {Report.Percentile(baseline, 0.99):N1} ms over {Calls} calls");
            report.Note($"NexusArchive archive-records, {size} record(s), warm", $"p50 {Report.Percentile(ours, 0.5):N1} ms", $"p99 {Report.Percentile(ours, 0.99):N1} ms over {Calls} calls; p50 {Report.Percentile(ours, 0.5) / Report.Percentile(baseline, 0.5):0.0}× the baseline (Redis read, mapping, COPY → MERGE, dead letters, ordering with passes)");
        }
    }

}
