using System.Text;
using Microsoft.Extensions.Logging;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Resilience;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Source;
using NexusArchive.Core.Verification;
using StackExchange.Redis;

namespace NexusArchive.Core.Backfill;

/// <summary>What to backfill.</summary>
/// <param name="Entities">Entity names; null or empty = all four.</param>
/// <param name="Restart">Forget a saved SCAN cursor and start over.</param>
/// <param name="ScanCount">The <c>COUNT</c> hint of each <c>SCAN</c> call (keys visited per batch).</param>
public sealed record BackfillRequest(IReadOnlyList<string>? Entities = null, bool Restart = false, int ScanCount = 1000);

/// <summary>A progress report after each batch.</summary>
/// <param name="Entity">The entity being scanned.</param>
/// <param name="KeysScanned">Record keys found so far (including before a resume).</param>
/// <param name="Indexed">Index entries added so far.</param>
/// <param name="KeysVisited">Estimated keys of the whole database SCAN has visited (batches × COUNT).</param>
/// <param name="DatabaseSize">DBSIZE when the entity started: SCAN visits every key of the database once.</param>
/// <param name="Elapsed">Time spent on this entity in this run.</param>
/// <param name="KeysPerSecond">Record keys found per second in this run.</param>
/// <param name="Eta">Estimated time left for this entity, from the visit rate and DBSIZE; null until known.</param>
public sealed record BackfillProgress(
    string Entity, long KeysScanned, long Indexed, long KeysVisited, long DatabaseSize, TimeSpan Elapsed, double KeysPerSecond, TimeSpan? Eta);

/// <summary>Counts for one entity.</summary>
public sealed class EntityBackfillResult
{
    public required string Entity { get; init; }

    /// <summary>Record keys (<c>{prefix}:{entity}:*</c>) SCAN returned, including before a resume.</summary>
    public long KeysScanned { get; set; }

    /// <summary>Index entries added (<c>ZADD NX</c> succeeded).</summary>
    public long Indexed { get; set; }

    /// <summary>Hashes that already had an index entry (left untouched).</summary>
    public long AlreadyIndexed { get; set; }

    /// <summary>Hashes without a parsable updatedAt, indexed at score 0 so the next pass dead-letters them.</summary>
    public long Unparsable { get; set; }

    /// <summary>Keys matching the pattern that are not hashes (skipped).</summary>
    public long NotHashes { get; set; }

    /// <summary>SCAN calls made, including before a resume.</summary>
    public long Batches { get; set; }

    /// <summary>True when this run continued from a saved cursor.</summary>
    public bool Resumed { get; set; }

    /// <summary>True when SCAN finished (the saved cursor is then removed).</summary>
    public bool Completed { get; set; }

    /// <summary>The checkpoint score the entity was rewound to, when backfill indexed records behind it.</summary>
    public double? CheckpointRewoundTo { get; set; }

    /// <summary>True when a rewind was needed but a live pass held the entity (run backfill again later).</summary>
    public bool RewindBlocked { get; set; }
}

/// <summary>The outcome of a backfill run.</summary>
public sealed class BackfillReport
{
    public required List<EntityBackfillResult> Entities { get; init; }

    public double DurationMs { get; set; }

    /// <summary>Every entity scanned to the end with nothing left to do.</summary>
    public bool Completed => Entities.All(e => e.Completed && !e.RewindBlocked);
}

/// <summary>
/// Indexes record hashes written before the change indexes existed. Per entity it walks
/// <c>SCAN MATCH {prefix}:{entity}:* COUNT n</c> (never <c>KEYS</c>), reads each hash's <c>updatedAt</c> and adds the
/// missing index entry with <c>ZADD NX</c> — a concurrent writer's entry (always as new or newer) is never overwritten.
/// A hash without a parsable updatedAt is indexed at score 0: the archive pass owns dead-lettering, so it is
/// dead-lettered there with its raw bytes like every other bad record. After each batch the SCAN cursor and the counts
/// are saved in <c>{prefix}:archive:backfill:{entity}</c>, so an interrupted backfill resumes where it stopped.
/// When it indexed records at or behind the entity's archive checkpoint (backfill after the archive already ran),
/// it rewinds the checkpoint to just before the oldest of them so the next pass reads them.
/// </summary>
public sealed class BackfillService
{
    private readonly EntityCatalog _entities;
    private readonly IConnectionMultiplexer _redis;
    private readonly CheckpointStore _checkpoints;
    private readonly RecordKeyScanner _scanner;
    private readonly RedisCalls _redisCalls;
    private readonly PostgresCalls _postgresCalls;
    private readonly RedisLayout _layout;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<BackfillService> _logger;

