using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;

namespace NexusArchive.Core.Archiving;

/// <summary>
/// Late writes, exactly and at any age. Before a pass reads an entity's change index it raises the entity's late
/// horizon to the highest score it will read; from then on the record writer also puts every write it stamps at or below
/// the horizon into the late set (docs/redis-layout.md). A write that lands behind where a pass reads (an offline
/// client's old <c>updatedAt</c>, a replayed queue, an import) is therefore either in the index ahead of the pass, or in
/// the late set. This drains the late set: fetch, map, write through the page writer without moving the checkpoint
/// ("only newer wins" keeps it idempotent), then remove each entry only while it still carries the score archived.
/// A pass killed mid-drain leaves the rest (and the archived-but-not-removed entries) for the next pass.
/// </summary>
internal sealed class LateWriteDrain(
    IChangeSource source,
    IArchiveSink sink,
    RecordMapper mapper,
    IOptions<ArchiveOptions> options,
    ArchiveMetrics metrics,
    ILogger logger)
{
    /// <summary>Raises the horizon; must run before the pass reads the index.</summary>
    public Task RaiseHorizonAsync(EntityPass pass, CancellationToken cancellationToken) =>
        source.RaiseLateHorizonAsync(pass.Entity, pass.UpperBound, cancellationToken);

    /// <summary>Drains the late set in pages until it is empty or the budget is spent; false when stopped early.</summary>
    public async Task<bool> DrainAsync(EntityPass pass, ChangeCursor committed, CancellationToken cancellationToken)
    {
        var (entity, stats) = (pass.Entity, pass.Stats);
        var pageSize = options.Value.PageSize;
        while (true)
        {
            var entries = await source.ReadLateAsync(entity, pageSize, cancellationToken);
            if (entries.Count == 0)
            {
                return true;
            }

            // Only entries at or behind the committed checkpoint need the drain: one ahead of it is in the change index
            // ahead of the checkpoint, which this pass (or the next, from the checkpoint) reads anyway.
            var behind = entries.Where(e => double.IsFinite(committed.Score) && e.Score <= committed.Score).ToList();
            var records = behind.Count == 0 ? [] : await source.FetchAsync(entity, behind, cancellationToken);
            var mapped = mapper.MapPage(entity, records, pass.LatestAllowed);

            // The committed checkpoint is passed unchanged: the page writer never moves it backwards, and a drain must not move it forwards.
            var written = behind.Count == 0
                ? default
                : await sink.WritePageAsync(entity, pass.RunId, mapped.Rows, mapped.DeadLetters, committed, cancellationToken);
            await source.RemoveLateAsync(entity, entries, cancellationToken);

            stats.Late += behind.Count;
            stats.Read += behind.Count;
            stats.Upserted += written.Upserted;
            stats.Unchanged += written.Unchanged;
            stats.Vanished += mapped.Vanished;
            stats.DeadLettered += written.DeadLettered;
            metrics.RecordPage(entity, written.Upserted, written.DeadLettered, mapped.Vanished);
            if (behind.Count > 0)
            {
                Log.LateWritesDrained(logger, entity.Name, behind.Count, written.Upserted, written.DeadLettered);
            }

            foreach (var deadLetter in mapped.DeadLetters)
            {
                Log.RecordDeadLettered(logger, entity.Name, deadLetter.Entry.DisplayId, deadLetter.Category, deadLetter.Reason);
            }

            if (entries.Count < pageSize)
            {
                return true;
            }

            if (pass.Budget.IsSpent(cancellationToken, out _))
            {
                return false;
            }
        }
    }
}
