using System.Text.Json;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Sink;
using Npgsql;
using NpgsqlTypes;

namespace NexusArchive.Core.Bookkeeping;

/// <summary>
/// The only code that touches <c>{bookkeeping}.runs</c>: one row per pass, written when it starts and again when it
/// ends, read by status. Plain calls: callers run them through <see cref="Resilience.PostgresCalls"/>.
/// </summary>
internal sealed class RunHistory(NpgsqlDataSource dataSource, SchemaNames schemas)
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web);

    private string Table => $"{schemas.Bookkeeping}.runs";

    /// <summary>Records the start of a run (a retry after a lost reply meets a unique violation: see ResilientArchiveSink).</summary>
    public async Task StartAsync(ArchiveRunResult run, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"INSERT INTO {Table} (run_id, trigger, started_at, status, entities) VALUES ($1, $2, $3, $4, $5)");
        command.Parameters.Add(new() { Value = run.RunId });
        command.Parameters.Add(new() { Value = run.Trigger });
        command.Parameters.Add(new() { Value = run.StartedAt });
        command.Parameters.Add(new() { Value = run.Status.ToString() });
        command.Parameters.Add(new() { Value = JsonSerializer.Serialize(run.Entities, s_json), NpgsqlDbType = NpgsqlDbType.Jsonb });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Records the outcome of a run.</summary>
    public async Task FinishAsync(ArchiveRunResult run, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"UPDATE {Table} SET finished_at = $2, status = $3, error = $4, entities = $5 WHERE run_id = $1");
        command.Parameters.Add(new() { Value = run.RunId });
        command.Parameters.Add(new() { Value = (object?)run.FinishedAt ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        command.Parameters.Add(new() { Value = run.Status.ToString() });
        command.Parameters.Add(new() { Value = (object?)run.Error ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        command.Parameters.Add(new() { Value = JsonSerializer.Serialize(run.Entities, s_json), NpgsqlDbType = NpgsqlDbType.Jsonb });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The newest <paramref name="count"/> runs, newest first.</summary>
    public async Task<IReadOnlyList<RunSummary>> RecentAsync(int count, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"SELECT run_id, trigger, started_at, finished_at, status, error, entities FROM {Table} ORDER BY started_at DESC LIMIT $1");
        command.Parameters.Add(new() { Value = count });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var runs = new List<RunSummary>();
        while (await reader.ReadAsync(cancellationToken))
        {
            using var document = JsonDocument.Parse(reader.GetString(6));
            runs.Add(new RunSummary(
                reader.GetGuid(0),
                reader.GetString(1),
                reader.GetFieldValue<DateTimeOffset>(2),
                reader.IsDBNull(3) ? null : reader.GetFieldValue<DateTimeOffset>(3),
                reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetString(5),
                document.RootElement.Clone()));
        }

        return runs;
    }

    /// <summary>
    /// What the runs started at or after <paramref name="since"/> did, summed in PostgreSQL (one round trip, no row
    /// leaves the server): per entity the rows upserted and the Redis commands sent, and which runs recorded command
    /// counts at all (runs from before the pass counted them hold none). For <c>cost</c> and status.
    /// </summary>
    public async Task<RunWindow> WindowAsync(DateTimeOffset since, CancellationToken cancellationToken)
    {
        await using var batch = dataSource.CreateBatch();
        var summary = new NpgsqlBatchCommand(
            $"""
            SELECT (SELECT min(started_at) FROM {Table}),
                   count(*)::int,
                   count(*) FILTER (WHERE c.commands > 0)::int,
                   min(r.started_at) FILTER (WHERE c.commands > 0)
              FROM {Table} r
             CROSS JOIN LATERAL (SELECT coalesce(sum((e->>'redisCommands')::bigint), 0) AS commands
                                   FROM jsonb_array_elements(r.entities) e) c
             WHERE r.started_at >= $1
            """);
        summary.Parameters.Add(new() { Value = since });
        var perEntity = new NpgsqlBatchCommand(
            $"""
            SELECT e->>'entity',
                   coalesce(sum((e->>'upserted')::bigint), 0)::bigint,
                   coalesce(sum((e->>'redisCommands')::bigint), 0)::bigint
              FROM {Table} r
             CROSS JOIN LATERAL jsonb_array_elements(r.entities) e
             WHERE r.started_at >= $1 AND e->>'entity' IS NOT NULL
             GROUP BY 1
            """);
        perEntity.Parameters.Add(new() { Value = since });
        batch.BatchCommands.Add(summary);
        batch.BatchCommands.Add(perEntity);

        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var firstRun = reader.IsDBNull(0) ? (DateTimeOffset?)null : reader.GetFieldValue<DateTimeOffset>(0);
        var runs = reader.GetInt32(1);
        var counted = reader.GetInt32(2);
        var oldestCounted = reader.IsDBNull(3) ? (DateTimeOffset?)null : reader.GetFieldValue<DateTimeOffset>(3);

        await reader.NextResultAsync(cancellationToken);
        var entities = new Dictionary<string, RunWindowEntity>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            entities[reader.GetString(0)] = new RunWindowEntity(reader.GetInt64(1), reader.GetInt64(2));
        }

        return new RunWindow(since, firstRun, runs, counted, oldestCounted, entities);
    }
}

/// <summary>The runs of a window, summed (<see cref="RunHistory.WindowAsync"/>).</summary>
/// <param name="Since">The window's start.</param>
/// <param name="FirstRunEver">The oldest run in the whole history (null: none), to tell whether history covers the window.</param>
/// <param name="Runs">Runs started in the window.</param>
/// <param name="RunsWithCommandCounts">Of those, the runs that recorded Redis commands (older runs hold 0).</param>
/// <param name="OldestCountedRun">The oldest run in the window with command counts (null: none).</param>
/// <param name="Entities">Per entity name: rows upserted and Redis commands sent in the window.</param>
internal sealed record RunWindow(
    DateTimeOffset Since,
    DateTimeOffset? FirstRunEver,
    int Runs,
    int RunsWithCommandCounts,
    DateTimeOffset? OldestCountedRun,
    IReadOnlyDictionary<string, RunWindowEntity> Entities);

/// <summary>One entity's sums over a <see cref="RunWindow"/>.</summary>
internal sealed record RunWindowEntity(long Upserted, long RedisCommands);