    internal BackfillService(
        EntityCatalog entities,
        IConnectionMultiplexer redis,
        CheckpointStore checkpoints,
        RecordKeyScanner scanner,
        RedisCalls redisCalls,
        PostgresCalls postgresCalls,
        RedisLayout layout,
        TimeProvider timeProvider,
        ILogger<BackfillService> logger)
    {
        _entities = entities;
        _redis = redis;
        _checkpoints = checkpoints;
        _scanner = scanner;
        _redisCalls = redisCalls;
        _postgresCalls = postgresCalls;
        _layout = layout;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    /// <summary>The Redis hash holding an entity's saved SCAN cursor and counts.</summary>
    public RedisKey StateKey(EntityDescriptor entity) => $"{_layout.KeyPrefix}:archive:backfill:{entity.Name}";

    /// <summary>Runs (or resumes) the backfill. Cancelling stops after the current batch is saved; the report says so.</summary>
    /// <exception cref="ArgumentException">Unknown entity or a SCAN count out of range.</exception>
    public async Task<BackfillReport> RunAsync(BackfillRequest request, IProgress<BackfillProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.ScanCount is < 1 or > 100_000)
        {
            throw new ArgumentException($"SCAN count must be between 1 and 100000 (was {request.ScanCount}).", nameof(request));
        }

        var started = _timeProvider.GetTimestamp();
        var report = new BackfillReport { Entities = [] };
        foreach (var entity in _entities.Resolve(request.Entities))
        {
            var result = new EntityBackfillResult { Entity = entity.Name };
            report.Entities.Add(result);
            if (!await BackfillEntityAsync(entity, request, result, progress, cancellationToken))
            {
                break; // interrupted
            }
        }

        report.DurationMs = _timeProvider.GetElapsedTime(started).TotalMilliseconds;
        return report;
    }

    private async Task<bool> BackfillEntityAsync(
        EntityDescriptor entity, BackfillRequest request, EntityBackfillResult result, IProgress<BackfillProgress>? progress, CancellationToken cancellationToken)
    {
        var database = _redis.GetDatabase();
        var stateKey = StateKey(entity);
        var indexKey = _layout.ChangeIndexKey(entity);
        var prefixLength = Encoding.UTF8.GetByteCount(_layout.RecordKeyPrefix(entity));

        if (request.Restart)
        {
            await _redisCalls.RunAsync(ct => database.KeyDeleteAsync(stateKey).WaitAsync(ct), cancellationToken);
        }

        var state = (await _redisCalls.RunAsync(ct => database.HashGetAllAsync(stateKey).WaitAsync(ct), cancellationToken)).ToDictionary(e => (string)e.Name!, e => e.Value);
        RedisValue cursor = state.GetValueOrDefault("cursor", 0);
        double? minAdded = state.TryGetValue("minScore", out var m) ? (double)m : null;
        result.KeysScanned = (long)state.GetValueOrDefault("scanned", 0);
        result.Indexed = (long)state.GetValueOrDefault("indexed", 0);
        result.AlreadyIndexed = (long)state.GetValueOrDefault("already", 0);
        result.Unparsable = (long)state.GetValueOrDefault("unparsable", 0);
        result.NotHashes = (long)state.GetValueOrDefault("notHashes", 0);
        result.Batches = (long)state.GetValueOrDefault("batches", 0);
        result.Resumed = state.Count > 0;
        if (result.Resumed)
        {
            Log.BackfillResumed(_logger, entity.Name, cursor.ToString(), result.KeysScanned);
        }

        var databaseSize = (long)await _redisCalls.RunAsync(ct => database.ExecuteAsync("DBSIZE").WaitAsync(ct), cancellationToken);
        var started = _timeProvider.GetTimestamp();
        var batchesAtStart = result.Batches;
        var scannedAtStart = result.KeysScanned;
        try
        {
            do
            {
                cancellationToken.ThrowIfCancellationRequested();
                var (next, keys) = await _scanner.ScanAsync(entity, cursor, request.ScanCount, cancellationToken);
                if (keys.Length > 0)
                {
                    var indexedBefore = result.Indexed;
                    // Not through the retry pipeline: the batch counts as it goes. A failure stops backfill, which resumes at the saved cursor.
                    minAdded = await IndexBatchAsync(database, indexKey, keys, prefixLength, result, minAdded, cancellationToken);
                    if (result.Indexed > indexedBefore)
                    {
                        // New index entries are writes: a quiet pass must not skip the overlap they may have landed in.
                        await _redisCalls.RunAsync(ct => database.StringIncrementAsync(_layout.WriteCounterKey(entity)).WaitAsync(ct), cancellationToken); // a retried increment still only says "changed"
                    }
                }

                result.Batches++;
                cursor = next;
                var entries = new List<HashEntry>
                {
                    new("cursor", cursor), new("scanned", result.KeysScanned), new("indexed", result.Indexed), new("already", result.AlreadyIndexed),
                    new("unparsable", result.Unparsable), new("notHashes", result.NotHashes), new("batches", result.Batches),
                };
                if (minAdded is { } min)
                {
                    entries.Add(new("minScore", min));
                }

                await _redisCalls.RunAsync(ct => database.HashSetAsync(stateKey, [.. entries]).WaitAsync(ct), CancellationToken.None);
                progress?.Report(Progress(entity, result, request.ScanCount, databaseSize, result.Batches - batchesAtStart, result.KeysScanned - scannedAtStart, started));
            }
            while (cursor != 0);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Log.BackfillInterrupted(_logger, entity.Name, cursor.ToString());
            return false;
        }

        if (minAdded is { } oldest)
        {
            await RewindCheckpointAsync(entity, oldest, result, cancellationToken);
        }

        if (!result.RewindBlocked)
        {
            await _redisCalls.RunAsync(ct => database.KeyDeleteAsync(stateKey).WaitAsync(ct), cancellationToken);
        }

        result.Completed = true;
        Log.BackfillEntityFinished(_logger, entity.Name, result.KeysScanned, result.Indexed, result.AlreadyIndexed, result.Unparsable, result.NotHashes,
            _timeProvider.GetElapsedTime(started).TotalMilliseconds);
        return true;
    }

