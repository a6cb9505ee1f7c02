using NexusArchive.Core.Archiving;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Source;

namespace NexusArchive.Core.Sink;

/// <summary>What one committed page changed.</summary>
/// <param name="Upserted">Rows inserted or replaced by a strictly newer version.</param>
/// <param name="Unchanged">Rows already archived at this version or a newer one.</param>
/// <param name="DeadLettered">Records written to (or refreshed in) the dead-letter table.</param>
internal readonly record struct PageWriteResult(int Upserted, int Unchanged, int DeadLettered)
{
    /// <summary>Rows PostgreSQL refused (bisected out and dead-lettered as <c>rejected_by_database</c>).</summary>
    public IReadOnlyList<Mapping.DeadLetter> Rejected { get; init; } = [];
}

/// <summary>Thrown when another pass holds an entity's lease (HTTP 409, timer logs and exits).</summary>
public sealed class EntityBusyException(string entity)
    : Exception($"Another archive pass is working entity '{entity}'.")
{
    public string Entity { get; } = entity;
}

/// <summary>The PostgreSQL side of a pass: archive tables, checkpoints, leases, dead letters and run history.</summary>
internal interface IArchiveSink
{
    /// <summary>Takes the entity's lease for this run and returns the committed checkpoint and the quiet mark the last successful pass left.</summary>
    /// <exception cref="EntityBusyException">Another live pass holds the lease.</exception>
    Task<AcquiredCheckpoint> AcquireAsync(EntityDescriptor entity, Guid runId, CancellationToken cancellationToken);

    /// <summary>
    /// Extends this run's lease without a page commit (a pass still reading toward its next commit). False when the
    /// lease is no longer ours.
    /// </summary>
    Task<bool> RenewAsync(EntityDescriptor entity, Guid runId, CancellationToken cancellationToken);

    /// <summary>
    /// Gives the lease back (best effort; an unreleased lease expires after <c>Archive:LeaseTimeout</c>), leaving
    /// <paramref name="quiet"/> as the entity's quiet mark (null clears it).
    /// </summary>
    Task ReleaseAsync(EntityDescriptor entity, Guid runId, QuietMark? quiet, CancellationToken cancellationToken);

    /// <summary>
    /// Writes one page atomically: rows through binary COPY into a staging table and MERGE ("only newer wins"),
    /// dead letters, and the checkpoint (never moved backwards), in one transaction.
    /// </summary>
    Task<PageWriteResult> WritePageAsync(
        EntityDescriptor entity,
        Guid runId,
        IReadOnlyList<MappedRow> rows,
        IReadOnlyList<DeadLetter> deadLetters,
        ChangeCursor checkpoint,
        CancellationToken cancellationToken);

    /// <summary>
    /// Stages <paramref name="rows"/>, a page that <see cref="WritePageAsync"/> will be called with later (the same list):
    /// its COPY runs on a connection of its own, so the next page's COPY overlaps the current page's MERGE and a page
    /// waits for one round trip instead of four (docs/performance.md, "Network latency and the pooler"). Completes when
    /// staged (true) or when staging failed (false; the write stages again). An optimisation only: a sink may ignore it.
    /// A page staged and never written must be given back with <see cref="DiscardAheadAsync"/>.
    /// </summary>
    Task<bool> StageAheadAsync(EntityDescriptor entity, IReadOnlyList<MappedRow> rows, CancellationToken cancellationToken) =>
        Task.FromResult(false);

    /// <summary>Rolls back what <see cref="StageAheadAsync"/> started for <paramref name="rows"/>, if it was not written.</summary>
    ValueTask DiscardAheadAsync(IReadOnlyList<MappedRow> rows) => ValueTask.CompletedTask;

    /// <summary>
    /// Of the given change-index entries, returns those the archive does not already hold at that version or newer
    /// (missing, or an older <c>updated_at</c>). Used for the look-back overlap so that re-reading it costs one
    /// primary-key probe per entry instead of a fetch, a COPY and a MERGE.
    /// </summary>
    Task<IReadOnlyList<ChangeEntry>> ExcludeArchivedAsync(EntityDescriptor entity, IReadOnlyList<ChangeEntry> entries, CancellationToken cancellationToken);

    /// <summary>Records the start of a run.</summary>
    Task StartRunAsync(ArchiveRunResult run, CancellationToken cancellationToken);

    /// <summary>Records the outcome of a run.</summary>
    Task FinishRunAsync(ArchiveRunResult run, CancellationToken cancellationToken);
}
