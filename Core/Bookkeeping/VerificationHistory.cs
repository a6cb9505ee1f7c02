using System.Text.Json;
using System.Text.Json.Serialization;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;
using NexusArchive.Core.Verification;
using Npgsql;
using NpgsqlTypes;

namespace NexusArchive.Core.Bookkeeping;

/// <summary>
/// Where an entity's incremental verify continues: after (<see cref="SinceScore"/>, <see cref="SinceMember"/>) in the
/// change index (null = from its first entry), and at SCAN cursor <see cref="ScanCursor"/> in the keyspace ("0" = a new
/// walk).
/// </summary>
internal sealed record VerifyResumePoint(double? SinceScore, byte[]? SinceMember, string ScanCursor)
{
    /// <summary>Before the first index entry, at the start of a keyspace walk.</summary>
    public static VerifyResumePoint Start { get; } = new(null, null, "0");

    /// <summary>The index position to read after.</summary>
    [JsonIgnore]
    public ChangeCursor Since => SinceScore is { } score ? new ChangeCursor(score, SinceMember ?? []) : ChangeCursor.Start;
}

/// <summary>One row of <c>{bookkeeping}.verifications</c> as it is written.</summary>
internal sealed class VerificationRecord
{
    public long Id { get; set; }

    public required string Kind { get; init; }

    public required string Trigger { get; init; }

    /// <summary><c>user u-1</c> / <c>session s-1</c>; null = everything.</summary>
    public string? Scope { get; init; }

    public required DateTimeOffset StartedAt { get; init; }

    public DateTimeOffset? FinishedAt { get; set; }

    public VerificationStatus Status { get; set; } = VerificationStatus.Running;

    public string? Error { get; set; }

    public long RecordsChecked { get; set; }

    public long Gaps { get; set; }

    public long Differences { get; set; }

    /// <summary>The per-entity results, stored as JSON (the same shape the report prints).</summary>
    public object Entities { get; set; } = Array.Empty<object>();

    /// <summary>Incremental only: where each entity continues; null leaves the stored value unchanged.</summary>
    public Dictionary<string, VerifyResumePoint>? Resume { get; set; }

    public List<string> ExampleIds { get; set; } = [];

    /// <summary>Adds one entity's counts and up to <see cref="MaxExampleIds"/> examples (<c>entity:id</c>) in all.</summary>
    public void Add(EntityVerifyResult result)
    {
        RecordsChecked += result.RecordsChecked;
        Gaps += result.Gaps;
        Differences += result.Differences;
        foreach (var id in result.ProblemSamples())
        {
            if (ExampleIds.Count < MaxExampleIds)
            {
                ExampleIds.Add($"{result.Entity}:{id}");
            }
        }
    }

    /// <summary>Example ids kept per verification.</summary>
    public const int MaxExampleIds = 20;
}

/// <summary>
/// The only code that touches <c>{bookkeeping}.verifications</c> (migration 0003): one row per verification, written
/// when it starts, as each entity finishes and when it ends; read by the next incremental run (where to continue) and
/// by status (the newest finished one). Plain calls: callers run them through <see cref="Resilience.PostgresCalls"/>.
/// </summary>
internal sealed class VerificationHistory(NpgsqlDataSource dataSource, SchemaNames schemas)
{
    /// <summary>Web casing, enums as words; scores may be ±infinity (other clients can write them into an index).</summary>
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web)
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    private string Table => $"{schemas.Bookkeeping}.verifications";

    /// <summary>
    /// Inserts the row of a starting verification and sets its id. An incremental one starts from the newest recorded
    /// resume points, which its row carries over at once (so a run that fails before its first entity loses nothing);
    /// the returned map is empty for a full verification or when no incremental run was recorded yet.
    /// </summary>
    public async Task<Dictionary<string, VerifyResumePoint>> StartAsync(VerificationRecord record, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"""
            INSERT INTO {Table} (kind, trigger, scope, started_at, status, resume)
            VALUES ($1, $2, $3, $4, $5,
                    CASE WHEN $1 = '{VerificationKinds.Incremental}'
                         THEN (SELECT resume FROM {Table} WHERE resume IS NOT NULL ORDER BY verification_id DESC LIMIT 1) END)
            RETURNING verification_id, resume
            """);
        command.Parameters.Add(new() { Value = record.Kind });
        command.Parameters.Add(new() { Value = record.Trigger });
        command.Parameters.Add(new() { Value = (object?)record.Scope ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        command.Parameters.Add(new() { Value = record.StartedAt });
        command.Parameters.Add(new() { Value = record.Status.ToString() });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        record.Id = reader.GetInt64(0);
        var resume = reader.IsDBNull(1) ? null : JsonSerializer.Deserialize<Dictionary<string, VerifyResumePoint>>(reader.GetString(1), s_json);
        return resume ?? new Dictionary<string, VerifyResumePoint>(StringComparer.Ordinal);
    }

    /// <summary>Writes the row's progress or outcome (a null <see cref="VerificationRecord.Resume"/> keeps the stored resume points).</summary>
    public async Task UpdateAsync(VerificationRecord record, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"""
            UPDATE {Table}
               SET finished_at = $2, status = $3, error = $4, records_checked = $5, gaps = $6, differences = $7,
                   entities = $8, resume = coalesce($9, resume), example_ids = $10
             WHERE verification_id = $1
            """);
        command.Parameters.Add(new() { Value = record.Id });
        command.Parameters.Add(new() { Value = (object?)record.FinishedAt ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        command.Parameters.Add(new() { Value = record.Status.ToString() });
        command.Parameters.Add(new() { Value = (object?)record.Error ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        command.Parameters.Add(new() { Value = record.RecordsChecked });
        command.Parameters.Add(new() { Value = record.Gaps });
        command.Parameters.Add(new() { Value = record.Differences });
        command.Parameters.Add(new() { Value = JsonSerializer.Serialize(record.Entities, record.Entities.GetType(), s_json), NpgsqlDbType = NpgsqlDbType.Jsonb });
        command.Parameters.Add(new()
        {
            Value = record.Resume is null ? DBNull.Value : JsonSerializer.Serialize(record.Resume, s_json),
            NpgsqlDbType = NpgsqlDbType.Jsonb,
        });
        command.Parameters.Add(new() { Value = record.ExampleIds.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The newest finished verification of any kind (null when none has finished yet).</summary>
    public async Task<VerificationSummary?> LatestFinishedAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"""
            SELECT verification_id, kind, trigger, started_at, finished_at, status, error, records_checked, gaps, differences, example_ids
              FROM {Table}
             WHERE finished_at IS NOT NULL
             ORDER BY finished_at DESC, verification_id DESC
             LIMIT 1
            """);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return new VerificationSummary(
            reader.GetInt64(0),
            reader.GetString(1),
            reader.GetString(2),
            reader.GetFieldValue<DateTimeOffset>(3),
            reader.GetFieldValue<DateTimeOffset>(4),
            Enum.Parse<VerificationStatus>(reader.GetString(5)),
            reader.IsDBNull(6) ? null : reader.GetString(6),
            reader.GetInt64(7),
            reader.GetInt64(8),
            reader.GetInt64(9),
            reader.GetFieldValue<string[]>(10));
    }
}
