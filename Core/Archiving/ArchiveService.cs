using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Security;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;

namespace NexusArchive.Core.Archiving;

/// <summary>
/// Runs one archive pass: for each entity in dependency order, take its lease, page its change index by
/// (score, member) from the checkpoint (minus the look-back overlap) up to Redis-now minus the settle window through
/// the <see cref="PagePipeline"/>, and commit each page with its checkpoint. Stops between pages when the time budget
/// runs out or the caller cancels. The Functions triggers and the CLI both call <see cref="RunAsync"/>.
/// </summary>
public sealed class ArchiveService
{
    private readonly EntityCatalog _entities;
    private readonly IChangeSource _source;
    private readonly IArchiveSink _sink;
    private readonly IArchiveSafetyCheck _safetyCheck;
    private readonly PagePipeline _pages;
    private readonly LateWriteDrain _late;
    private readonly IOptions<ArchiveOptions> _options;
    private readonly TimeProvider _timeProvider;
    private readonly ArchiveMetrics _metrics;
    private readonly RedisCommandMeter _redisCommands;
    private readonly ILogger<ArchiveService> _logger;

    internal ArchiveService(
        EntityCatalog entities,
        IChangeSource source,
        IArchiveSink sink,
        IArchiveSafetyCheck safetyCheck,
        RecordMapper mapper,
        IOptions<ArchiveOptions> options,
        TimeProvider timeProvider,
        ArchiveMetrics metrics,
        RedisCommandMeter redisCommands,
        ILogger<ArchiveService> logger)
    {
        _entities = entities;
        _source = source;
        _sink = sink;
        _safetyCheck = safetyCheck;
        _options = options;
        _timeProvider = timeProvider;
        _metrics = metrics;
        _redisCommands = redisCommands;
        _logger = logger;
        _pages = new PagePipeline(source, sink, mapper, options, timeProvider, metrics, logger);
        _late = new LateWriteDrain(source, sink, mapper, options, metrics, logger);
    }

