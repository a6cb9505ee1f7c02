using Microsoft.Extensions.Options;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;
using Npgsql;
using NpgsqlTypes;

namespace NexusArchive.Core.Bookkeeping;

/// <summary>One entity's row of the checkpoint table.</summary>
/// <param name="Entity">The entity name.</param>
/// <param name="Checkpoint">Where the archive stands: after this (score, member); null = never archived.</param>
/// <param name="Leased">A live pass holds the entity (its lease has not expired).</param>
/// <param name="Quiet">The quiet mark the last successful pass left, if any (what a fan-out plan compares with Redis).</param>
internal sealed record CheckpointState(string Entity, ChangeCursor? Checkpoint, bool Leased, QuietMark? Quiet = null);

/// <summary>
/// Where a successful pass left an entity: the write count it read before its first page and the checkpoint it committed.
/// While Redis still shows the same count and the checkpoint has not moved, nothing was written since (migration 0008).
/// </summary>
/// <param name="Writes">The write counter and change-index size read before the pass's first page.</param>
/// <param name="Checkpoint">The checkpoint the pass committed.</param>
internal sealed record QuietMark(WriteCount Writes, ChangeCursor Checkpoint)
{
    /// <summary>
    /// True when <paramref name="writes"/> and <paramref name="checkpoint"/> (<see cref="ChangeCursor.Start"/> when never
    /// archived) are exactly what the mark recorded.
    /// </summary>
    public bool Holds(WriteCount? writes, ChangeCursor checkpoint) => writes is { } w && Writes == w && Checkpoint.Equals(checkpoint);
}

/// <summary>What <see cref="CheckpointStore.AcquireAsync"/> returns with the lease.</summary>
/// <param name="Checkpoint">The committed checkpoint (null = never archived).</param>
/// <param name="Quiet">The quiet mark the last successful pass left, if any.</param>
internal sealed record AcquiredCheckpoint(ChangeCursor? Checkpoint, QuietMark? Quiet);

/// <summary>What <see cref="CheckpointStore.RewindAsync"/> did.</summary>
internal enum RewindOutcome
{
    /// <summary>Never archived, or the checkpoint already lies before the target: nothing to do.</summary>
    NotNeeded,

    /// <summary>A live pass holds the entity; its next commit would move the checkpoint forward again.</summary>
    Blocked,

    /// <summary>The checkpoint was moved back (and any stale lease cleared).</summary>
    Rewound,
}

/// <summary>
/// The only code that touches <c>{bookkeeping}.checkpoints</c>: the per-entity checkpoint (where the archive stands in
/// the change index) and the lease that lets one pass at a time work an entity, under a transaction-scoped advisory
/// lock. Stored checkpoints are "after (score, member)"; a stored NULL member reads as the empty member, i.e. before
/// every record at that score (ids are never empty), and the store never writes NULL. Plain calls: callers run them
/// through <see cref="Resilience.PostgresCalls"/> (the pass through <see cref="Resilience.ResilientArchiveSink"/>).
/// </summary>
internal sealed class CheckpointStore(NpgsqlDataSource dataSource, SchemaNames schemas, IOptions<ArchiveOptions> options)
{
    private string Table => $"{schemas.Bookkeeping}.checkpoints";

    /// <summary>
    /// The advisory-lock key of a change stream: stable across processes and versions (FNV-1a over schema and stream
    /// name: the entity's name, or <c>message.3of4</c> for a shard).
    /// </summary>
    public long LockKey(EntityDescriptor stream) => AdvisoryLockKey.For(schemas.BookkeepingName + ":" + stream.FeedName);

    /// <summary>
    /// Takes the stream's advisory transaction lock (first command of every transaction that changes its row). A shard of
    /// the writers' current layout takes the entity's lock shared and its own exclusively, so shards write side by side
    /// (their ids are disjoint); the unsharded stream and a draining shard, whose ids may also sit in a current shard,
    /// take the entity's lock exclusively, so two transactions never insert one new id at once.
    /// </summary>
    public NpgsqlBatchCommand LockCommand(EntityDescriptor stream) => stream.Shard is null || stream.Draining
        ? new("SELECT pg_advisory_xact_lock($1)") { Parameters = { new() { Value = LockKey(stream.Whole) } } }
        : new("SELECT pg_advisory_xact_lock_shared($1), pg_advisory_xact_lock($2)")
        {
            Parameters = { new() { Value = LockKey(stream.Whole) }, new() { Value = LockKey(stream) } },
        };

    /// <summary>Returns the live lease owner (NULL when none or expired) and locks the row until commit.</summary>
    public NpgsqlBatchCommand LeaseOwnerCommand(EntityDescriptor entity) =>
        new($"SELECT CASE WHEN lease_expires_at > now() THEN lease_owner END FROM {Table} WHERE entity = $1 FOR UPDATE")
        {
            Parameters = { new() { Value = entity.FeedName } },
        };

    /// <summary>The SQLSTATE <see cref="AssertLeaseCommand"/> raises when the run no longer holds the lease (migration 0009).</summary>
    public const string LeaseLostSqlState = "NXL01";

