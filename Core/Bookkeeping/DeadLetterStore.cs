using NexusArchive.Core.DeadLetters;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;
using Npgsql;
using NpgsqlTypes;

namespace NexusArchive.Core.Bookkeeping;

/// <summary>The values of <c>dead_letters.status</c>.</summary>
internal static class DeadLetterStatus
{
    /// <summary>Waiting for an operator or for the record to be fixed at the source.</summary>
    public const string Open = "open";

    /// <summary>The record later archived cleanly (a pass or a replay).</summary>
    public const string Resolved = "resolved";

    /// <summary>An operator decided the record is not to be archived.</summary>
    public const string Discarded = "discarded";
}

/// <summary>
/// One stored dead letter: the row as operators see it (<see cref="DeadLetterEntry"/>, public: <c>dead-letters list</c>
/// prints it), and what a replay needs to find the record again, which stays inside Core.
/// </summary>
/// <param name="Entry">The row as listed.</param>
/// <param name="Member">The change-index member (the record id's exact bytes).</param>
/// <param name="Score">The change-index score the record was read at.</param>
/// <param name="RedisKey">The record's hash key, for the operator's message when it is gone.</param>
internal sealed record StoredDeadLetter(DeadLetterEntry Entry, byte[] Member, double Score, string RedisKey);

/// <summary>
/// The only code that touches <c>{bookkeeping}.dead_letters</c>: records (inside a page's transaction), resolves
/// (when a record later archives cleanly), lists, discards and counts. Plain calls: callers run them through
/// <see cref="Resilience.PostgresCalls"/>.
/// </summary>
internal sealed class DeadLetterStore(NpgsqlDataSource dataSource, SchemaNames schemas, RedisLayout layout)
{
    private string Table => $"{schemas.Bookkeeping}.dead_letters";

    /// <summary>
    /// Records dead letters inside a page's transaction. Re-reading the same version (overlap, retries) only refreshes
    /// <c>last_seen_at</c>; a new version of a still-bad record counts an attempt.
    /// </summary>
    public NpgsqlBatchCommand RecordCommand(EntityDescriptor entity, Guid runId, IReadOnlyList<DeadLetter> deadLetters)
    {
        var command = new NpgsqlBatchCommand(
            $"""
            INSERT INTO {Table}
                   (entity, member, record_id, redis_key, score, reason_category, reason, raw_fields, last_run_id)
            SELECT $1, d.member, d.record_id, d.redis_key, d.score, d.category, d.reason, d.raw, $2
              FROM unnest($3::bytea[], $4::text[], $5::text[], $6::float8[], $7::text[], $8::text[], $9::jsonb[])
                   AS d(member, record_id, redis_key, score, category, reason, raw)
            ON CONFLICT (entity, member) WHERE status = '{DeadLetterStatus.Open}' DO UPDATE
               SET last_seen_at = now(),
                   last_run_id = EXCLUDED.last_run_id,
                   attempts = {Table}.attempts + CASE WHEN {Table}.score = EXCLUDED.score THEN 0 ELSE 1 END,
                   score = EXCLUDED.score,
                   reason_category = EXCLUDED.reason_category,
                   reason = EXCLUDED.reason,
                   raw_fields = EXCLUDED.raw_fields
            """);
        var prefix = layout.RecordKeyPrefix(entity);
        command.Parameters.Add(new() { Value = entity.Name });
        command.Parameters.Add(new() { Value = runId });
        command.Parameters.Add(new() { Value = deadLetters.Select(d => d.Entry.Member).ToArray() });
        command.Parameters.Add(new() { Value = deadLetters.Select(d => d.Entry.DisplayId.Replace('\0', '\uFFFD')).ToArray() });
        command.Parameters.Add(new() { Value = deadLetters.Select(d => (prefix + d.Entry.DisplayId).Replace('\0', '\uFFFD')).ToArray() });
        command.Parameters.Add(new() { Value = deadLetters.Select(d => d.Entry.Score).ToArray() });
        command.Parameters.Add(new() { Value = deadLetters.Select(d => d.Category).ToArray() });
        command.Parameters.Add(new() { Value = deadLetters.Select(d => d.Reason).ToArray() });
        command.Parameters.Add(new() { Value = deadLetters.Select(d => d.RawFields).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb });
        return command;
    }

    /// <summary>
    /// Records a queued message that names no record (entity <c>queue</c>, record id = the message id, <c>redis_key</c> =
    /// the queue's name, raw fields = the message text). Idempotent while open: every retry of the same message only
    /// refreshes <c>last_seen_at</c>.
    /// </summary>
    public async Task RecordInvalidEventAsync(string queueName, string messageId, string body, string category, string reason, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"""
            INSERT INTO {Table} (entity, member, record_id, redis_key, score, reason_category, reason, raw_fields)
            VALUES ($1, $2, $3, $4, 0, $5, $6, jsonb_build_array(jsonb_build_array('body', $7::text)))
            ON CONFLICT (entity, member) WHERE status = '{DeadLetterStatus.Open}' DO UPDATE
               SET last_seen_at = now(), reason = EXCLUDED.reason
            """);
        command.Parameters.Add(new() { Value = Archiving.RecordEventProcessor.DeadLetterEntity });
        command.Parameters.Add(new() { Value = System.Text.Encoding.UTF8.GetBytes(messageId) });
        command.Parameters.Add(new() { Value = messageId.Replace('\0', '\uFFFD') });
        command.Parameters.Add(new() { Value = queueName });
        command.Parameters.Add(new() { Value = category });
        command.Parameters.Add(new() { Value = reason });
        command.Parameters.Add(new() { Value = body.Replace('\0', '\uFFFD') });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Resolves the open dead letters of records that archived cleanly in this page (fixed at the source); null when none.</summary>
    public NpgsqlBatchCommand? ResolveCommand(EntityDescriptor entity, IEnumerable<byte[]> archivedMembers)
    {
        var members = archivedMembers.ToArray();
        if (members.Length == 0)
        {
            return null;
        }

        var command = new NpgsqlBatchCommand(
            $"""
            UPDATE {Table} SET status = '{DeadLetterStatus.Resolved}', closed_at = now()
             WHERE status = '{DeadLetterStatus.Open}' AND entity = $1 AND member = ANY($2)
            """);
        command.Parameters.Add(new() { Value = entity.Name });
        command.Parameters.Add(new() { Value = members });
        return command;
    }

