using NexusArchive.Core.Archiving;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;
using Npgsql;

namespace NexusArchive.Core.Resilience;

/// <summary>
/// Runs every call of the real <see cref="IArchiveSink"/> through the <c>nexus-postgres</c> pipeline. A page is retried
/// as a whole transaction: if an attempt died before COMMIT nothing of it exists; if it died after COMMIT (the reply
/// was lost) the retry finds every row already archived ("only newer wins" MERGE → unchanged) and the checkpoint
/// never moves backwards. Data errors and lease conflicts are not transient and pass straight through.
/// </summary>
internal sealed class ResilientArchiveSink(IArchiveSink inner, PostgresCalls postgres) : IArchiveSink
{

    /// <inheritdoc />
    public Task<AcquiredCheckpoint> AcquireAsync(EntityDescriptor entity, Guid runId, CancellationToken cancellationToken) =>
        RunAsync((ct, _) => inner.AcquireAsync(entity, runId, ct), cancellationToken); // re-acquiring our own lease is allowed

    /// <inheritdoc />
    public Task<bool> RenewAsync(EntityDescriptor entity, Guid runId, CancellationToken cancellationToken) =>
        RunAsync((ct, _) => inner.RenewAsync(entity, runId, ct), cancellationToken);

    /// <inheritdoc />
    public Task ReleaseAsync(EntityDescriptor entity, Guid runId, QuietMark? quiet, CancellationToken cancellationToken) =>
        RunAsync(async (ct, _) =>
        {
            await inner.ReleaseAsync(entity, runId, quiet, ct);
            return true;
        }, cancellationToken);

    /// <inheritdoc />
    public Task<PageWriteResult> WritePageAsync(
        EntityDescriptor entity,
        Guid runId,
        IReadOnlyList<MappedRow> rows,
        IReadOnlyList<DeadLetter> deadLetters,
        ChangeCursor checkpoint,
        CancellationToken cancellationToken) =>
        RunAsync((ct, _) => inner.WritePageAsync(entity, runId, rows, deadLetters, checkpoint, ct), cancellationToken);

    /// <inheritdoc />
    public Task<bool> StageAheadAsync(EntityDescriptor entity, IReadOnlyList<MappedRow> rows, CancellationToken cancellationToken) =>
        inner.StageAheadAsync(entity, rows, cancellationToken); // no retry: WritePageAsync stages again if this failed

    /// <inheritdoc />
    public ValueTask DiscardAheadAsync(IReadOnlyList<MappedRow> rows) => inner.DiscardAheadAsync(rows);

    /// <inheritdoc />
    public Task<IReadOnlyList<ChangeEntry>> ExcludeArchivedAsync(EntityDescriptor entity, IReadOnlyList<ChangeEntry> entries, CancellationToken cancellationToken) =>
        RunAsync((ct, _) => inner.ExcludeArchivedAsync(entity, entries, ct), cancellationToken);

    /// <inheritdoc />
    public Task StartRunAsync(ArchiveRunResult run, CancellationToken cancellationToken) =>
        RunAsync(async (ct, attempt) =>
        {
            try
            {
                await inner.StartRunAsync(run, ct);
            }
            catch (PostgresException ex) when (attempt > 0 && ex.SqlState == PostgresErrorCodes.UniqueViolation)
            {
                // An earlier attempt committed the run row but its reply was lost.
            }

            return true;
        }, cancellationToken);

    /// <inheritdoc />
    public Task FinishRunAsync(ArchiveRunResult run, CancellationToken cancellationToken) =>
        RunAsync(async (ct, _) =>
        {
            await inner.FinishRunAsync(run, ct);
            return true;
        }, cancellationToken);

    private Task<T> RunAsync<T>(Func<CancellationToken, int, Task<T>> call, CancellationToken cancellationToken) => postgres.RunAsync(call, cancellationToken);
}