    /// <summary>
    /// Fails the transaction with <see cref="LeaseLostSqlState"/> unless <paramref name="runId"/> holds the entity's
    /// live lease, and locks the row until commit: the lease check that can share a batch with the MERGE it guards.
    /// </summary>
    public NpgsqlBatchCommand AssertLeaseCommand(EntityDescriptor entity, Guid runId) =>
        new($"SELECT {schemas.Bookkeeping}.assert_lease($1, $2)") { Parameters = { new() { Value = entity.FeedName }, new() { Value = runId } } };

    /// <summary>True when the current row of a <see cref="LeaseOwnerCommand"/> result names <paramref name="runId"/>.</summary>
    public static async Task<bool> IsOwnedByAsync(NpgsqlDataReader reader, Guid runId, CancellationToken cancellationToken) =>
        await reader.ReadAsync(cancellationToken) && !reader.IsDBNull(0) && reader.GetGuid(0) == runId;

    /// <summary>
    /// Moves the checkpoint forward to <paramref name="checkpoint"/> (never backwards) and renews the lease, inside the
    /// page's transaction. A cursor that is not a position (the start, before anything was archived) never becomes one.
    /// </summary>
    public NpgsqlBatchCommand AdvanceCommand(EntityDescriptor entity, ChangeCursor checkpoint)
    {
        var command = new NpgsqlBatchCommand(
            $"""
            UPDATE {Table}
               SET score = CASE WHEN $2 IS NOT NULL AND (score IS NULL OR (score, coalesce(member, ''::bytea)) < ($2, $3)) THEN $2 ELSE score END,
                   member = CASE WHEN $2 IS NOT NULL AND (score IS NULL OR (score, coalesce(member, ''::bytea)) < ($2, $3)) THEN $3 ELSE member END,
                   updated_at = now(),
                   lease_expires_at = now() + $4
             WHERE entity = $1
            """);
        command.Parameters.Add(new() { Value = entity.FeedName });
        command.Parameters.Add(new() { Value = double.IsFinite(checkpoint.Score) ? checkpoint.Score : DBNull.Value, NpgsqlDbType = NpgsqlDbType.Double });
        command.Parameters.Add(new() { Value = (object?)checkpoint.Member ?? Array.Empty<byte>(), NpgsqlDbType = NpgsqlDbType.Bytea });
        command.Parameters.Add(new() { Value = options.Value.LeaseTimeout });
        return command;
    }

    /// <summary>Takes the entity's lease for <paramref name="runId"/> and returns the committed checkpoint and quiet mark.</summary>
    /// <exception cref="EntityBusyException">Another live pass holds the lease.</exception>
    public async Task<AcquiredCheckpoint> AcquireAsync(EntityDescriptor entity, Guid runId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection, transaction)
        {
            BatchCommands =
            {
                LockCommand(entity),
                new NpgsqlBatchCommand($"INSERT INTO {Table} (entity) VALUES ($1) ON CONFLICT (entity) DO NOTHING")
                {
                    Parameters = { new() { Value = entity.FeedName } },
                },
                new NpgsqlBatchCommand(
                    $"""
                    UPDATE {Table}
                       SET lease_owner = $2, lease_expires_at = now() + $3
                     WHERE entity = $1 AND (lease_owner IS NULL OR lease_owner = $2 OR lease_expires_at < now())
                    RETURNING score, member, quiet_writes, quiet_index_size, quiet_score, quiet_member
                    """)
                {
                    Parameters = { new() { Value = entity.FeedName }, new() { Value = runId }, new() { Value = options.Value.LeaseTimeout } },
                },
            },
        };
        AcquiredCheckpoint acquired;
        await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
        {
            await reader.NextResultAsync(cancellationToken); // past the lock; the INSERT returns no result set
            if (!await reader.ReadAsync(cancellationToken))
            {
                throw new EntityBusyException(entity.FeedName);
            }

            acquired = new AcquiredCheckpoint(ReadCheckpoint(reader, 0), ReadQuietMark(reader, 2));
        }