    /// <summary>Runs one pass. Never throws for data or infrastructure errors: the result says what happened.</summary>
    /// <exception cref="ArgumentException">The request names an unknown entity.</exception>
    public async Task<ArchiveRunResult> RunAsync(ArchiveRunRequest request, CancellationToken cancellationToken)
    {
        var settings = _options.Value;
        var entities = _entities.Resolve(request.Entities is { Count: > 0 } ? request.Entities : settings.Entities);
        if (request.Shard is not null && (entities.Count != 1 || request.Shard < 0 || request.ShardCount is < 1 or > ChangeShard.MaxCount))
        {
            throw new ArgumentException(
                $"A shard ({request.Shard}) is worked for exactly one entity (asked: {string.Join(", ", entities.Select(e => e.Name))}), with a shard count from 1 to {ChangeShard.MaxCount}.",
                nameof(request));
        }

        var started = _timeProvider.GetTimestamp();
        var budget = request.MaxDuration is { } max && max < settings.TimeBudget ? max : settings.TimeBudget;
        var run = new ArchiveRunResult
        {
            RunId = Guid.CreateVersion7(_timeProvider.GetUtcNow()),
            Trigger = request.Trigger,
            StartedAt = _timeProvider.GetUtcNow(),
            Entities = [.. entities.Select(e => new EntityRunStats { Entity = e.Name })],
        };

        var clockCommands = _redisCommands.Total(RedisCommandMeter.NoEntity);
        try
        {
            await _sink.StartRunAsync(run, cancellationToken);

            // Refuse to write when RLS is off or the role can read auth secrets (docs/security.md).
            await _safetyCheck.VerifyAsync(cancellationToken);

            var redisNow = await _source.GetServerTimeAsync(cancellationToken);
            var upperBound = (redisNow - settings.SettleWindow).ToUnixTimeMilliseconds();

            // Each entity's change streams: itself, or its shards (docs/scaling.md). Every stream has its own
            // checkpoint, lease and line in the run's statistics.
            var layout = await _source.GetShardLayoutAsync(cancellationToken);
            var streams = StreamsToWork(entities, layout, request);
            run.Entities.Clear();
            run.Entities.AddRange(streams.Select(s => new EntityRunStats { Entity = s.Name, Shard = s.Shard?.Label }));
            Log.RunStarted(_logger, run.RunId, run.Trigger, string.Join(",", streams.Select(e => e.FeedName)), upperBound, redisNow);

            var passBudget = new PassBudget(_timeProvider, started, budget);
            for (var i = 0; i < streams.Count; i++)
            {
                var stats = run.Entities[i];
                if (passBudget.IsSpent(cancellationToken, out _))
                {
                    stats.Status = RunStatus.Skipped;
                    continue;
                }

                var pass = new EntityPass
                {
                    Run = run,
                    Entity = streams[i],
                    Stats = stats,
                    IsDraining = layout.IsDraining(streams[i]),
                    RedisNow = redisNow,
                    UpperBound = upperBound,
                    LatestAllowed = redisNow + settings.FutureTolerance,
                    Budget = passBudget,
                };
                var commands = _redisCommands.Total(streams[i].FeedName);
                await ArchiveEntityAsync(pass, cancellationToken);
                stats.RedisCommands = _redisCommands.Total(streams[i].FeedName) - commands;
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
            Log.RunFailed(_logger, run.RunId, "(run)", run.Error, ex);
            foreach (var stats in run.Entities.Where(s => s.Status == RunStatus.Skipped))
            {
                stats.Status = RunStatus.Failed;
            }
        }

        if (run.Entities.Count > 0)
        {
            // The pass's one TIME belongs to no entity: count it with the first, so the entities add up to the pass.
            run.Entities[0].RedisCommands += _redisCommands.Total(RedisCommandMeter.NoEntity) - clockCommands;
        }

        run.Status = Summarise(run);
        run.FinishedAt = run.StartedAt + _timeProvider.GetElapsedTime(started);
        await RecordFinishAsync(run);
        _metrics.RecordRun(run.Status.ToString(), run.DurationMs);
        Log.RunFinished(
            _logger,
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

    private async Task ArchiveEntityAsync(EntityPass pass, CancellationToken cancellationToken)
    {
        var (run, entity, stats) = (pass.Run, pass.Entity, pass.Stats);
        var settings = _options.Value;
        AcquiredCheckpoint acquired;
        try
        {
            acquired = await _sink.AcquireAsync(entity, run.RunId, cancellationToken);
        }
        catch (EntityBusyException)
        {
            stats.Status = RunStatus.Conflict;
            Log.EntityBusy(_logger, run.RunId, entity.Name);
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

        var checkpoint = acquired.Checkpoint;
        var committed = checkpoint ?? ChangeCursor.Start;
        stats.CheckpointScore = checkpoint?.Score;
        QuietMark? leaveQuiet = null;
        var lease = LeaseKeeper.Start(_sink, pass, settings.LeaseTimeout, _timeProvider, _logger, cancellationToken);
        try
        {
            var work = lease.WorkToken;

            // Read before the first page: any write after this moment changes it, so the next pass sees a new count.
            var writes = settings.QuietPasses ? await _source.GetWriteCountAsync(entity, work) : null;

            // Quiet: the last successful pass (in any process) read this same count and committed this same
            // checkpoint, so nothing was written since. The look-back overlap then holds exactly what that pass read,
            // the late set holds nothing it did not drain, and the records stamped in the future are the ones it
            // dead-lettered: none is read again. Otherwise re-read the overlap behind the checkpoint, so a writer whose
            // timestamp landed behind it is still archived ("only newer wins" makes the re-read harmless).
            var quiet = acquired.Quiet?.Holds(writes, committed) == true;
            var from = checkpoint is { } c
                ? quiet ? c : ChangeCursor.AtScore(Math.Max(double.MinValue, c.Score - settings.LookbackOverlap.TotalMilliseconds))
                : ChangeCursor.Start;
            // Late writes first: raise the horizon before reading anything, then archive what the writer recorded as late.
            await _late.RaiseHorizonAsync(pass, work);
            stats.Status = RunStatus.Succeeded;
            if (!quiet && !await _late.DrainAsync(pass, committed, work))
            {
                stats.Status = RunStatus.Partial;
                Log.RunStoppedEarly(_logger, run.RunId, entity.Name, "time budget (late writes)", stats.CheckpointScore);
                return;
            }

            committed = await _pages.RunAsync(pass, from, committed, work);

            if (stats.Status == RunStatus.Succeeded && !quiet)
            {
                await DeadLetterFutureRecordsAsync(pass, committed, work);
            }

            if (stats.Status == RunStatus.Succeeded && pass.IsDraining)
            {
                await DrainStreamAsync(pass, work);
            }

            if (stats.Status == RunStatus.Succeeded && writes is { } counted)
            {
                leaveQuiet = new QuietMark(counted, committed);
            }
        }
        catch (Exception ex) when (lease.Lost && ex is OperationCanceledException or EntityBusyException)
        {
            // Our lease expired and another pass took the entity over; it continues from our last commit.
            stats.Status = RunStatus.Conflict;
            Log.EntityBusy(_logger, run.RunId, entity.Name);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Cancelled inside a page: its transaction rolled back, the committed checkpoint is exact.
            stats.Status = RunStatus.Partial;
            Log.RunStoppedEarly(_logger, run.RunId, entity.Name, "cancelled", stats.CheckpointScore);
        }
        catch (EntityBusyException)
        {
            // Our lease expired and another pass took the entity over; it continues from our last commit.
            stats.Status = RunStatus.Conflict;
            Log.EntityBusy(_logger, run.RunId, entity.Name);
        }
        catch (Exception ex)
        {
            Fail(run, entity, stats, ex);
        }
        finally
        {
            await lease.DisposeAsync();

            // Lag after the pass: 0 when every due change is archived, else how far the checkpoint trails Redis-now.
            // Never archived and not caught up: the lag is unknown (null), not zero.
            stats.LagMs = stats.Status == RunStatus.Succeeded ? 0
                : stats.CheckpointScore is { } score && double.IsFinite(score) ? Math.Max(0, pass.RedisNow.ToUnixTimeMilliseconds() - score)
                : null;
            if (stats.LagMs is { } lag)
            {
                _metrics.RecordLag(entity, lag);
            }

            if (stats.Status != RunStatus.Conflict)
            {
                await ReleaseQuietlyAsync(entity, run.RunId, leaveQuiet);
            }
        }
    }

    /// <summary>
    /// The writers have left this stream (a reshard, or writers that predate sharding): everything up to the pass's upper
    /// bound is archived now, so move those entries to the streams their ids belong to, until the stream is empty and
    /// the layout forgets it (docs/scaling.md). Stops with the pass's budget; the next pass goes on.
    /// </summary>
    private async Task DrainStreamAsync(EntityPass pass, CancellationToken cancellationToken)
    {
        const int batch = 2000;
        long moved, left, total = 0;
        do
        {
            (moved, left) = await _source.DrainStreamAsync(pass.Entity, pass.UpperBound, batch, cancellationToken);
            total += moved;
        }
        while (moved == batch && !pass.Budget.IsSpent(cancellationToken, out _));

        if (total > 0)
        {
            Log.StreamDrained(_logger, pass.RunId, pass.Entity.FeedName, total, left);
        }
    }

    /// <summary>The change streams a pass works: every stream of every entity, or the one shard asked for.</summary>
    private static List<EntityDescriptor> StreamsToWork(IReadOnlyList<EntityDescriptor> entities, ShardLayout layout, ArchiveRunRequest request)
    {
        if (request.Shard is not { } shard)
        {
            return [.. entities.SelectMany(layout.StreamsOf)];
        }

        var entity = entities[0];
        var count = request.ShardCount ?? layout.Of(entity).Count;
        if (shard >= count)
        {
            throw new ArgumentException(
                $"{entity.Name} has {count} shard(s), numbered 0 to {count - 1}: there is no shard {shard} (docs/scaling.md).",
                nameof(request));
        }

        var stream = entity.ForShard(shard, count);
        return [layout.StreamsOf(entity).FirstOrDefault(s => s.FeedName == stream.FeedName) ?? stream];
    }

    /// <summary>
    /// Entries stamped beyond Redis-now plus the future tolerance would never come due: dead-letter them each pass
    /// (without moving the checkpoint) so an operator sees them instead of them waiting silently.
    /// </summary>
    private async Task DeadLetterFutureRecordsAsync(EntityPass pass, ChangeCursor committed, CancellationToken cancellationToken)
    {
        var (entity, stats, latestAllowed) = (pass.Entity, pass.Stats, pass.LatestAllowed);
        var entries = await _source.ReadBeyondAsync(entity, latestAllowed.ToUnixTimeMilliseconds(), _options.Value.PageSize, cancellationToken);
        if (entries.Count == 0)
        {
            return;
        }

        var records = await _source.FetchAsync(entity, entries, cancellationToken);
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

        var written = await _sink.WritePageAsync(entity, pass.RunId, [], deadLetters, committed, cancellationToken);
        stats.DeadLettered += written.DeadLettered;
        _metrics.RecordPage(entity, 0, written.DeadLettered, 0);
        foreach (var deadLetter in deadLetters)
        {
            Log.RecordDeadLettered(_logger, entity.Name, deadLetter.Entry.DisplayId, deadLetter.Category, deadLetter.Reason);
        }
    }

    private void Fail(ArchiveRunResult run, EntityDescriptor entity, EntityRunStats stats, Exception ex)
    {
        stats.Status = RunStatus.Failed;
        run.Error = $"{entity.Name}: {ErrorText.Describe(ex)}";
        Log.RunFailed(_logger, run.RunId, entity.Name, run.Error, ex);
    }

    private async Task ReleaseQuietlyAsync(EntityDescriptor entity, Guid runId, QuietMark? quiet)
    {
        try
        {
            using var timeout = new CancellationTokenSource(_options.Value.BookkeepingTimeout, _timeProvider);
            await _sink.ReleaseAsync(entity, runId, quiet, timeout.Token);
        }
        catch (Exception ex)
        {
            Log.LeaseReleaseFailed(_logger, entity.Name, ex); // it expires on its own after Archive:LeaseTimeout
        }
    }

    private async Task RecordFinishAsync(ArchiveRunResult run)
    {
        try
        {
            // Recorded even when the caller cancelled: history must say how the pass ended.
            using var timeout = new CancellationTokenSource(_options.Value.BookkeepingTimeout, _timeProvider);
            await _sink.FinishRunAsync(run, timeout.Token);
        }
        catch (Exception ex)
        {
            Log.RunHistoryFailed(_logger, run.RunId, ex);
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
