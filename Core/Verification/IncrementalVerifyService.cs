using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Source;
using StackExchange.Redis;

namespace NexusArchive.Core.Verification;

/// <summary>
/// The scheduled, incremental verify: lag measures the change index, and cannot see a record the index never had. Each
/// run checks, per entity and at bounded cost,
/// <list type="number">
/// <item>the records changed since the last verified point: change-index entries after the recorded (score, member), up
/// to the committed checkpoint and Redis-now minus the settle window, at most <c>Archive:Verify:MaxRecordsPerRun</c>;</item>
/// <item>a rolling slice of the keyspace: a SCAN cursor over the entity's record keys, continued from the previous run
/// for about <c>Archive:Verify:ScanKeysPerRun</c> keys, so a record written around the writer (a plain <c>HSET</c>,
/// not in the index or with a stale score) is found within a walk of the keyspace.</item>
/// </list>
/// Every record is classified exactly as the full verify does (<see cref="RecordChecker"/>). The run is recorded in
/// <c>{bookkeeping}.verifications</c> with where each entity continues (written as each entity finishes, so a run that
/// fails part-way keeps what it did), records <c>nexus_archive.verify.gaps</c> per entity and logs
/// <c>VerificationFinished</c>, which the gaps alert queries. Concurrent runs are harmless: the later one to finish an
/// entity may move its resume point back, and records are then checked again, never skipped.
/// </summary>
public sealed class IncrementalVerifyService
{
    private readonly EntityCatalog _entities;
    private readonly RecordChecker _checker;
    private readonly RecordKeyScanner _scanner;
    private readonly IChangeSource _source;
    private readonly VerificationRecorder _recorder;
    private readonly IOptions<ArchiveOptions> _options;
    private readonly TimeProvider _timeProvider;
    private readonly ArchiveMetrics _metrics;
    private readonly ILogger<IncrementalVerifyService> _logger;

    internal IncrementalVerifyService(
        EntityCatalog entities,
        RecordChecker checker,
        RecordKeyScanner scanner,
        IChangeSource source,
        VerificationRecorder recorder,
        IOptions<ArchiveOptions> options,
        TimeProvider timeProvider,
        ArchiveMetrics metrics,
        ILogger<IncrementalVerifyService> logger)
    {
        _entities = entities;
        _checker = checker;
        _scanner = scanner;
        _source = source;
        _recorder = recorder;
        _options = options;
        _timeProvider = timeProvider;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>
    /// Runs one bounded verification from where the last one stopped. Never throws for infrastructure errors: the
    /// report's <see cref="IncrementalVerifyReport.Status"/> and <see cref="IncrementalVerifyReport.Error"/> say what happened.
    /// </summary>
    /// <exception cref="ArgumentException">Unknown entity or a batch size out of range.</exception>
    public async Task<IncrementalVerifyReport> RunAsync(IncrementalVerifyRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.BatchSize is < 1 or > 100_000)
        {
            throw new ArgumentException($"Batch size must be between 1 and 100000 (was {request.BatchSize}).", nameof(request));
        }

        var settings = _options.Value;
        var entities = _entities.Resolve(request.Entities is { Count: > 0 } ? request.Entities : settings.Entities);
        var started = _timeProvider.GetTimestamp();
        var record = new VerificationRecord { Kind = VerificationKinds.Incremental, Trigger = request.Trigger, StartedAt = _timeProvider.GetUtcNow() };
        var report = new IncrementalVerifyReport { Trigger = request.Trigger, StartedAt = record.StartedAt };
        record.Entities = report.Entities;
        try
        {
            var resume = await _recorder.StartAsync(record, cancellationToken);
            report.VerificationId = record.Id;
            record.Resume = resume;
            var redisNow = await _source.GetServerTimeAsync(cancellationToken);
            report.RedisNow = redisNow;
            foreach (var entity in entities)
            {
                var (result, next, shards) = await VerifyEntityAsync(entity, resume, redisNow, request, cancellationToken);
                report.Entities.Add(result);
                record.Add(result.Tally);
                resume[entity.Name] = next;
                foreach (var (stream, point) in shards)
                {
                    resume[stream] = point;
                }

                await _recorder.SaveProgressAsync(record, cancellationToken);
            }

            report.Status = VerificationStatus.Succeeded;
            await _recorder.SucceedAsync(record, started, _logger);
        }
        catch (Exception ex) when (record.Id != 0)
        {
            await _recorder.FailAsync(record, started, ex, _logger);
            report.Status = VerificationStatus.Failed;
            report.Error = record.Error;
        }
        catch (Exception ex)
        {
            // Not even recorded (no bookkeeping table, PostgreSQL unreachable): the error is all there is to say.
            report.Status = VerificationStatus.Failed;
            report.Error = ErrorText.Describe(ex);
            Log.VerificationFailed(_logger, 0, record.Kind, record.Trigger, report.Error, ex);
        }

        report.DurationMs = _timeProvider.GetElapsedTime(started).TotalMilliseconds;
        report.ExampleIds = record.ExampleIds;
        return report;
    }

