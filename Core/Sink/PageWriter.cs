using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Source;
using Npgsql;

namespace NexusArchive.Core.Sink;

/// <summary>
/// Writes one page into PostgreSQL: per page one connection and one transaction — advisory lock and lease check,
/// temp staging table <c>ON COMMIT DROP</c>, binary COPY, MERGE (only newer wins), dead letters, checkpoint, commit.
/// A data error in COPY or MERGE is isolated by bisecting the page under savepoints, so one bad row costs one
/// dead letter and the rest of the page still lands. The checkpoint and dead-letter SQL comes from their stores.
/// </summary>
internal sealed class PageWriter(
    NpgsqlDataSource dataSource,
    SchemaNames schemas,
    CheckpointStore checkpoints,
    DeadLetterStore deadLetterStore,
    ILogger<PageWriter> logger)
{
    /// <summary>Pages staged ahead, by their row list (the same list instance the pass then writes).</summary>
    private readonly ConcurrentDictionary<IReadOnlyList<MappedRow>, StagedAhead> _ahead = new(ReferenceEqualityComparer.Instance);

    private sealed record StagedAhead(EntityDescriptor Entity, Task<StagedPage> Staging);

    /// <summary>A page's open transaction after its COPY: the MERGE batch commits it; disposing rolls it back.</summary>
    private sealed record StagedPage(
        NpgsqlConnection Connection, NpgsqlTransaction Transaction, EntitySql Sql, IReadOnlyList<MappedRow> Rows, int Superseded, PostgresException? CopyError)
        : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Transaction.DisposeAsync();
            await Connection.DisposeAsync();
        }
    }

    /// <summary>
    /// Writes one page atomically: rows, dead letters, and the checkpoint (never moved backwards), in one transaction.
    /// With <paramref name="checkpoint"/> null the page is a set of named records (<c>ArchiveRecordsService</c>): no lease
    /// is needed and the checkpoint does not move; the entity's advisory lock still orders it with a pass's page commits,
    /// and the MERGE's "only newer wins" keeps either from regressing the other.
    /// </summary>
    /// <exception cref="EntityBusyException">The run no longer holds the entity's lease.</exception>
    public async Task<PageWriteResult> WritePageAsync(
        EntityDescriptor entity,
        Guid runId,
        IReadOnlyList<MappedRow> rows,
        IReadOnlyList<DeadLetter> deadLetters,
        ChangeCursor? checkpoint,
        CancellationToken cancellationToken)
    {
        try
        {
            return rows.Count == 0
                ? await WriteBookkeepingOnlyAsync(entity, runId, deadLetters, checkpoint, cancellationToken)
                : await WriteRowsPageAsync(entity, runId, rows, deadLetters, checkpoint, cancellationToken);
        }
        catch (PostgresException ex) when (ex.SqlState == CheckpointStore.LeaseLostSqlState)
        {
            throw new EntityBusyException(entity.Name); // raised by the lease assertion of GuardCommands
        }
    }

    private async Task<PageWriteResult> WriteRowsPageAsync(
        EntityDescriptor entity,
        Guid runId,
        IReadOnlyList<MappedRow> rows,
        IReadOnlyList<DeadLetter> deadLetters,
        ChangeCursor? checkpoint,
        CancellationToken cancellationToken)
    {
        // Staged ahead (its COPY ran while the previous page committed), or staged now: round trips 1–3.
        var ahead = _ahead.TryRemove(rows, out var stagedAhead) ? stagedAhead : null;
        var staging = ahead is { Entity: var e } && e == entity ? ahead.Staging : null;
        if (ahead is not null && staging is null)
        {
            await DiscardAsync(ahead.Staging);
        }

        StagedPage staged;
        try
        {
            staged = staging is null ? await StageAsync(entity, rows, cancellationToken) : await staging;
        }
        catch (Exception) when (staging is not null && !cancellationToken.IsCancellationRequested)
        {
            staged = await StageAsync(entity, rows, cancellationToken); // staging ahead failed: stage again, now
        }

        await using (staged)
        {
            return await CommitStagedAsync(entity, runId, staged, deadLetters, checkpoint, cancellationToken);
        }
    }

    /// <summary>
    /// Stages <paramref name="rows"/> on a connection and transaction of its own — staging table, savepoint, COPY; no
    /// lock, no bookkeeping — and completes when it is staged (true) or staging failed (false: <see cref="WritePageAsync"/>
    /// stages again). <see cref="WritePageAsync"/> with the same list then only sends the MERGE batch;
    /// <see cref="DiscardAheadAsync"/> rolls it back when the page is not written. Calling it again for the same list
    /// waits for the same staging.
    /// </summary>
    public async Task<bool> StageAheadAsync(EntityDescriptor entity, IReadOnlyList<MappedRow> rows, CancellationToken cancellationToken)
    {
        if (rows.Count == 0)
        {
            return false;
        }

        var ahead = _ahead.GetOrAdd(rows, static (list, state) => new StagedAhead(state.entity, state.writer.StageAsync(state.entity, list, state.cancellationToken)), (entity, writer: this, cancellationToken));
        try
        {
            await ahead.Staging;
            return true;
        }
        catch (Exception)
        {
            _ahead.TryRemove(KeyValuePair.Create(rows, ahead)); // its connection is gone with the failure
            return false;
        }
    }

    /// <summary>Rolls back a page staged ahead that will not be written (the pass stopped first); no-op otherwise.</summary>
    public async ValueTask DiscardAheadAsync(IReadOnlyList<MappedRow> rows)
    {
        if (_ahead.TryRemove(rows, out var ahead))
        {
            await DiscardAsync(ahead.Staging);
        }
    }

    private static async Task DiscardAsync(Task<StagedPage> staging)
    {
        try
        {
            await using var staged = await staging;
        }
        catch (Exception)
        {
            // Its connection is gone with the failure; nothing was committed.
        }
    }

    /// <summary>
    /// Round trip 1: <c>BEGIN</c>, the planner settings, the staging table and savepoint <c>page_0</c>; round trips 2
    /// and 3: the binary COPY. A row the COPY refuses is kept as <see cref="StagedPage.CopyError"/> for the commit's
    /// bisection; anything else fails the staging.
    /// </summary>
    private async Task<StagedPage> StageAsync(EntityDescriptor entity, IReadOnlyList<MappedRow> rows, CancellationToken cancellationToken)
    {
        var sql = EntitySql.For(entity, schemas);
        rows = DedupeNewest(rows, out var superseded);
        var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        NpgsqlTransaction? transaction = null;
        try
        {
            transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using (var prepare = new NpgsqlBatch(connection, transaction)
            {
                BatchCommands =
                {
                    // The planner has no statistics for a fresh temp table; a hash or merge join would scan the whole
                    // archive table for every page. Force the index-driven nested loop: cost follows the page, not the archive.
                    new NpgsqlBatchCommand("SET LOCAL enable_hashjoin = off"),
                    new NpgsqlBatchCommand("SET LOCAL enable_mergejoin = off"),
                    new NpgsqlBatchCommand(sql.CreateStaging),
                    new NpgsqlBatchCommand("SAVEPOINT page_0"),
                },
            })
            {
                await prepare.ExecuteNonQueryAsync(cancellationToken);
            }

            PostgresException? copyError = null;
            try
            {
                await CopyAsync(connection, sql, rows, cancellationToken);
            }
            catch (PostgresException ex) when (IsDataError(ex))
            {
                copyError = ex; // a row the COPY refused: the commit bisects the page
            }

            return new StagedPage(connection, transaction, sql, rows, superseded, copyError);
        }
        catch
        {
            if (transaction is not null)
            {
                await transaction.DisposeAsync();
            }

            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Round trip 4, the only one a page staged ahead waits for: advisory lock, lease assertion, MERGE, savepoint
    /// release, the page's bookkeeping and <c>COMMIT</c> in one batch. A row PostgreSQL refuses rolls back to
    /// <c>page_0</c> (before the COPY; the lock and lease are taken again) and the page is bisected under savepoints.
    /// </summary>
    private async Task<PageWriteResult> CommitStagedAsync(
        EntityDescriptor entity,
        Guid runId,
        StagedPage staged,
        IReadOnlyList<DeadLetter> deadLetters,
        ChangeCursor? checkpoint,
        CancellationToken cancellationToken)
    {
        var (connection, transaction, sql, rows) = (staged.Connection, staged.Transaction, staged.Sql, staged.Rows);
        if (staged.CopyError is null)
        {
            var merge = new NpgsqlBatchCommand(sql.Merge);
            await using var batch = new NpgsqlBatch(connection, transaction);
            foreach (var command in GuardCommands(entity, runId, checkpoint))
            {
                batch.BatchCommands.Add(command);
            }

            batch.BatchCommands.Add(merge);
            batch.BatchCommands.Add(new NpgsqlBatchCommand("RELEASE SAVEPOINT page_0"));
            foreach (var command in FinishCommands(entity, runId, rows, deadLetters, [], checkpoint))
            {
                batch.BatchCommands.Add(command);
            }

            batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));

            // This batch commits: a cancellation that arrived while the page was on its way (shutdown) must roll it
            // back instead, as an explicit CommitAsync(token) would.
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                await batch.ExecuteNonQueryAsync(cancellationToken);
                return new PageWriteResult(merge.RecordsAffected, rows.Count - merge.RecordsAffected + staged.Superseded, deadLetters.Count);
            }
            catch (PostgresException ex) when (IsDataError(ex) && (ex.BatchCommand is null || ex.BatchCommand == merge))
            {
                // A row the MERGE refused (Npgsql does not always name the statement; a data error of the bookkeeping
                // riding along would fail again after the bisection and pass through then): bisect below.
            }
        }

        // Bisection: back to before the COPY (which also gives back the lock and the lease's row lock), guard again,
        // then COPY and MERGE halves under savepoints until each bad row is isolated and dead-lettered.
        await transaction.RollbackAsync("page_0", cancellationToken);
        await ExecuteAsync(connection, transaction, GuardCommands(entity, runId, checkpoint), cancellationToken);

        var rejected = new List<DeadLetter>();
        var savepoint = 1;
        var upserted = await WriteRowsAsync(connection, transaction, sql, rows, rejected, () => "page_" + savepoint++, cancellationToken);
        await FinishAndCommitAsync(connection, transaction, FinishCommands(entity, runId, rows, deadLetters, rejected, checkpoint), cancellationToken);
        var accepted = rows.Count - rejected.Count;
        return new PageWriteResult(upserted, accepted - upserted + staged.Superseded, deadLetters.Count + rejected.Count) { Rejected = rejected };
    }

    /// <summary>A page with nothing to COPY (dead letters only, or a checkpoint to advance): guard, bookkeeping, commit.</summary>
    private async Task<PageWriteResult> WriteBookkeepingOnlyAsync(
        EntityDescriptor entity, Guid runId, IReadOnlyList<DeadLetter> deadLetters, ChangeCursor? checkpoint, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var commands = GuardCommands(entity, runId, checkpoint);
        commands.AddRange(FinishCommands(entity, runId, [], deadLetters, [], checkpoint));
        await FinishAndCommitAsync(connection, transaction, commands, cancellationToken);
        return new PageWriteResult(0, 0, deadLetters.Count);
    }

    /// <summary>
    /// The entity's advisory lock, then — for a pass (a checkpoint to advance), not for named records — the assertion
    /// that the run still holds the lease (SQLSTATE <see cref="CheckpointStore.LeaseLostSqlState"/> otherwise).
    /// </summary>
    private List<NpgsqlBatchCommand> GuardCommands(EntityDescriptor entity, Guid runId, ChangeCursor? checkpoint)
    {
        var commands = new List<NpgsqlBatchCommand>(2) { checkpoints.LockCommand(entity) };
        if (checkpoint is not null)
        {
            commands.Add(checkpoints.AssertLeaseCommand(entity, runId));
        }

        return commands;
    }

    private static async Task FinishAndCommitAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, List<NpgsqlBatchCommand> commands, CancellationToken cancellationToken)
    {
        await ExecuteAsync(connection, transaction, commands, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Sends <paramref name="commands"/> as one batch (one round trip); nothing when there are none.</summary>
    private static async Task ExecuteAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, List<NpgsqlBatchCommand> commands, CancellationToken cancellationToken)
    {
        if (commands.Count == 0)
        {
            return;
        }

        await using var batch = new NpgsqlBatch(connection, transaction);
        foreach (var command in commands)
        {
            batch.BatchCommands.Add(command);
        }

        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The page's bookkeeping: its dead letters, the checkpoint, and the dead letters its archived rows resolve.</summary>
    private List<NpgsqlBatchCommand> FinishCommands(
        EntityDescriptor entity,
        Guid runId,
        IReadOnlyList<MappedRow> rows,
        IReadOnlyList<DeadLetter> deadLetters,
        List<DeadLetter> rejected,
        ChangeCursor? checkpoint)
    {
        var commands = new List<NpgsqlBatchCommand>(3);
        var allDeadLetters = rejected.Count == 0 ? deadLetters : [.. deadLetters, .. rejected];
        if (allDeadLetters.Count > 0)
        {
            commands.Add(deadLetterStore.RecordCommand(entity, runId, allDeadLetters));
        }

        if (checkpoint is { } advanceTo)
        {
            commands.Add(checkpoints.AdvanceCommand(entity, advanceTo));
        }

        // A record that was dead-lettered before and now archives cleanly (fixed at the source) closes its dead letter.
        var rejectedMembers = rejected.Select(r => r.Entry.Member).ToHashSet(ByteArrayComparer.Instance);
        if (deadLetterStore.ResolveCommand(entity, rows.Select(r => r.Entry.Member).Where(m => !rejectedMembers.Contains(m))) is { } resolve)
        {
            commands.Add(resolve);
        }

        return commands;
    }

    /// <summary>COPY and MERGE <paramref name="rows"/> under a new savepoint; on a data error, roll back to it and bisect.</summary>
    private async Task<int> WriteRowsAsync(
        NpgsqlConnection connection,
        NpgsqlTransaction transaction,
        EntitySql sql,
        IReadOnlyList<MappedRow> rows,
        List<DeadLetter> rejected,
        Func<string> nextSavepoint,
        CancellationToken cancellationToken)
    {
        var savepoint = nextSavepoint();
        await transaction.SaveAsync(savepoint, cancellationToken);

        try
        {
            await CopyAsync(connection, sql, rows, cancellationToken);
            var merge = new NpgsqlBatchCommand(sql.Merge);

            // The next half must not re-merge this half's staged rows.
            await using var batch = new NpgsqlBatch(connection, transaction)
            {
                BatchCommands = { merge, new($"RELEASE SAVEPOINT {savepoint}"), new($"TRUNCATE {sql.StagingTable}") },
            };
            await batch.ExecuteNonQueryAsync(cancellationToken);
            return merge.RecordsAffected;
        }
        catch (PostgresException ex) when (IsDataError(ex))
        {
            await transaction.RollbackAsync(savepoint, cancellationToken);
            if (rows.Count == 1)
            {
                Log.RowRejected(logger, rows[0].Entry.DisplayId, ex.SqlState);
                rejected.Add(new DeadLetter(
                    rows[0].Entry,
                    DeadLetterReasons.Rejected,
                    $"PostgreSQL rejected the row: {ex.SqlState} {ex.MessageText}",
                    RawPayload.Encode(rows[0].Record.Fields)));
                return 0;
            }

            var half = rows.Count / 2;
            var left = await WriteRowsAsync(connection, transaction, sql, [.. rows.Take(half)], rejected, nextSavepoint, cancellationToken);
            var right = await WriteRowsAsync(connection, transaction, sql, [.. rows.Skip(half)], rejected, nextSavepoint, cancellationToken);
            return left + right;
        }
    }

    private static async Task CopyAsync(NpgsqlConnection connection, EntitySql sql, IReadOnlyList<MappedRow> rows, CancellationToken cancellationToken)
    {
        var types = sql.DbTypes;
        await using var importer = await connection.BeginBinaryImportAsync(sql.Copy, cancellationToken);
        foreach (var row in rows)
        {
            await importer.StartRowAsync(cancellationToken);
            for (var i = 0; i < types.Length; i++)
            {
                var value = row.Row.CopyValue(i);
                if (value is null)
                {
                    await importer.WriteNullAsync(cancellationToken);
                }
                else
                {
                    // Typed writes: Npgsql resolves the converter once per type instead of boxing through object. Text
                    // and jsonb go as the UTF-8 bytes Redis sent (binary COPY of text is its UTF-8 bytes; Npgsql adds
                    // jsonb's version byte), not decoded to a string and encoded again.
                    var write = value switch
                    {
                        Utf8Text text => importer.WriteAsync(text.Bytes, types[i], cancellationToken),
                        string text => importer.WriteAsync(text, types[i], cancellationToken),
                        DateTime time => importer.WriteAsync(time, types[i], cancellationToken),
                        long number => importer.WriteAsync(number, types[i], cancellationToken),
                        _ => importer.WriteAsync(value, types[i], cancellationToken),
                    };
                    await write;
                }
            }
        }

        var written = await importer.CompleteAsync(cancellationToken);
        if (written != (ulong)rows.Count)
        {
            throw new InvalidOperationException($"COPY wrote {written} rows into {sql.StagingTable}, expected {rows.Count}.");
        }
    }

    /// <summary>
    /// Of the given change-index entries, returns those the archive does not already hold at that version or newer
    /// (missing, or an older <c>updated_at</c>): the look-back overlap costs one primary-key probe per entry.
    /// </summary>
    public async Task<IReadOnlyList<ChangeEntry>> ExcludeArchivedAsync(EntityDescriptor entity, IReadOnlyList<ChangeEntry> entries, CancellationToken cancellationToken)
    {
        if (entries.Count == 0)
        {
            return entries;
        }

        // Only valid ids can be in the archive; any other entry is due (its record will be dead-lettered).
        var due = new bool[entries.Count];
        var ids = new List<string>(entries.Count);
        var versions = new List<long>(entries.Count);
        var positions = new List<int>(entries.Count);
        for (var i = 0; i < entries.Count; i++)
        {
            // Scores beyond ±2^53 ms are no timestamps a version could carry (and would not fit the bigint exactly).
            if (RawPayload.TryGetText(entries[i].Member, out var id) && entries[i].Score is > -9e15 and < 9e15)
            {
                ids.Add(id);
                versions.Add((long)Math.Floor(entries[i].Score));
                positions.Add(i);
            }
            else
            {
                due[i] = true;
            }
        }

        if (ids.Count > 0)
        {
            // PostgreSQL compares and returns only the entries that need work (missing, or archived at an older
            // version): usually none, so a probe costs one index lookup per entry and an empty result.
            await using var command = dataSource.CreateCommand(
                $"""
                SELECT e.n FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS e(id, version_ms, n)
                  LEFT JOIN {schemas.Target}.{entity.Table} t ON t.id = e.id
                 WHERE t.id IS NULL OR extract(epoch FROM t.updated_at) * 1000 < e.version_ms
                """);
            command.Parameters.Add(new() { Value = ids });
            command.Parameters.Add(new() { Value = versions });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                due[positions[(int)reader.GetInt64(0) - 1]] = true;
            }
        }

        return [.. entries.Where((_, i) => due[i])];
    }

    /// <summary>
    /// One row per id, the newest <c>updated_at</c> winning. A page read from one change index cannot repeat an id,
    /// so this normally returns the list as it is; it guards callers that assemble pages themselves (replay, tests).
    /// </summary>
    internal static IReadOnlyList<MappedRow> DedupeNewest(IReadOnlyList<MappedRow> rows, out int superseded)
    {
        var positions = new Dictionary<string, int>(rows.Count, StringComparer.Ordinal);
        List<MappedRow>? unique = null;
        superseded = 0;
        for (var i = 0; i < rows.Count; i++)
        {
            var id = rows[i].Row.Id;
            if (!positions.TryGetValue(id, out var at))
            {
                positions[id] = unique?.Count ?? i;
                unique?.Add(rows[i]);
                continue;
            }

            unique ??= [.. rows.Take(i)];
            superseded++;
            if (rows[i].Row.UpdatedAt > unique[at].Row.UpdatedAt)
            {
                unique[at] = rows[i];
            }
        }

        return unique ?? rows;
    }

    /// <summary>Class 22 (data exception) and 23 (integrity constraint violation): the row is at fault, not the server.</summary>
    private static bool IsDataError(PostgresException ex) =>
        ex.SqlState.StartsWith("22", StringComparison.Ordinal) || ex.SqlState.StartsWith("23", StringComparison.Ordinal);
}
