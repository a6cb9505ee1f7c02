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

    /// <summary>The checkpoint score the entity was rewound to, when backfill indexed records behind it (a sharded entity: the lowest of its streams').</summary>
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
/// it rewinds the checkpoint to just before the oldest of them so the next pass reads them. A sharded entity
/// (docs/scaling.md): a hash counts as indexed when any stream its id can sit in holds it; a missing entry goes to the
/// stream writes of the id go to now, and each stream's checkpoint is rewound on its own.
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
        var prefixLength = Encoding.UTF8.GetByteCount(_layout.RecordKeyPrefix(entity));

        if (request.Restart)
        {
            await _redisCalls.RunAsync(ct => database.KeyDeleteAsync(stateKey).WaitAsync(ct), cancellationToken);
        }

        var state = (await _redisCalls.RunAsync(ct => database.HashGetAllAsync(stateKey).WaitAsync(ct), cancellationToken)).ToDictionary(e => (string)e.Name!, e => e.Value);
        RedisValue cursor = state.GetValueOrDefault("cursor", 0);
        // The oldest score added per change stream (docs/scaling.md): field minScore for the unsharded stream,
        // minScore:3of4 for a shard; each stream's checkpoint is rewound on its own.
        var shards = await _redisCalls.RunAsync(ct => ShardLayout.ReadAsync(database, _layout, ct), cancellationToken);
        var minAdded = new Dictionary<string, (EntityDescriptor Stream, double Score)>(StringComparer.Ordinal);
        foreach (var stream in shards.StreamsOf(entity))
        {
            if (state.TryGetValue(MinScoreField(stream), out var m))
            {
                minAdded[stream.FeedName] = (stream, (double)m);
            }
        }

        foreach (var (field, value) in state.Where(f => f.Key.StartsWith(MinScoreField(entity) + ":", StringComparison.Ordinal)))
        {
            if (ChangeShard.TryParse(field[(MinScoreField(entity).Length + 1)..], out var shard) && !minAdded.ContainsKey($"{entity.Name}.{shard.Label}"))
            {
                var stream = entity.ForShard(shard.Index, shard.Count);
                minAdded[stream.FeedName] = (stream, (double)value); // saved under a layout that has changed since: still rewind it
            }
        }
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
                    // Not through the retry pipeline: the batch counts as it goes. A failure stops backfill, which resumes at the saved cursor.
                    var added = await IndexBatchAsync(database, entity, shards, keys, prefixLength, result, minAdded, cancellationToken);
                    foreach (var stream in added)
                    {
                        // New index entries are writes: a quiet pass must not skip the overlap they may have landed in.
                        await _redisCalls.RunAsync(ct => database.StringIncrementAsync(_layout.WriteCounterKey(stream)).WaitAsync(ct), cancellationToken); // a retried increment still only says "changed"
                    }
                }

                result.Batches++;
                cursor = next;
                var entries = new List<HashEntry>
                {
                    new("cursor", cursor), new("scanned", result.KeysScanned), new("indexed", result.Indexed), new("already", result.AlreadyIndexed),
                    new("unparsable", result.Unparsable), new("notHashes", result.NotHashes), new("batches", result.Batches),
                };
                entries.AddRange(minAdded.Values.Select(a => new HashEntry(MinScoreField(a.Stream), a.Score)));

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

        foreach (var (stream, oldest) in minAdded.Values)
        {
            await RewindCheckpointAsync(stream, oldest, result, cancellationToken);
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

    /// <summary>
    /// Indexes the batch's hashes that no index of the entity holds: each in the stream writes of its id go to now
    /// (<see cref="ShardLayout.StreamOf"/>), with <c>ZADD NX</c>. Returns the streams that gained entries.
    /// </summary>
    private async Task<HashSet<EntityDescriptor>> IndexBatchAsync(
        IDatabase database, EntityDescriptor entity, ShardLayout shards, RedisKey[] keys, int prefixLength, EntityBackfillResult result,
        Dictionary<string, (EntityDescriptor Stream, double Score)> minAdded, CancellationToken cancellationToken)
    {
        var types = keys.Select(k => database.KeyTypeAsync(k)).ToArray();
        var updatedAt = keys.Select(k => database.HashGetAsync(k, "updatedAt")).ToArray();
        await Task.WhenAll(types).WaitAsync(cancellationToken);
        var readable = await RedisBatch.WhenAllToleratingWrongTypeAsync(updatedAt, cancellationToken);

        var candidates = new List<(byte[] Member, double Score, IReadOnlyList<EntityDescriptor> Streams)>(keys.Length);
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
            candidates.Add((member, score, shards.StreamsHolding(entity, member)));
        }

        // A sharded entity: an entry in any of the id's streams (its shard, the unsharded stream, its shard of the layout
        // being drained) counts as indexed. The first of them is where writes of the id go now, and where ZADD NX adds it.
        var elsewhere = await Task.WhenAll(candidates.Select(c => Task.WhenAll(
            c.Streams.Skip(1).Select(s => database.SortedSetScoreAsync(_layout.ChangeIndexKey(s), c.Member))))).WaitAsync(cancellationToken);
        var adds = new List<(Task<bool> Added, double Score, EntityDescriptor Stream)>(candidates.Count);
        for (var i = 0; i < candidates.Count; i++)
        {
            var (member, score, streams) = candidates[i];
            if (elsewhere[i].Any(s => s is not null))
            {
                result.AlreadyIndexed++;
                continue;
            }

            adds.Add((database.SortedSetAddAsync(_layout.ChangeIndexKey(streams[0]), member, score, SortedSetWhen.NotExists), score, streams[0]));
        }

        await Task.WhenAll(adds.Select(a => a.Added)).WaitAsync(cancellationToken);
        var gained = new HashSet<EntityDescriptor>();
        foreach (var (added, score, stream) in adds)
        {
            if (added.Result)
            {
                result.Indexed++;
                minAdded[stream.FeedName] = (stream, minAdded.TryGetValue(stream.FeedName, out var min) ? Math.Min(min.Score, score) : score);
                gained.Add(stream);
            }
            else
            {
                result.AlreadyIndexed++;
            }
        }

        return gained;
    }

    /// <summary>The state field holding the oldest score added to a stream: <c>minScore</c>, or <c>minScore:3of4</c> for a shard.</summary>
    private static string MinScoreField(EntityDescriptor stream) => stream.Shard is { } shard ? $"minScore:{shard.Label}" : "minScore";

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

    private async Task RewindCheckpointAsync(EntityDescriptor stream, double oldestAdded, EntityBackfillResult result, CancellationToken cancellationToken)
    {
        // Only when no live pass holds the stream: a pass's page commit would otherwise move the checkpoint forward again.
        var (outcome, from, to) = await _postgresCalls.RunAsync(ct => _checkpoints.RewindAsync(stream, oldestAdded, ct), cancellationToken);
        switch (outcome)
        {
            case RewindOutcome.Blocked:
                result.RewindBlocked = true;
                Log.BackfillRewindBlocked(_logger, stream.FeedName);
                break;
            case RewindOutcome.Rewound:
                result.CheckpointRewoundTo = Math.Min(result.CheckpointRewoundTo ?? to, to); // a sharded entity: the lowest of its streams'
                Log.BackfillCheckpointRewound(_logger, stream.FeedName, from!.Value, to);
                break;
        }
    }
}