        await transaction.CommitAsync(cancellationToken);
        return acquired;
    }

    /// <summary>
    /// Extends the lease of <paramref name="runId"/> by <c>Archive:LeaseTimeout</c> from now, without a page commit
    /// (a pass that is still reading). False when the lease is no longer ours (expired and taken over).
    /// </summary>
    public async Task<bool> RenewAsync(EntityDescriptor entity, Guid runId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"UPDATE {Table} SET lease_expires_at = now() + $3 WHERE entity = $1 AND lease_owner = $2 AND lease_expires_at > now()");
        command.Parameters.Add(new() { Value = entity.FeedName });
        command.Parameters.Add(new() { Value = runId });
        command.Parameters.Add(new() { Value = options.Value.LeaseTimeout });
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    /// <summary>
    /// Gives the lease back (an unreleased lease expires after <c>Archive:LeaseTimeout</c>) and leaves
    /// <paramref name="quiet"/> as the entity's quiet mark; null (any pass that did not succeed, any admin command)
    /// clears it.
    /// </summary>
    public async Task ReleaseAsync(EntityDescriptor entity, Guid runId, QuietMark? quiet, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"""
            UPDATE {Table}
               SET lease_owner = NULL, lease_expires_at = NULL,
                   quiet_writes = $3, quiet_index_size = $4, quiet_score = $5, quiet_member = $6
             WHERE entity = $1 AND lease_owner = $2
            """);
        command.Parameters.Add(new() { Value = entity.FeedName });
        command.Parameters.Add(new() { Value = runId });
        command.Parameters.Add(new() { Value = (object?)quiet?.Writes.Writes ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bigint });
        command.Parameters.Add(new() { Value = (object?)quiet?.Writes.IndexSize ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bigint });
        command.Parameters.Add(new() { Value = (object?)quiet?.Checkpoint.Score ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Double });
        command.Parameters.Add(new() { Value = (object?)quiet?.Checkpoint.Member ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bytea });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The committed checkpoint of one entity (null = never archived).</summary>
    public async Task<ChangeCursor?> ReadAsync(EntityDescriptor entity, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"SELECT score, member FROM {Table} WHERE entity = $1");
        command.Parameters.Add(new() { Value = entity.FeedName });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadCheckpoint(reader, 0) : null;
    }

    /// <summary>
    /// Every change stream's checkpoint, lease state and quiet mark, by stream name (<see cref="EntityDescriptor.FeedName"/>:
    /// the entity's name, or <c>message.3of4</c> for a shard).
    /// </summary>
    public async Task<IReadOnlyDictionary<string, CheckpointState>> ReadAllAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"""
            SELECT entity, score, member, lease_owner IS NOT NULL AND lease_expires_at > now(),
                   quiet_writes, quiet_index_size, quiet_score, quiet_member
              FROM {Table}
            """);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var states = new Dictionary<string, CheckpointState>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            var entity = reader.GetString(0);
            states[entity] = new CheckpointState(entity, ReadCheckpoint(reader, 1), reader.GetBoolean(3), ReadQuietMark(reader, 4));
        }

        return states;
    }

    /// <summary>
    /// Moves the checkpoint back to just before <paramref name="oldestAdded"/> (backfill indexed records behind it), only
    /// when no live pass holds the entity; an expired lease is cleared so a stalled pass cannot commit past the rewind.
    /// </summary>
    public async Task<(RewindOutcome Outcome, double? From, double To)> RewindAsync(EntityDescriptor entity, double oldestAdded, CancellationToken cancellationToken)
    {
        var target = oldestAdded - 1;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        double current;
        await using (var read = new NpgsqlCommand(
            $"SELECT score, lease_owner IS NOT NULL AND lease_expires_at > now() FROM {Table} WHERE entity = $1 FOR UPDATE", connection, transaction))
        {
            read.Parameters.Add(new() { Value = entity.FeedName });
            await using var reader = await read.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken) || reader.IsDBNull(0))
            {
                return (RewindOutcome.NotNeeded, null, target); // never archived: the first pass reads the whole index
            }

            current = reader.GetDouble(0);
            if (current < oldestAdded)
            {
                return (RewindOutcome.NotNeeded, current, target); // everything added lies after the checkpoint
            }

            if (reader.GetBoolean(1))
            {
                return (RewindOutcome.Blocked, current, target);
            }
        }

        await using (var update = new NpgsqlCommand(
            $"UPDATE {Table} SET score = $2, member = ''::bytea, updated_at = now(), lease_owner = NULL, lease_expires_at = NULL WHERE entity = $1",
            connection,
            transaction))
        {
            update.Parameters.Add(new() { Value = entity.FeedName });
            update.Parameters.Add(new() { Value = target });
            await update.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return (RewindOutcome.Rewound, current, target);
    }

    /// <summary>The quiet mark stored from <paramref name="ordinal"/> on (writes, index size, score, member); null when none.</summary>
    private static QuietMark? ReadQuietMark(NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) || reader.IsDBNull(ordinal + 1) || ReadCheckpoint(reader, ordinal + 2) is not { } checkpoint
            ? null
            : new QuietMark(new WriteCount(reader.GetInt64(ordinal), reader.GetInt64(ordinal + 1)), checkpoint);

    /// <summary>The one reading of a stored checkpoint: NULL score = never archived; NULL member = the empty member.</summary>
    /// <remarks>
    /// -infinity (stored only by a quiet mark left by a pass that found the entity empty; the checkpoint itself stores
    /// NULL there) reads as <see cref="ChangeCursor.Start"/>.
    /// </remarks>
    private static ChangeCursor? ReadCheckpoint(NpgsqlDataReader reader, int scoreOrdinal) =>
        reader.IsDBNull(scoreOrdinal) ? null
        : double.IsNegativeInfinity(reader.GetDouble(scoreOrdinal)) ? ChangeCursor.Start
        : new ChangeCursor(reader.GetDouble(scoreOrdinal), reader.IsDBNull(scoreOrdinal + 1) ? [] : (byte[])reader[scoreOrdinal + 1]);
}
