using System.Text.Json;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Offload;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Verification;
using Npgsql;
using NpgsqlTypes;

namespace NexusArchive.Core.Bookkeeping;

/// <summary>A session the candidate search found: idle since before the cutoff, not offloaded yet.</summary>
internal sealed record OffloadCandidate(string SessionId, string UserId);

/// <summary>An offloaded session whose archive holds fewer rows of an entity than when it left Redis.</summary>
internal sealed record OffloadShortfall(string SessionId, string Entity, long Recorded, long Archived);

/// <summary>The last offload run, as status shows it.</summary>
public sealed record OffloadRunSummary(
    Guid RunId,
    string Trigger,
    bool DryRun,
    DateTimeOffset StartedAt,
    DateTimeOffset? FinishedAt,
    string Status,
    long SessionsOffloaded,
    long SessionsSkipped,
    long RecordsRemoved,
    long BytesFreed,
    string? BytesMethod,
    string? Error);

/// <summary>
/// The only code that touches <c>{bookkeeping}.offloaded_sessions</c> and <c>{bookkeeping}.offload_runs</c>: which
/// sessions left Redis (pending while their removal runs, offloaded once it is confirmed), the candidate search, and
/// one row per offload run. Plain calls: callers run them through <see cref="Resilience.PostgresCalls"/>.
/// </summary>
internal sealed class OffloadLedger(NpgsqlDataSource dataSource, SchemaNames schemas)
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web);

    private string Sessions => $"{schemas.Bookkeeping}.offloaded_sessions";

    private string Runs => $"{schemas.Bookkeeping}.offload_runs";

    private string Target(EntityDescriptor entity) => $"{schemas.Target}.{entity.Table}";

    /// <summary>
    /// One page of candidate sessions after <paramref name="afterSessionId"/> in id order: archived sessions whose
    /// own row, messages and attachment references were all last updated before <paramref name="cutoff"/>, that are
    /// not offloaded (a <c>pending</c> one is a candidate again: its removal may not have run).
    /// </summary>
    public async Task<List<OffloadCandidate>> CandidatesAsync(string afterSessionId, DateTimeOffset cutoff, int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"""
            SELECT s.id, s.user_id FROM {Target(EntityCatalog.Session)} s
            WHERE s.id > $1 AND s.updated_at < $2
              AND NOT EXISTS (SELECT 1 FROM {Sessions} o WHERE o.session_id = s.id AND o.state = 'offloaded')
              AND NOT EXISTS (SELECT 1 FROM {Target(EntityCatalog.Message)} m WHERE m.session_id = s.id AND m.updated_at >= $2)
              AND NOT EXISTS (SELECT 1 FROM {Target(EntityCatalog.Attachment)} a WHERE a.session_id = s.id AND a.updated_at >= $2)
              AND NOT EXISTS (SELECT 1 FROM {Target(EntityCatalog.Message)} m JOIN {Target(EntityCatalog.Attachment)} a ON a.message_id = m.id
                              WHERE m.session_id = s.id AND a.session_id IS NULL AND a.updated_at >= $2)
            ORDER BY s.id LIMIT $3
            """);
        command.Parameters.Add(new() { Value = afterSessionId });
        command.Parameters.Add(new() { Value = cutoff });
        command.Parameters.Add(new() { Value = limit });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var candidates = new List<OffloadCandidate>(limit);
        while (await reader.ReadAsync(cancellationToken))
        {
            candidates.Add(new OffloadCandidate(reader.GetString(0), reader.GetString(1)));
        }

        return candidates;
    }

    /// <summary>
    /// A boolean SQL expression over <paramref name="entity"/>'s archive table (written unaliased, as
    /// <c>{target}.{table}</c>): the row belongs to an offloaded session. <c>false</c> for users, which never leave Redis by age.
    /// </summary>
    public string BelongsToOffloadedSql(EntityDescriptor entity)
    {
        var table = Target(entity);
        var offloaded = $"SELECT 1 FROM {Sessions} o WHERE o.state = 'offloaded' AND o.session_id";
        return entity.Name switch
        {
            "session" => $"EXISTS ({offloaded} = {table}.id)",
            "message" => $"EXISTS ({offloaded} = {table}.session_id)",
            "attachment" => $"(EXISTS ({offloaded} = {table}.session_id) OR EXISTS ({offloaded} IN "
                + $"(SELECT m.session_id FROM {Target(EntityCatalog.Message)} m WHERE m.id = {table}.message_id)))",
            _ => "false",
        };
    }

    /// <summary>Marks sessions <c>pending</c> just before their removal from Redis, with the archive rows they hold per entity.</summary>
    public async Task MarkPendingAsync(Guid runId, DateTimeOffset now, IReadOnlyList<(OffloadCandidate Session, IReadOnlyDictionary<string, int> Records)> sessions, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"""
            INSERT INTO {Sessions} AS o (session_id, user_id, state, run_id, offloaded_at, records)
            SELECT s, u, 'pending', $4, $5, r::jsonb FROM unnest($1::text[], $2::text[], $3::text[]) AS t(s, u, r)
            ON CONFLICT (session_id) DO UPDATE SET state = 'pending', run_id = $4, offloaded_at = $5, records = excluded.records
                WHERE o.state = 'pending'
            """);
        command.Parameters.Add(new() { Value = sessions.Select(s => s.Session.SessionId).ToArray() });
        command.Parameters.Add(new() { Value = sessions.Select(s => s.Session.UserId).ToArray() });
        command.Parameters.Add(new() { Value = sessions.Select(s => JsonSerializer.Serialize(s.Records, s_json)).ToArray() });
        command.Parameters.Add(new() { Value = runId });
        command.Parameters.Add(new() { Value = now });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Confirms removed sessions: <c>offloaded</c>, with the keys removed and the bytes freed.</summary>
    public async Task ConfirmAsync(IReadOnlyList<OffloadedSession> sessions, CancellationToken cancellationToken)
    {
        if (sessions.Count == 0)
        {
            return;
        }

        await using var command = dataSource.CreateCommand($"""
            UPDATE {Sessions} o SET state = 'offloaded', redis_keys = t.k, bytes_freed = t.b
            FROM unnest($1::text[], $2::int[], $3::bigint[]) AS t(s, k, b) WHERE o.session_id = t.s
            """);
        command.Parameters.Add(new() { Value = sessions.Select(s => s.SessionId).ToArray() });
        command.Parameters.Add(new() { Value = sessions.Select(s => s.RedisKeys).ToArray() });
        command.Parameters.Add(new() { Value = sessions.Select(s => s.Bytes).ToArray() });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Forgets this run's pending sessions whose removal did nothing (a write won the race). Only rows this run marked
    /// and nobody confirmed since: a concurrent run that removed the session keeps its record.
    /// </summary>
    public async Task ForgetPendingAsync(Guid runId, IReadOnlyList<string> sessionIds, CancellationToken cancellationToken)
    {
        if (sessionIds.Count == 0)
        {
            return;
        }

        await using var command = dataSource.CreateCommand($"DELETE FROM {Sessions} WHERE session_id = ANY($1) AND run_id = $2 AND state = 'pending'");
        command.Parameters.Add(new() { Value = sessionIds.ToArray() });
        command.Parameters.Add(new() { Value = runId });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Of <paramref name="sessionIds"/>, those whose session row the archive holds.</summary>
    public async Task<HashSet<string>> ArchivedSessionsAsync(IReadOnlyList<string> sessionIds, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"SELECT id FROM {Target(EntityCatalog.Session)} WHERE id = ANY($1)");
        command.Parameters.Add(new() { Value = sessionIds.ToArray() });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var found = new HashSet<string>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            found.Add(reader.GetString(0));
        }

        return found;
    }

    /// <summary>Forgets sessions restored into Redis, whatever their state.</summary>
    public async Task<int> ForgetAsync(IReadOnlyList<string> sessionIds, CancellationToken cancellationToken)
    {
        if (sessionIds.Count == 0)
        {
            return 0;
        }

        await using var command = dataSource.CreateCommand($"DELETE FROM {Sessions} WHERE session_id = ANY($1)");
        command.Parameters.Add(new() { Value = sessionIds.ToArray() });
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Offloaded sessions within a scope (all, a user's, one session) with their users, in session id order.</summary>
    public async Task<List<(string SessionId, string UserId, DateTimeOffset OffloadedAt)>> OffloadedAsync(ArchiveScope scope, CancellationToken cancellationToken)
    {
        var filter = scope.Kind switch
        {
            ScopeKind.User => "AND user_id = $1",
            ScopeKind.Session => "AND session_id = $1",
            _ => string.Empty,
        };
        await using var command = dataSource.CreateCommand($"SELECT session_id, user_id, offloaded_at FROM {Sessions} WHERE state = 'offloaded' {filter} ORDER BY session_id");
        if (scope.Id is { } id)
        {
            command.Parameters.Add(new() { Value = id });
        }

        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var sessions = new List<(string, string, DateTimeOffset)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            sessions.Add((reader.GetString(0), reader.GetString(1), reader.GetFieldValue<DateTimeOffset>(2)));
        }

        return sessions;
    }

    /// <summary>
    /// Offloaded sessions (within a scope) whose archive now holds fewer rows of <paramref name="entity"/> than when they
    /// left Redis: records whose only copy is gone.
    /// </summary>
    public async Task<List<OffloadShortfall>> ShortfallsAsync(EntityDescriptor entity, ArchiveScope scope, CancellationToken cancellationToken)
    {
        var table = Target(entity);
        var archived = entity.Name switch
        {
            "session" => $"(SELECT count(*) FROM {table} x WHERE x.id = o.session_id)",
            "message" => $"(SELECT count(*) FROM {table} x WHERE x.session_id = o.session_id)",
            "attachment" => $"(SELECT count(*) FROM {table} x WHERE x.session_id = o.session_id OR x.message_id IN "
                + $"(SELECT m.id FROM {Target(EntityCatalog.Message)} m WHERE m.session_id = o.session_id))",
            _ => null,
        };
        if (archived is null)
        {
            return [];
        }

        var filter = scope.Kind switch
        {
            ScopeKind.User => "AND o.user_id = $2",
            ScopeKind.Session => "AND o.session_id = $2",
            _ => string.Empty,
        };
        await using var command = dataSource.CreateCommand($"""
            SELECT session_id, recorded, archived FROM (
                SELECT o.session_id, COALESCE((o.records ->> $1)::bigint, 0) AS recorded, {archived} AS archived
                FROM {Sessions} o WHERE o.state = 'offloaded' {filter}) t
            WHERE archived < recorded ORDER BY session_id
            """);
        command.Parameters.Add(new() { Value = entity.Name });
        if (scope.Id is { } id)
        {
            command.Parameters.Add(new() { Value = id });
        }

        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var shortfalls = new List<OffloadShortfall>();
        while (await reader.ReadAsync(cancellationToken))
        {
            shortfalls.Add(new OffloadShortfall(reader.GetString(0), entity.Name, reader.GetInt64(1), reader.GetInt64(2)));
        }

        return shortfalls;
    }

    /// <summary>Records the start of an offload run.</summary>
    public async Task StartRunAsync(OffloadReport report, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"INSERT INTO {Runs} (run_id, trigger, dry_run, started_at, cutoff) VALUES ($1, $2, $3, $4, $5)");
        command.Parameters.Add(new() { Value = report.RunId });
        command.Parameters.Add(new() { Value = report.Trigger });
        command.Parameters.Add(new() { Value = report.DryRun });
        command.Parameters.Add(new() { Value = report.StartedAt });
        command.Parameters.Add(new() { Value = report.Cutoff });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Records how an offload run ended and what it freed.</summary>
    public async Task FinishRunAsync(OffloadReport report, DateTimeOffset finishedAt, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"""
            UPDATE {Runs} SET finished_at = $2, status = $3, error = $4, candidates = $5, sessions_offloaded = $6,
                sessions_skipped = $7, records_removed = $8, bytes_freed = $9, bytes_method = $10, skipped_by_reason = $11
            WHERE run_id = $1
            """);
        command.Parameters.Add(new() { Value = report.RunId });
        command.Parameters.Add(new() { Value = finishedAt });
        command.Parameters.Add(new() { Value = report.Status.ToString() });
        command.Parameters.Add(new() { Value = (object?)report.RefusedBecause ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        command.Parameters.Add(new() { Value = report.Candidates });
        command.Parameters.Add(new() { Value = report.SessionsOffloaded });
        command.Parameters.Add(new() { Value = report.SessionsSkipped });
        command.Parameters.Add(new() { Value = report.RecordsRemoved });
        command.Parameters.Add(new() { Value = report.BytesFreed });
        command.Parameters.Add(new() { Value = report.BytesMethod });
        command.Parameters.Add(new() { Value = JsonSerializer.Serialize(report.SkippedByReason, s_json), NpgsqlDbType = NpgsqlDbType.Jsonb });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The newest offload run that is not a dry run, and how many sessions are offloaded now; null when none ran.</summary>
    public async Task<(OffloadRunSummary? LastRun, long OffloadedSessions, long BytesFreed)> SummaryAsync(CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(await dataSource.OpenConnectionAsync(cancellationToken))
        {
            BatchCommands =
            {
                new($"""
                    SELECT run_id, trigger, dry_run, started_at, finished_at, status, sessions_offloaded, sessions_skipped,
                           records_removed, bytes_freed, bytes_method, error
                    FROM {Runs} WHERE NOT dry_run ORDER BY started_at DESC LIMIT 1
                    """),
                new($"SELECT count(*), COALESCE(sum(bytes_freed), 0)::bigint FROM {Sessions} WHERE state = 'offloaded'"),
            },
        };
        await using var connection = batch.Connection!;
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        OffloadRunSummary? last = null;
        if (await reader.ReadAsync(cancellationToken))
        {
            last = new OffloadRunSummary(
                reader.GetGuid(0), reader.GetString(1), reader.GetBoolean(2), reader.GetFieldValue<DateTimeOffset>(3),
                reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4), reader.GetString(5), reader.GetInt64(6),
                reader.GetInt64(7), reader.GetInt64(8), reader.GetInt64(9), reader.IsDBNull(10) ? null : reader.GetString(10),
                reader.IsDBNull(11) ? null : reader.GetString(11));
        }

        await reader.NextResultAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (last, reader.GetInt64(0), reader.GetInt64(1));
    }
}
