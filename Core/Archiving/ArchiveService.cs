using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Security;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;

namespace NexusArchive.Core.Archiving;

/// <summary>
/// Runs one archive pass: for each entity in dependency order, page its change index by (score, member) from
/// the checkpoint (minus the look-back overlap) up to Redis-now minus the settle window, map each page and
/// commit it with its checkpoint. Stops between pages when the time budget runs out or the caller cancels.
/// The Functions triggers and the CLI both call <see cref="RunAsync"/>.
/// </summary>
public sealed class ArchiveService(
    IChangeSource source,
    IArchiveSink sink,
    RecordMapper mapper,
    IOptions<ArchiveOptions> options,
    TimeProvider timeProvider,
    ArchiveMetrics metrics,
    ILogger<ArchiveService> logger,
    ArchiveSafetyCheck? safetyCheck = null)
{
    /// <summary>
    /// With <c>Archive:QuietPasses</c>, per entity, where this process's last successful pass left it: the write counter
    /// (and Redis server) read before its first page, and the checkpoint it committed. While both are unchanged nothing
    /// was written since, so the look-back overlap holds what that pass already read and is not read again
    /// (docs/performance.md, "No-op pass").
    /// </summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (WriteCount Writes, ChangeCursor Checkpoint)> _quietSince = new(StringComparer.Ordinal);

    /// <summary>Runs one pass. Never throws for data or infrastructure errors: the result says what happened.</summary>
    /// <exception cref="ArgumentException">The request names an unknown entity.</exception>
    public async Task<ArchiveRunResult> RunAsync(ArchiveRunRequest request, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var entities = EntityCatalog.Resolve(request.Entities is { Count: > 0 } ? request.Entities : settings.Entities);
        var started = timeProvider.GetTimestamp();
        var budget = request.MaxDuration is { } max && max < settings.TimeBudget ? max : settings.TimeBudget;
        var run = new ArchiveRunResult
        {
            RunId = Guid.CreateVersion7(timeProvider.GetUtcNow()),
            Trigger = request.Trigger,
            StartedAt = timeProvider.GetUtcNow(),
            Entities = [.. entities.Select(e => new EntityRunStats { Entity = e.Name })],
        };

        try
        {
            await sink.StartRunAsync(run, cancellationToken);
            if (safetyCheck is not null)
            {
                // Refuse to write when RLS is off or the role can read auth secrets (docs/security.md).
                await safetyCheck.VerifyAsync(cancellationToken);
            }

            var redisNow = await source.GetServerTimeAsync(cancellationToken);
            var upperBound = (redisNow - settings.SettleWindow).ToUnixTimeMilliseconds();
            Log.RunStarted(logger, run.RunId, run.Trigger, string.Join(",", entities.Select(e => e.Name)), upperBound, redisNow);

            for (var i = 0; i < entities.Count; i++)
            {
                var stats = run.Entities[i];
                if (cancellationToken.IsCancellationRequested || timeProvider.GetElapsedTime(started) >= budget)
                {
                    stats.Status = RunStatus.Skipped;
                    continue;
                }

                await ArchiveEntityAsync(run, entities[i], stats, redisNow, upperBound, started, budget, cancellationToken);
                if (stats.Status == RunStatus.Failed)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Cancelled before the first entity started (or while recording the start): nothing was half-written.
        }
        catch (Exception ex)
        {
            run.Error = ErrorText.Describe(ex);
            Log.RunFailed(logger, run.RunId, "(run)", run.Error, ex);
            foreach (var stats in run.Entities.Where(s => s.Status == RunStatus.Skipped))
            {
                stats.Status = RunStatus.Failed;
            }
        }

        run.Status = Summarise(run);
        run.FinishedAt = run.StartedAt + timeProvider.GetElapsedTime(started);
        await RecordFinishAsync(run);
        metrics.RecordRun(run.Status.ToString(), run.DurationMs);
        Log.RunFinished(
            logger,
            run.RunId,
            run.Status.ToString(),
            run.DurationMs,
            run.TotalRead,
            run.TotalUpserted,
            run.Entities.Sum(e => e.Unchanged),
            run.Entities.Sum(e => e.Vanished),
            run.TotalDeadLettered,
            run.Entities.Max(e => e.LagMs) ?? 0);
        return run;
    }

    private async Task ArchiveEntityAsync(
        ArchiveRunResult run,
        EntityDescriptor entity,
        EntityRunStats stats,
        DateTimeOffset redisNow,
        double upperBound,
        long started,
        TimeSpan budget,
        CancellationToken cancellationToken)
    {
        var settings = options.Value;
        ChangeCursor? checkpoint;
        try
        {
            checkpoint = await sink.AcquireAsync(entity, run.RunId, cancellationToken);
        }
        catch (EntityBusyException)
        {
            stats.Status = RunStatus.Conflict;
            Log.EntityBusy(logger, run.RunId, entity.Name);
            return;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            stats.Status = RunStatus.Skipped;
            return;
        }
        catch (Exception ex)
        {
            Fail(run, entity, stats, ex);
            return;
        }

        var committed = checkpoint ?? ChangeCursor.Start;
        stats.CheckpointScore = checkpoint?.Score;
        var latestAllowed = redisNow + settings.FutureTolerance;
        var wasQuiet = _quietSince.TryRemove(entity.Name, out var quiet);
        try
        {
            // Read before the first page: any write after this moment changes it, so the next pass re-reads the overlap.
            var writes = settings.QuietPasses ? await source.GetWriteCountAsync(entity, cancellationToken) : null;

            // Re-read the look-back overlap behind the checkpoint: a writer whose timestamp landed behind it is
            // still archived, and the MERGE's "only newer wins" makes the re-read harmless. Skipped only when nothing
            // was written since this process's last successful pass ended at this same checkpoint.
            var overlapUnchanged = wasQuiet && writes is { } w && checkpoint is { } && quiet.Writes == w && quiet.Checkpoint.Equals(checkpoint);
            var cursor = checkpoint is { } c
                ? overlapUnchanged ? c : ChangeCursor.AtScore(Math.Max(double.MinValue, c.Score - settings.LookbackOverlap.TotalMilliseconds))
                : ChangeCursor.Start;
            stats.Status = RunStatus.Succeeded;
            committed = await PumpPagesAsync(run, entity, stats, cursor, committed, upperBound, latestAllowed, started, budget, cancellationToken);

            if (stats.Status == RunStatus.Succeeded)
            {
                await DeadLetterFutureRecordsAsync(run, entity, stats, latestAllowed, committed, cancellationToken);
            }

            if (stats.Status == RunStatus.Succeeded && writes is { } counted)
            {
                _quietSince[entity.Name] = (counted, committed);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Cancelled inside a page: its transaction rolled back, the committed checkpoint is exact.
            stats.Status = RunStatus.Partial;
            Log.RunStoppedEarly(logger, run.RunId, entity.Name, "cancelled", stats.CheckpointScore);
        }
        catch (EntityBusyException)
        {
            // Our lease expired and another pass took the entity over; it continues from our last commit.
            stats.Status = RunStatus.Conflict;
            Log.EntityBusy(logger, run.RunId, entity.Name);
        }
        catch (Exception ex)
        {
            Fail(run, entity, stats, ex);
        }
        finally
        {
            // Lag after the pass: 0 when every due change is archived, else how far the checkpoint trails Redis-now.
            // Never archived and not caught up: the lag is unknown (null), not zero.
            stats.LagMs = stats.Status == RunStatus.Succeeded ? 0
                : stats.CheckpointScore is { } score && double.IsFinite(score) ? Math.Max(0, redisNow.ToUnixTimeMilliseconds() - score)
                : null;
            if (stats.LagMs is { } lag)
            {
                metrics.RecordLag(entity.Name, lag);
            }

            if (stats.Status != RunStatus.Conflict)
            {
                await ReleaseQuietlyAsync(entity, run.RunId);
            }
        }
    }

    /// <summary>A page read from Redis and mapped, waiting to be written.</summary>
    private sealed record PreparedPage(ChangePage Page, IReadOnlyList<SourceRecord> Records, MappedPage Mapped, int AlreadyArchived, long ReadStarted);

    /// <summary>
    /// The page loop, pipelined: a reader task pages the change index, fetches and maps page N+1 while this method
    /// commits page N. A bounded channel (<c>Archive:PipelineDepth</c> pages) gives back-pressure, so memory stays a
    /// few pages whatever the backlog. Pages commit strictly in order; stopping (budget, cancellation, failure) happens
    /// between commits, and read-ahead pages that were not committed are simply read again by the next pass.
    /// </summary>
    private async Task<ChangeCursor> PumpPagesAsync(
        ArchiveRunResult run,
        EntityDescriptor entity,
        EntityRunStats stats,
        ChangeCursor cursor,
        ChangeCursor committed,
        double upperBound,
        DateTimeOffset latestAllowed,
        long started,
        TimeSpan budget,
        CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var pages = Channel.CreateBounded<PreparedPage>(new BoundedChannelOptions(settings.PipelineDepth)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        using var stopReading = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        string? stopReason = null;
        string? readerStopReason = null;
        Exception? readerError = null;
        var startCheckpoint = committed; // the reader's view; the loop below moves 'committed' as pages commit

        bool OutOfTime(out string? reason)
        {
            reason = cancellationToken.IsCancellationRequested ? "cancelled"
                : timeProvider.GetElapsedTime(started) >= budget ? "time budget" : null;
            return reason is not null;
        }

        async Task ReadAsync()
        {
            Task<ChangePage>? prefetched = null;
            try
            {
                var position = cursor;
                while (true)
                {
                    var readStarted = timeProvider.GetTimestamp();
                    var page = await (prefetched ?? source.ReadPageAsync(entity, position, upperBound, settings.PageSize, stopReading.Token));
                    prefetched = null;
                    if (page.Entries.Count > 0)
                    {
                        position = page.Entries[^1].After;
                        if (!page.ReachedEnd)
                        {
                            // Page the index ahead while this page is probed, fetched and mapped.
                            prefetched = source.ReadPageAsync(entity, position, upperBound, settings.PageSize, stopReading.Token);
                        }

                        // Inside the look-back overlap (at or before the checkpoint this pass started from) most
                        // entries are archived already: one primary-key probe skips them before any fetch or write.
                        var due = page.Entries;
                        if (startCheckpoint.CompareEntry(page.Entries[0].Score, page.Entries[0].Member) <= 0)
                        {
                            var overlap = page.Entries.Where(e => startCheckpoint.CompareEntry(e.Score, e.Member) <= 0).ToList();
                            var missing = await sink.ExcludeArchivedAsync(entity, overlap, stopReading.Token);
                            due = [.. missing, .. page.Entries.Skip(overlap.Count)];
                        }

                        var records = due.Count == 0 ? [] : await source.FetchAsync(entity, due, stopReading.Token);
                        var mapped = mapper.MapPage(entity, records, latestAllowed);
                        await pages.Writer.WriteAsync(new PreparedPage(page, records, mapped, page.Entries.Count - due.Count, readStarted), stopReading.Token);
                    }

                    if (page.ReachedEnd)
                    {
                        break;
                    }

                    if (OutOfTime(out var reason))
                    {
                        readerStopReason = reason;
                        break;
                    }
                }

                pages.Writer.TryComplete();
            }
            catch (Exception ex)
            {
                if (ex is not OperationCanceledException || !stopReading.IsCancellationRequested)
                {
                    readerError = ex;
                }

                pages.Writer.TryComplete(ex);
            }
            finally
            {
                if (prefetched is not null)
                {
                    // A page read ahead and not needed (stopped early): observe it so a failure is not left unobserved.
                    await prefetched.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                }
            }
        }

        var reader = ReadAsync();
        try
        {
            while (await pages.Reader.WaitToReadAsync(cancellationToken))
            {
                var prepared = await pages.Reader.ReadAsync(cancellationToken);
                committed = await CommitPageAsync(run, entity, stats, prepared, committed, cancellationToken);
                var drained = pages.Reader.Completion.IsCompletedSuccessfully && readerStopReason is null;
                if (!drained && OutOfTime(out stopReason))
                {
                    break; // between pages: read-ahead pages are dropped and read again next pass
                }
            }

        }
        finally
        {
            await stopReading.CancelAsync();
            try
            {
                await reader;
            }
            catch (OperationCanceledException)
            {
                // the reader stops when we stop committing
            }
        }

        // Surface a reader failure (Redis down, …) now that every committed page is accounted for — also when the
        // consumer stopped first (budget) with pages still buffered, where the channel itself never completes.
        if (readerError is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(readerError);
        }

        stopReason ??= readerStopReason;
        if (stopReason is not null)
        {
            stats.Status = RunStatus.Partial;
            Log.RunStoppedEarly(logger, run.RunId, entity.Name, stopReason, stats.CheckpointScore);
        }

        return committed;
    }

    private async Task<ChangeCursor> CommitPageAsync(
        ArchiveRunResult run,
        EntityDescriptor entity,
        EntityRunStats stats,
        PreparedPage prepared,
        ChangeCursor committed,
        CancellationToken cancellationToken)
    {
        var (page, records, mapped, alreadyArchived, readStarted) = prepared;
        var checkpoint = ChangeCursor.Max(committed, page.Entries[^1].After);
        if (records.Count == 0 && checkpoint.Equals(committed))
        {
            stats.Read += page.Entries.Count;
            stats.Unchanged += alreadyArchived;
            return committed; // an overlap page that was archived already: nothing to write, nothing to advance
        }

        var written = await sink.WritePageAsync(entity, run.RunId, mapped.Rows, mapped.DeadLetters, checkpoint, cancellationToken);

        stats.Read += page.Entries.Count;
        stats.Unchanged += alreadyArchived;
        stats.Pages++;
        stats.Upserted += written.Upserted;
        stats.Unchanged += written.Unchanged;
        stats.Vanished += mapped.Vanished;
        stats.DeadLettered += written.DeadLettered;
        stats.CheckpointScore = checkpoint.Score;
        metrics.RecordPage(entity.Name, written.Upserted, written.DeadLettered, mapped.Vanished);
        Log.PageCommitted(logger, entity.Name, stats.Pages, page.Entries.Count, written.Upserted, written.Unchanged, mapped.Vanished, written.DeadLettered, timeProvider.GetElapsedTime(readStarted).TotalMilliseconds);
        if (mapped.Vanished > 0)
        {
            Log.RecordsVanished(logger, entity.Name, mapped.Vanished, records.First(r => r.Vanished).Entry.DisplayId);
        }

        foreach (var deadLetter in mapped.DeadLetters)
        {
            Log.RecordDeadLettered(logger, entity.Name, deadLetter.Entry.DisplayId, deadLetter.Category, deadLetter.Reason);
        }

        try
        {
            // The checkpoint is "after (score, member)": records sharing its score may still be pending, so the
            // mirror promises only what is certain — every score below it (scores are whole milliseconds).
            await source.MirrorCheckpointAsync(entity, checkpoint.Score - 1, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.CheckpointMirrorFailed(logger, entity.Name, ex);
        }

        return checkpoint;
    }

    /// <summary>
    /// Entries stamped beyond Redis-now plus the future tolerance would never come due: dead-letter them each pass
    /// (without moving the checkpoint) so an operator sees them instead of them waiting silently.
    /// </summary>
    private async Task DeadLetterFutureRecordsAsync(
        ArchiveRunResult run, EntityDescriptor entity, EntityRunStats stats, DateTimeOffset latestAllowed, ChangeCursor committed, CancellationToken cancellationToken)
    {
        var entries = await source.ReadBeyondAsync(entity, latestAllowed.ToUnixTimeMilliseconds(), options.Value.PageSize, cancellationToken);
        if (entries.Count == 0)
        {
            return;
        }

        var records = await source.FetchAsync(entity, entries, cancellationToken);
        var deadLetters = records
            .Where(r => !r.Vanished)
            .Select(r => new DeadLetter(
                r.Entry,
                DeadLetterReasons.FutureTimestamp,
                $"The change score (updatedAt) lies beyond {latestAllowed:O} (Redis clock plus the future tolerance).",
                RawPayload.Encode(r.Fields)))
            .ToList();
        if (deadLetters.Count == 0)
        {
            return;
        }

        var written = await sink.WritePageAsync(entity, run.RunId, [], deadLetters, committed, cancellationToken);
        stats.DeadLettered += written.DeadLettered;
        metrics.RecordPage(entity.Name, 0, written.DeadLettered, 0);
        foreach (var deadLetter in deadLetters)
        {
            Log.RecordDeadLettered(logger, entity.Name, deadLetter.Entry.DisplayId, deadLetter.Category, deadLetter.Reason);
        }
    }

    private void Fail(ArchiveRunResult run, EntityDescriptor entity, EntityRunStats stats, Exception ex)
    {
        stats.Status = RunStatus.Failed;
        run.Error = $"{entity.Name}: {ErrorText.Describe(ex)}";
        Log.RunFailed(logger, run.RunId, entity.Name, run.Error, ex);
    }

    private async Task ReleaseQuietlyAsync(EntityDescriptor entity, Guid runId)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await sink.ReleaseAsync(entity, runId, timeout.Token);
        }
        catch (Exception ex)
        {
            Log.LeaseReleaseFailed(logger, entity.Name, ex); // it expires on its own after Archive:LeaseTimeout
        }
    }

    private async Task RecordFinishAsync(ArchiveRunResult run)
    {
        try
        {
            // Recorded even when the caller cancelled: history must say how the pass ended.
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await sink.FinishRunAsync(run, timeout.Token);
        }
        catch (Exception ex)
        {
            Log.RunHistoryFailed(logger, run.RunId, ex);
        }
    }

    private static RunStatus Summarise(ArchiveRunResult run)
    {
        var statuses = run.Entities.Select(e => e.Status).ToList();
        if (run.Error is not null || statuses.Contains(RunStatus.Failed))
        {
            return RunStatus.Failed;
        }

        // Conflict means "nothing was done, another pass holds it all". When some entities were worked and others were
        // busy, the run is Partial: callers see each entity's status and know that work was done.
        if (statuses.Contains(RunStatus.Conflict))
        {
            return statuses.All(s => s is RunStatus.Conflict or RunStatus.Skipped) ? RunStatus.Conflict : RunStatus.Partial;
        }

        if (statuses.Contains(RunStatus.Partial) || statuses.Contains(RunStatus.Skipped))
        {
            return RunStatus.Partial;
        }

        return RunStatus.Succeeded;
    }
}