    private async Task<(EntityIncrementalResult Result, VerifyResumePoint Next, Dictionary<string, VerifyResumePoint> Shards)> VerifyEntityAsync(
        EntityDescriptor entity, Dictionary<string, VerifyResumePoint> resume, DateTimeOffset redisNow, IncrementalVerifyRequest request, CancellationToken cancellationToken)
    {
        var bounds = _options.Value.Verify;
        var from = resume.GetValueOrDefault(entity.Name) ?? VerifyResumePoint.Start;
        var due = await _checker.ReadDueRuleAsync(entity, redisNow, cancellationToken);
        var result = new EntityIncrementalResult(
            entity.Name,
            new ChangesSlice { AfterScore = from.SinceScore, NextAfterScore = from.SinceScore },
            new KeyspaceSlice { CursorFrom = from.ScanCursor });

        // Part (a) per change stream (docs/scaling.md): the unsharded stream resumes at the entity's point, each shard at
        // its own (by stream name), each with its share of the bound.
        var streams = due.Layout.StreamsOf(entity);
        var perStream = (int)Math.Ceiling(bounds.MaxRecordsPerRun / (double)streams.Count);
        var since = await CheckChangesAsync(entity, from.Since, due, perStream, request, result.Changes, result, cancellationToken);
        var shardPoints = new Dictionary<string, VerifyResumePoint>(StringComparer.Ordinal);
        foreach (var stream in streams.Where(s => s.Shard is not null))
        {
            var point = resume.GetValueOrDefault(stream.FeedName) ?? VerifyResumePoint.Start;
            result.ShardChanges ??= new Dictionary<string, ChangesSlice>(StringComparer.Ordinal);
            var slice = result.ShardChanges[stream.Shard!.Value.Label] = new ChangesSlice { AfterScore = point.SinceScore, NextAfterScore = point.SinceScore };
            var shardSince = await CheckChangesAsync(stream, point.Since, due, perStream, request, slice, result, cancellationToken);
            shardPoints[stream.FeedName] = shardSince.Member is null ? new VerifyResumePoint(null, null, "0") : new VerifyResumePoint(shardSince.Score, shardSince.Member, "0");
            result.Changes.Entries += slice.Entries;
            result.Changes.Checked += slice.Checked;
            result.Changes.CaughtUp &= slice.CaughtUp;
        }

        var cursor = await CheckKeyspaceAsync(entity, ParseCursor(from.ScanCursor), due, bounds.ScanKeysPerRun, request, result, cancellationToken);

        var tally = result.Tally;
        _metrics.RecordVerify(entity.Name, tally.Gaps, tally.Differences);
        Log.IncrementalVerifyEntityFinished(
            _logger, entity.Name, result.Changes.Checked, result.Changes.AfterScore, result.Changes.UntilScore, result.Changes.CaughtUp,
            result.Keyspace.Checked, result.Keyspace.CursorFrom, result.Keyspace.CursorTo, result.Keyspace.WalkCompleted, tally.Gaps, tally.Differences);
        if (tally.Gaps + tally.Differences > 0)
        {
            Log.VerifyFoundProblems(_logger, entity.Name, tally.Gaps, tally.Differences, tally.ProblemSamples().FirstOrDefault() ?? "?");
        }

        var next = since.Member is null
            ? new VerifyResumePoint(null, null, cursor)
            : new VerifyResumePoint(since.Score, since.Member, cursor);
        return (result, next, shardPoints);
    }