    /// <summary>Of <paramref name="members"/>, those with an open or discarded dead letter (verify counts them apart from gaps).</summary>
    public NpgsqlBatchCommand DeadLetteredAmongCommand(EntityDescriptor entity, byte[][] members) =>
        new($"SELECT member FROM {Table} WHERE entity = $1 AND status IN ('{DeadLetterStatus.Open}', '{DeadLetterStatus.Discarded}') AND member = ANY($2)")
        {
            Parameters = { new() { Value = entity.Name }, new() { Value = members } },
        };

    /// <summary>Reads the result of <see cref="DeadLetteredAmongCommand"/>.</summary>
    public static async Task<HashSet<byte[]>> ReadMembersAsync(NpgsqlDataReader reader, CancellationToken cancellationToken)
    {
        var members = new HashSet<byte[]>(ByteArrayComparer.Instance);
        while (await reader.ReadAsync(cancellationToken))
        {
            members.Add((byte[])reader[0]);
        }

        return members;
    }

    /// <summary>Open dead letters per entity.</summary>
    public async Task<IReadOnlyDictionary<string, long>> CountOpenAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"SELECT entity, count(*) FROM {Table} WHERE status = '{DeadLetterStatus.Open}' GROUP BY entity");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            counts[reader.GetString(0)] = reader.GetInt64(1);
        }

        return counts;
    }

    /// <summary>
    /// Every open dead letter with the <c>sessionId</c> and <c>messageId</c> its raw fields carry (as text; absent or
    /// binary values read as null): offload keeps a session in Redis while one of its records cannot be archived.
    /// </summary>
    public async Task<List<(string Entity, string RecordId, string? SessionId, string? MessageId)>> OpenWithParentsAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"""
            SELECT entity, record_id,
                   (SELECT p ->> 1 FROM jsonb_array_elements(raw_fields) p WHERE p ->> 0 = 'sessionId' LIMIT 1),
                   (SELECT p ->> 1 FROM jsonb_array_elements(raw_fields) p WHERE p ->> 0 = 'messageId' LIMIT 1)
              FROM {Table}
             WHERE status = '{DeadLetterStatus.Open}'
            """);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<(string, string, string?, string?)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add((reader.GetString(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3)));
        }

        return rows;
    }

    /// <summary>Dead letters of one entity (or all) and some record ids (or all), oldest first.</summary>
    public async Task<List<StoredDeadLetter>> ListAsync(string? entity, IReadOnlyList<string>? recordIds, bool includeClosed, int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"""
            SELECT dead_letter_id, entity, record_id, reason_category, reason, attempts, first_seen_at, last_seen_at, status,
                   member, score, redis_key
              FROM {Table}
             WHERE ($1::text IS NULL OR entity = $1) AND ($2::text[] IS NULL OR record_id = ANY($2))
               AND ($3 OR status = '{DeadLetterStatus.Open}')
             ORDER BY first_seen_at, dead_letter_id
             LIMIT $4
            """);
        AddFilter(command, entity, recordIds);
        command.Parameters.Add(new() { Value = includeClosed });
        command.Parameters.Add(new() { Value = (long)limit });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<StoredDeadLetter>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new StoredDeadLetter(
                new DeadLetterEntry(
                    reader.GetInt64(0),
                    reader.GetString(1),
                    reader.GetString(2),
                    reader.GetString(3),
                    reader.GetString(4),
                    reader.GetInt32(5),
                    reader.GetFieldValue<DateTimeOffset>(6),
                    reader.GetFieldValue<DateTimeOffset>(7),
                    reader.GetString(8)),
                (byte[])reader[9],
                reader.GetDouble(10),
                reader.GetString(11)));
        }

        return rows;
    }

    /// <summary>Marks the matching open dead letters as discarded; returns how many.</summary>
    public async Task<int> DiscardAsync(string? entity, IReadOnlyList<string>? recordIds, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"""
            UPDATE {Table} SET status = '{DeadLetterStatus.Discarded}', closed_at = now()
             WHERE status = '{DeadLetterStatus.Open}' AND ($1::text IS NULL OR entity = $1) AND ($2::text[] IS NULL OR record_id = ANY($2))
            """);
        AddFilter(command, entity, recordIds);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static void AddFilter(NpgsqlCommand command, string? entity, IReadOnlyList<string>? recordIds)
    {
        command.Parameters.Add(new() { Value = (object?)entity ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        command.Parameters.Add(new()
        {
            Value = recordIds is { Count: > 0 } ids ? ids.ToArray() : DBNull.Value,
            NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text,
        });
    }
}
