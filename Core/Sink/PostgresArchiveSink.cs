using NexusArchive.Core.Archiving;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Source;

namespace NexusArchive.Core.Sink;

/// <summary>
/// The pass's view of PostgreSQL, put together from the owners of each table: leases and checkpoints from
/// <see cref="CheckpointStore"/>, pages from <see cref="PageWriter"/>, run history from <see cref="RunHistory"/>.
/// It adds nothing of its own; <see cref="Resilience.ResilientArchiveSink"/> runs each call through the
/// <c>nexus-postgres</c> pipeline.
/// </summary>
internal sealed class PostgresArchiveSink(CheckpointStore checkpoints, PageWriter pages, RunHistory runs) : IArchiveSink
{
    /// <inheritdoc />
    public Task<AcquiredCheckpoint> AcquireAsync(EntityDescriptor entity, Guid runId, CancellationToken cancellationToken) =>
        checkpoints.AcquireAsync(entity, runId, cancellationToken);

    /// <inheritdoc />
    public Task<bool> RenewAsync(EntityDescriptor entity, Guid runId, CancellationToken cancellationToken) =>
        checkpoints.RenewAsync(entity, runId, cancellationToken);

    /// <inheritdoc />
    public Task ReleaseAsync(EntityDescriptor entity, Guid runId, QuietMark? quiet, CancellationToken cancellationToken) =>
        checkpoints.ReleaseAsync(entity, runId, quiet, cancellationToken);

    /// <inheritdoc />
    public Task<PageWriteResult> WritePageAsync(
        EntityDescriptor entity,
        Guid runId,
        IReadOnlyList<MappedRow> rows,
        IReadOnlyList<DeadLetter> deadLetters,
        ChangeCursor checkpoint,
        CancellationToken cancellationToken) =>
        pages.WritePageAsync(entity, runId, rows, deadLetters, checkpoint, cancellationToken);

    /// <inheritdoc />
    public Task<bool> StageAheadAsync(EntityDescriptor entity, IReadOnlyList<MappedRow> rows, CancellationToken cancellationToken) =>
        pages.StageAheadAsync(entity, rows, cancellationToken);

    /// <inheritdoc />
    public ValueTask DiscardAheadAsync(IReadOnlyList<MappedRow> rows) => pages.DiscardAheadAsync(rows);

    /// <inheritdoc />
    public Task<IReadOnlyList<ChangeEntry>> ExcludeArchivedAsync(EntityDescriptor entity, IReadOnlyList<ChangeEntry> entries, CancellationToken cancellationToken) =>
        pages.ExcludeArchivedAsync(entity, entries, cancellationToken);

    /// <inheritdoc />
    public Task StartRunAsync(ArchiveRunResult run, CancellationToken cancellationToken) =>
        runs.StartAsync(run, cancellationToken);

    /// <inheritdoc />
    public Task FinishRunAsync(ArchiveRunResult run, CancellationToken cancellationToken) =>
        runs.FinishAsync(run, cancellationToken);
}
