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
        var sql = EntitySql.For(entity, schemas);
        rows = DedupeNewest(rows, out var superseded);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        // Round trip 1: lock and lease check, and (with rows) the page's staging table and first savepoint.
        await using (var guard = new NpgsqlBatch(connection, transaction)
        {
            BatchCommands = { checkpoints.LockCommand(entity) },
        })
        {
            if (checkpoint is not null)
            {
                guard.BatchCommands.Add(checkpoints.LeaseOwnerCommand(entity));
            }

            if (rows.Count > 0)
            {
                // The planner has no statistics for a fresh temp table; a hash or merge join would scan the whole
                // archive table for every page. Force the index-driven nested loop: cost follows the page, not the archive.
                guard.BatchCommands.Add(new NpgsqlBatchCommand("SET LOCAL enable_hashjoin = off"));
                guard.BatchCommands.Add(new NpgsqlBatchCommand("SET LOCAL enable_mergejoin = off"));
                guard.BatchCommands.Add(new NpgsqlBatchCommand(sql.CreateStaging));
                guard.BatchCommands.Add(new NpgsqlBatchCommand("SAVEPOINT page_0"));
            }

            await using var reader = await guard.ExecuteReaderAsync(cancellationToken);
            await reader.NextResultAsync(cancellationToken);
            if (checkpoint is not null && !await CheckpointStore.IsOwnedByAsync(reader, runId, cancellationToken))
            {
                throw new EntityBusyException(entity.Name);
            }
        }

        // Round trips 2 and 3: COPY, then MERGE with the savepoint's release and — when no row is rejected, the usual
        // case — the page's bookkeeping and COMMIT in the same batch: four round trips per page in all. Against a remote
        // PostgreSQL every round trip is paid once per page (Supabase: 1–20 ms), so fewer is faster than loopback shows.
        var upserted = 0;
        var rejected = new List<DeadLetter>();
        var committed = false;
        if (rows.Count > 0)
        {
            var savepoint = 0;
            var finishIfClean = FinishCommands(entity, runId, rows, deadLetters, [], checkpoint);
            finishIfClean.Add(new NpgsqlBatchCommand("COMMIT"));
            (upserted, committed) = await WriteRowsAsync(connection, transaction, sql, rows, rejected, () => "page_" + savepoint++, savepointOpen: true, finishIfClean, cancellationToken);
        }

        // Otherwise round trip 4: dead letters (with the rows PostgreSQL rejected), the checkpoint and the dead letters
        // this page resolves, and the commit.
        var allDeadLetters = rejected.Count == 0 ? deadLetters : [.. deadLetters, .. rejected];
        if (!committed)
        {
            await using var finish = new NpgsqlBatch(connection, transaction);
            foreach (var command in FinishCommands(entity, runId, rows, deadLetters, rejected, checkpoint))
            {
                finish.BatchCommands.Add(command);
            }

            if (finish.BatchCommands.Count > 0)
            {
                await finish.ExecuteNonQueryAsync(cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
        }

        var accepted = rows.Count - rejected.Count;
        return new PageWriteResult(upserted, accepted - upserted + superseded, allDeadLetters.Count) { Rejected = rejected };
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

    /// <summary>
    /// COPY and MERGE <paramref name="rows"/> under a savepoint; on a data error, roll back to it and bisect. With
    /// <paramref name="finishIfClean"/> (the top-level call) those commands ride in the MERGE's batch: when they ran
    /// (nothing was rejected) the second value is true and the transaction is committed.
    /// </summary>
    private async Task<(int Upserted, bool Finished)> WriteRowsAsync(
        NpgsqlConnection connection,
        NpgsqlTransaction transaction,
        EntitySql sql,
        IReadOnlyList<MappedRow> rows,
        List<DeadLetter> rejected,
        Func<string> nextSavepoint,
        bool savepointOpen,
        List<NpgsqlBatchCommand>? finishIfClean,
        CancellationToken cancellationToken)
    {
        var savepoint = nextSavepoint();
        if (!savepointOpen)
        {
            await transaction.SaveAsync(savepoint, cancellationToken);
        }

        var merge = new NpgsqlBatchCommand(sql.Merge);
        try
        {
            await CopyAsync(connection, sql, rows, cancellationToken);
            await using var batch = new NpgsqlBatch(connection, transaction) { BatchCommands = { merge, new($"RELEASE SAVEPOINT {savepoint}") } };
            if (rejected.Count > 0 || savepoint != "page_0")
            {
                // Bisecting: the next half must not re-merge this half's staged rows.
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"TRUNCATE {sql.StagingTable}"));
            }

            foreach (var command in finishIfClean ?? [])
            {
                batch.BatchCommands.Add(command);
            }

            if (finishIfClean is not null)
            {
                // This batch commits: a cancellation that arrived while the page was on its way (shutdown) must roll
                // it back instead, as an explicit CommitAsync(token) would.
                cancellationToken.ThrowIfCancellationRequested();
            }

            await batch.ExecuteNonQueryAsync(cancellationToken);
            return (merge.RecordsAffected, finishIfClean is not null);
        }
        catch (PostgresException ex) when (IsDataError(ex) && (ex.BatchCommand is null || ex.BatchCommand == merge))
        {
            // A row the COPY or the MERGE refused (not the bookkeeping riding along: its errors pass through).
            await transaction.RollbackAsync(savepoint, cancellationToken);
            if (rows.Count == 1)
            {
                Log.RowRejected(logger, rows[0].Entry.DisplayId, ex.SqlState);
                rejected.Add(new DeadLetter(
                    rows[0].Entry,
                    DeadLetterReasons.Rejected,
                    $"PostgreSQL rejected the row: {ex.SqlState} {ex.MessageText}",
                    RawPayload.Encode(rows[0].Record.Fields)));
                return (0, false);
            }

            var half = rows.Count / 2;
            var (left, _) = await WriteRowsAsync(connection, transaction, sql, [.. rows.Take(half)], rejected, nextSavepoint, savepointOpen: false, finishIfClean: null, cancellationToken);
            var (right, _) = await WriteRowsAsync(connection, transaction, sql, [.. rows.Skip(half)], rejected, nextSavepoint, savepointOpen: false, finishIfClean: null, cancellationToken);
            return (left + right, false);
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
                var value = row.Row[i];
                if (value is null)
                {
                    await importer.WriteNullAsync(cancellationToken);
                }
                else
                {
                    // Typed writes: Npgsql resolves the converter once per type instead of boxing through object.
                    var write = value switch
                    {
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
