using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;

namespace NexusArchive.Core.Archiving;

/// <summary>
/// One entity's page loop, pipelined: a <see cref="PageReader"/> pages the change index, fetches and maps page N+1
/// while this class commits page N. A bounded channel (<c>Archive:PipelineDepth</c> pages) gives back-pressure, so
/// memory stays a few pages whatever the backlog. Pages commit strictly in order; stopping (budget, cancellation,
/// failure) happens between commits, and read-ahead pages that were not committed are read again by the next pass.
/// </summary>
internal sealed class PagePipeline(
    IChangeSource source,
    IArchiveSink sink,
    RecordMapper mapper,
    IOptions<ArchiveOptions> options,
    TimeProvider timeProvider,
    ArchiveMetrics metrics,
    ILogger<ArchiveService> logger)
{
    private readonly IChangeSource _source = source;
    private readonly IArchiveSink _sink = sink;
    private readonly RecordMapper _mapper = mapper;
    private readonly IOptions<ArchiveOptions> _options = options;
    private readonly TimeProvider _timeProvider = timeProvider;
    private readonly ArchiveMetrics _metrics = metrics;
    private readonly ILogger _logger = logger;

    /// <summary>A page read from Redis and mapped, waiting to be written.</summary>
    private sealed record PreparedPage(ChangePage Page, IReadOnlyList<SourceRecord> Records, MappedPage Mapped, int AlreadyArchived, long ReadStarted);

    /// <summary>
    /// Reads from <paramref name="from"/> up to the pass's upper bound and commits page by page; returns the committed
    /// checkpoint. Sets <see cref="RunStatus.Partial"/> when the pass stopped between pages.
    /// </summary>
    public async Task<ChangeCursor> RunAsync(EntityPass pass, ChangeCursor from, ChangeCursor committed, CancellationToken cancellationToken)
    {
        var pages = Channel.CreateBounded<PreparedPage>(new BoundedChannelOptions(_options.Value.PipelineDepth)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        using var stopReading = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var reader = new PageReader(this, pass, from, committed, pages.Writer);
        var reading = reader.ReadAsync(stopReading.Token);
        string? stopReason = null;
        var mirroring = Task.CompletedTask;
        IReadOnlyList<MappedRow>? stagedCurrent = null, stagedNext = null;
        try
        {
            while (await pages.Reader.WaitToReadAsync(cancellationToken))
            {
                var prepared = await pages.Reader.ReadAsync(cancellationToken);

                // Stage the page after this one (its own connection: COPY, no lock) while this one commits — only once
                // this one is staged: a transaction that holds a connection then never waits for another, so a pooler
                // with few server connections (PgBouncer, Supabase's 6543) queues the next page instead of deadlocking.
                (stagedCurrent, stagedNext) = (prepared.Mapped.Rows, null);
                if (_options.Value.StageAhead
                    && await _sink.StageAheadAsync(pass.Entity, prepared.Mapped.Rows, cancellationToken)
                    && pages.Reader.TryPeek(out var next))
                {
                    _ = _sink.StageAheadAsync(pass.Entity, next.Mapped.Rows, cancellationToken); // completes false (also for no rows), never throws
                    stagedNext = next.Mapped.Rows;
                }

                var before = committed;
                committed = await CommitPageAsync(pass, prepared, committed, cancellationToken);
                if (!committed.Equals(before))
                {
                    // Mirror the checkpoint to Redis while the next page commits (one round trip less per page on the
                    // critical path), one SET at a time so a retried SET never overtakes a newer one.
                    await mirroring;
                    mirroring = MirrorCheckpointAsync(pass, committed, cancellationToken);
                }

                var drained = pages.Reader.Completion.IsCompletedSuccessfully && reader.StopReason is null;
                if (!drained && pass.Budget.IsSpent(cancellationToken, out stopReason))
                {
                    break; // between pages: read-ahead pages are dropped and read again next pass
                }
            }
        }
        finally
        {
            // A page staged and not written (the pass stopped or failed) is rolled back; for a written one this is a no-op.
            foreach (var rows in (IReadOnlyList<MappedRow>?[])[stagedCurrent, stagedNext])
            {
                if (rows is not null)
                {
                    await _sink.DiscardAheadAsync(rows);
                }
            }

            await mirroring;
            await stopReading.CancelAsync();
            try
            {
                await reading;
            }
            catch (OperationCanceledException)
            {
                // the reader stops when we stop committing
            }
        }

        // Surface a reader failure (Redis down, …) now that every committed page is accounted for — also when the
        // consumer stopped first (budget) with pages still buffered, where the channel itself never completes.
        if (reader.Error is { } error)
        {
            ExceptionDispatchInfo.Throw(error);
        }

        stopReason ??= reader.StopReason;
        if (stopReason is not null)
        {
            pass.Stats.Status = RunStatus.Partial;
            Log.RunStoppedEarly(_logger, pass.RunId, pass.Entity.Name, stopReason, pass.Stats.CheckpointScore);
        }

        return committed;
    }

    private async Task<ChangeCursor> CommitPageAsync(EntityPass pass, PreparedPage prepared, ChangeCursor committed, CancellationToken cancellationToken)
    {
        var (entity, stats) = (pass.Entity, pass.Stats);
        var (page, records, mapped, alreadyArchived, readStarted) = prepared;
        var checkpoint = ChangeCursor.Max(committed, page.Entries[^1].After);
        if (records.Count == 0 && checkpoint.Equals(committed))
        {
            stats.Read += page.Entries.Count;
            stats.Unchanged += alreadyArchived;
            return committed; // an overlap page that was archived already: nothing to write, nothing to advance
        }

        var written = await _sink.WritePageAsync(entity, pass.RunId, mapped.Rows, mapped.DeadLetters, checkpoint, cancellationToken);

        stats.Read += page.Entries.Count;
        stats.Unchanged += alreadyArchived;
        stats.Pages++;
        stats.Upserted += written.Upserted;
        stats.Unchanged += written.Unchanged;
        stats.Vanished += mapped.Vanished;
        stats.DeadLettered += written.DeadLettered;
        stats.CheckpointScore = checkpoint.Score;
        _metrics.RecordPage(entity, written.Upserted, written.DeadLettered, mapped.Vanished);
        Log.PageCommitted(_logger, entity.Name, stats.Pages, page.Entries.Count, written.Upserted, written.Unchanged, mapped.Vanished, written.DeadLettered, _timeProvider.GetElapsedTime(readStarted).TotalMilliseconds);
        if (mapped.Vanished > 0)
        {
            Log.RecordsVanished(_logger, entity.Name, mapped.Vanished, records.First(r => r.Vanished).Entry.DisplayId);
        }

        foreach (var deadLetter in mapped.DeadLetters)
        {
            Log.RecordDeadLettered(_logger, entity.Name, deadLetter.Entry.DisplayId, deadLetter.Category, deadLetter.Reason);
        }

        return checkpoint;
    }

    private async Task MirrorCheckpointAsync(EntityPass pass, ChangeCursor checkpoint, CancellationToken cancellationToken)
    {
        try
        {
            // The checkpoint is "after (score, member)": records sharing its score may still be pending, so the
            // mirror promises only what is certain — every score below it (scores are whole milliseconds).
            await _source.MirrorCheckpointAsync(pass.Entity, checkpoint.Score - 1, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.CheckpointMirrorFailed(_logger, pass.Entity.Name, ex);
        }
        catch (OperationCanceledException)
        {
            // The pass was cancelled: the next pass mirrors its checkpoint.
        }
    }

    /// <summary>The producer side: pages the index one page ahead, probes the overlap, fetches and maps.</summary>
    private sealed class PageReader(PagePipeline pipeline, EntityPass pass, ChangeCursor from, ChangeCursor startCheckpoint, ChannelWriter<PreparedPage> pages)
    {
        /// <summary>Why the reader stopped before the end of the index (budget, cancellation), if it did.</summary>
        public string? StopReason { get; private set; }

        /// <summary>The failure that stopped the reader, if any (not a cancellation we asked for).</summary>
        public Exception? Error { get; private set; }

        public async Task ReadAsync(CancellationToken stop)
        {
            var (source, sink, settings) = (pipeline._source, pipeline._sink, pipeline._options.Value);
            var entity = pass.Entity;
            Task<ChangePage>? prefetched = null;
            try
            {
                var position = from;
                while (true)
                {
                    var readStarted = pipeline._timeProvider.GetTimestamp();
                    var page = await (prefetched ?? source.ReadPageAsync(entity, position, pass.UpperBound, settings.PageSize, stop));
                    prefetched = null;
                    if (page.Entries.Count > 0)
                    {
                        position = page.Entries[^1].After;
                        if (!page.ReachedEnd)
                        {
                            // Page the index ahead while this page is probed, fetched and mapped.
                            prefetched = source.ReadPageAsync(entity, position, pass.UpperBound, settings.PageSize, stop);
                        }

                        // Inside the look-back overlap (at or before the checkpoint this pass started from) most
                        // entries are archived already: one primary-key probe skips them before any fetch or write.
                        var due = page.Entries;
                        if (startCheckpoint.CompareEntry(page.Entries[0].Score, page.Entries[0].Member) <= 0)
                        {
                            var overlap = page.Entries.Where(e => startCheckpoint.CompareEntry(e.Score, e.Member) <= 0).ToList();
                            var missing = await sink.ExcludeArchivedAsync(entity, overlap, stop);
                            due = [.. missing, .. page.Entries.Skip(overlap.Count)];
                        }

                        var records = due.Count == 0 ? [] : await source.FetchAsync(entity, due, stop);
                        var mapped = pipeline._mapper.MapPage(entity, records, pass.LatestAllowed);
                        await pages.WriteAsync(new PreparedPage(page, records, mapped, page.Entries.Count - due.Count, readStarted), stop);
                    }

                    if (page.ReachedEnd)
                    {
                        break;
                    }

                    if (pass.Budget.IsSpent(stop, out var reason))
                    {
                        StopReason = reason;
                        break;
                    }
                }

                pages.TryComplete();
            }
            catch (Exception ex)
            {
                if (ex is not OperationCanceledException || !stop.IsCancellationRequested)
                {
                    Error = ex;
                }

                pages.TryComplete(ex);
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
    }
}