    /// <summary>
    /// Part (a) for one change stream: its index entries after <paramref name="since"/> that a pass has archived by now;
    /// returns where the next run continues.
    /// </summary>
    private async Task<ChangeCursor> CheckChangesAsync(
        EntityDescriptor stream, ChangeCursor since, DueRule due, int maxRecords, IncrementalVerifyRequest request, ChangesSlice slice,
        EntityIncrementalResult result, CancellationToken cancellationToken)
    {
        if (due.CheckpointOf(stream) is not { } checkpoint)
        {
            slice.CaughtUp = true; // never archived: nothing is due, nothing to verify yet
            return since;
        }

        // Up to what a pass has archived: the committed checkpoint, and never inside the settle window.
        var until = Math.Min(checkpoint.Score, due.SettleBound);
        slice.UntilScore = until;
        var remaining = maxRecords;
        while (remaining > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var page = await _source.ReadPageAsync(stream, since, until, Math.Min(request.BatchSize, remaining), cancellationToken);
            var entries = page.Entries.TakeWhile(e => due.IsDue(stream, e.Score, e.Member)).ToList();
            if (entries.Count > 0)
            {
                slice.Entries += entries.Count;
                slice.Checked += await _checker.CheckAsync(
                    stream.Whole, [.. entries.Select(e => e.Member)], due, result.Tally, request.SamplesPerCategory, null, cancellationToken);
                remaining -= entries.Count;
                since = entries[^1].After;
                slice.NextAfterScore = since.Score;
            }

            if (page.ReachedEnd || entries.Count < page.Entries.Count || entries.Count == 0)
            {
                slice.CaughtUp = true;
                break;
            }
        }

        return since;
    }

    /// <summary>Part (b): the next slice of the keyspace walk from <paramref name="cursor"/>; returns the cursor the next run continues at.</summary>
    private async Task<string> CheckKeyspaceAsync(
        EntityDescriptor entity, RedisValue cursor, DueRule due, int maxKeys, IncrementalVerifyRequest request, EntityIncrementalResult result, CancellationToken cancellationToken)
    {
        var slice = result.Keyspace;
        do
        {
            cancellationToken.ThrowIfCancellationRequested();
            var count = (int)Math.Min(request.BatchSize, maxKeys - slice.Keys);
            (cursor, var keys) = await _scanner.ScanAsync(entity, cursor, count, cancellationToken);
            slice.Keys += keys.Length;
            var members = _checker.MembersOf(entity, keys);
            slice.Checked += await _checker.CheckAsync(entity, members, due, result.Tally, request.SamplesPerCategory, null, cancellationToken);
        }
        while (cursor != 0 && slice.Keys < maxKeys);

        slice.WalkCompleted = cursor == 0;
        slice.CursorTo = cursor.ToString();
        return slice.CursorTo;
    }

    /// <summary>A stored SCAN cursor; anything unreadable starts a new walk.</summary>
    private static RedisValue ParseCursor(string? stored) =>
        ulong.TryParse(stored, NumberStyles.None, CultureInfo.InvariantCulture, out var cursor) ? cursor : 0;
}
