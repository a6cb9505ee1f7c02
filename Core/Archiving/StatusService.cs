using System.Text.Json;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;
using Npgsql;

namespace NexusArchive.Core.Archiving;

/// <summary>Per-entity state of the archive.</summary>
public sealed record EntityStatus(
    string Entity,
    double? CheckpointScore,
    DateTimeOffset? Checkpoint,
    double? LagMs,
    long Backlog,
    long ArchivedRows,
    long OpenDeadLetters,
    bool Leased);

/// <summary>A past run as run history holds it.</summary>
public sealed record RunSummary(Guid RunId, string Trigger, DateTimeOffset StartedAt, DateTimeOffset? FinishedAt, string Status, string? Error, JsonElement Entities);

/// <summary>What <c>status</c> (CLI and HTTP) reports.</summary>
public sealed record ArchiveStatus(DateTimeOffset RedisNow, IReadOnlyList<EntityStatus> Entities, IReadOnlyList<RunSummary> RecentRuns, long OpenDeadLetters);

/// <summary>Reads checkpoints, lag, backlog, recent runs and open dead letters.</summary>
public sealed class StatusService(NpgsqlDataSource dataSource, IChangeSource source, SchemaNames schemas, IOptions<ArchiveOptions> options)
{
    /// <summary>Builds the status report.</summary>
    public async Task<ArchiveStatus> GetAsync(CancellationToken cancellationToken)
    {
        var redisNow = await source.GetServerTimeAsync(cancellationToken);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);

        var checkpoints = new Dictionary<string, (double? Score, bool Leased)>();
        await using (var command = new NpgsqlCommand(
            $"SELECT entity, score, lease_owner IS NOT NULL AND lease_expires_at > now() FROM {schemas.Bookkeeping}.checkpoints", connection))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                checkpoints[reader.GetString(0)] = (reader.IsDBNull(1) ? null : reader.GetDouble(1), reader.GetBoolean(2));
            }
        }

        var deadLetters = new Dictionary<string, long>();
        await using (var command = new NpgsqlCommand(
            $"SELECT entity, count(*) FROM {schemas.Bookkeeping}.dead_letters WHERE status = 'open' GROUP BY entity", connection))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                deadLetters[reader.GetString(0)] = reader.GetInt64(1);
            }
        }

        var entities = new List<EntityStatus>();
        foreach (var entity in EntityCatalog.All)
        {
            var (score, leased) = checkpoints.GetValueOrDefault(entity.Name);
            var hasScore = score is { } s && double.IsFinite(s);
            var after = hasScore ? score!.Value : double.NegativeInfinity;
            var backlog = await source.CountAfterAsync(entity, after, cancellationToken);
            var oldestPending = await source.ReadBeyondAsync(entity, after, 1, cancellationToken);
            var rows = await CountRowsAsync(connection, entity, cancellationToken);

            entities.Add(new EntityStatus(
                entity.Name,
                hasScore ? score : null,
                hasScore ? DateTimeOffset.FromUnixTimeMilliseconds((long)score!.Value) : null,
                // Lag: how long the oldest change not yet archived has waited (0 when caught up).
                oldestPending.Count == 0 ? 0 : Math.Max(0, redisNow.ToUnixTimeMilliseconds() - oldestPending[0].Score),
                backlog,
                rows,
                deadLetters.GetValueOrDefault(entity.Name),
                leased));
        }

        var runs = new List<RunSummary>();
        await using (var command = new NpgsqlCommand(
            $"SELECT run_id, trigger, started_at, finished_at, status, error, entities FROM {schemas.Bookkeeping}.runs ORDER BY started_at DESC LIMIT $1", connection))
        {
            command.Parameters.Add(new() { Value = options.Value.StatusRunCount });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
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
        }

        return new ArchiveStatus(redisNow, entities, runs, deadLetters.Values.Sum());
    }

    private async Task<long> CountRowsAsync(NpgsqlConnection connection, Entities.EntityDescriptor entity, CancellationToken cancellationToken)
    {
        // The planner's estimate for big tables (an exact count of 100M rows would make status a load problem),
        // an exact count below a million rows or before the table was ever analysed.
        await using var estimate = new NpgsqlCommand("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass($1)", connection);
        estimate.Parameters.Add(new() { Value = $"{schemas.Target}.{entity.Table}" });
        if (await estimate.ExecuteScalarAsync(cancellationToken) is long n && n >= 1_000_000)
        {
            return n;
        }

        await using var exact = new NpgsqlCommand($"SELECT count(*) FROM {schemas.Target}.{entity.Table}", connection);
        return (long)(await exact.ExecuteScalarAsync(cancellationToken))!;
    }
}
