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
}