    private static async Task<double?> IndexBatchAsync(
        IDatabase database, RedisKey indexKey, RedisKey[] keys, int prefixLength, EntityBackfillResult result, double? minAdded, CancellationToken cancellationToken)
    {
        var types = keys.Select(k => database.KeyTypeAsync(k)).ToArray();
        var updatedAt = keys.Select(k => database.HashGetAsync(k, "updatedAt")).ToArray();
        await Task.WhenAll(types).WaitAsync(cancellationToken);
        var readable = await RedisBatch.WhenAllToleratingWrongTypeAsync(updatedAt, cancellationToken);

        var adds = new List<(Task<bool> Added, double Score)>(keys.Length);
        for (var i = 0; i < keys.Length; i++)
        {
            if (types[i].Result == RedisType.None)
            {
                continue; // deleted since SCAN returned it
            }

            if (types[i].Result != RedisType.Hash || !readable[i])
            {
                result.NotHashes++;
                continue;
            }

            result.KeysScanned++;
            var value = updatedAt[i].Result;
            var score = 0d;
            if (!value.IsNull && RawPayload.TryGetText((byte[])value!, out var text) && TimestampParser.TryParse(text, out var timestamp))
            {
                score = timestamp.ToUnixTimeMilliseconds();
            }
            else
            {
                result.Unparsable++;
            }

            var member = ((byte[])keys[i]!)[prefixLength..];
            adds.Add((database.SortedSetAddAsync(indexKey, member, score, SortedSetWhen.NotExists), score));
        }

        await Task.WhenAll(adds.Select(a => a.Added)).WaitAsync(cancellationToken);
        foreach (var (added, score) in adds)
        {
            if (added.Result)
            {
                result.Indexed++;
                minAdded = minAdded is { } min ? Math.Min(min, score) : score;
            }
            else
            {
                result.AlreadyIndexed++;
            }
        }

        return minAdded;
    }

    private BackfillProgress Progress(
        EntityDescriptor entity, EntityBackfillResult result, int scanCount, long databaseSize, long batchesThisRun, long scannedThisRun, long started)
    {
        var elapsed = _timeProvider.GetElapsedTime(started);
        var visited = Math.Min(databaseSize, result.Batches * (long)scanCount);
        var visitedThisRun = batchesThisRun * (double)scanCount;
        TimeSpan? eta = elapsed.TotalSeconds > 0 && visitedThisRun > 0
            ? TimeSpan.FromSeconds(Math.Max(0, databaseSize - visited) / (visitedThisRun / elapsed.TotalSeconds))
            : null;
        return new BackfillProgress(
            entity.Name, result.KeysScanned, result.Indexed, visited, databaseSize, elapsed,
            elapsed.TotalSeconds > 0 ? scannedThisRun / elapsed.TotalSeconds : 0, eta);
    }

    private async Task RewindCheckpointAsync(EntityDescriptor entity, double oldestAdded, EntityBackfillResult result, CancellationToken cancellationToken)
    {
        // Only when no live pass holds the entity: a pass's page commit would otherwise move the checkpoint forward again.
        var (outcome, from, to) = await _postgresCalls.RunAsync(ct => _checkpoints.RewindAsync(entity, oldestAdded, ct), cancellationToken);
        switch (outcome)
        {
            case RewindOutcome.Blocked:
                result.RewindBlocked = true;
                Log.BackfillRewindBlocked(_logger, entity.Name);
                break;
            case RewindOutcome.Rewound:
                result.CheckpointRewoundTo = to;
                Log.BackfillCheckpointRewound(_logger, entity.Name, from!.Value, to);
                break;
        }
    }
}
