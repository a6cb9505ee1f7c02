using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Resilience;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;
using Npgsql;
using StackExchange.Redis;

namespace NexusArchive.Core.Verification;

/// <summary>
/// Compares Redis and PostgreSQL record by record: presence, and a content hash over the mapped values
/// (<see cref="CanonicalRecord"/>). Memory stays flat however large the data set: both sides stream in chunks.
/// <list type="number">
/// <item>Redis side: <c>SCAN MATCH {prefix}:{entity}:*</c> (never <c>KEYS</c>) — so hashes without an index entry are
/// found too — then per chunk pipelined <c>HGETALL</c> + <c>ZSCORE</c>, and one PostgreSQL round trip that looks the
/// chunk's ids up with <c>WHERE id = ANY($1)</c> together with their open dead letters.</item>
/// <item>PostgreSQL side: keyset pages ordered by id, each page's ids checked with pipelined <c>EXISTS</c>; rows whose
/// hash is gone are "only in PostgreSQL".</item>
/// </list>
/// SCAN order is not sortable cheaply, so this is a chunked lookup rather than a merge-join; each record is classified
/// once (by the Redis pass when it is in Redis, by the PostgreSQL pass otherwise). The Functions app can call
/// <see cref="VerifyAsync"/> on a schedule: it records <c>nexus_archive.verify.gaps</c> per entity.
/// </summary>
public sealed class VerifyService
{
    private readonly IConnectionMultiplexer _redis;
    private readonly NpgsqlDataSource _dataSource;
    private readonly CheckpointStore _checkpoints;
    private readonly DeadLetterStore _deadLetters;
    private readonly RecordKeyScanner _scanner;
    private readonly RedisCalls _redisCalls;
    private readonly PostgresCalls _postgresCalls;
    private readonly IChangeSource _source;
    private readonly RecordMapper _mapper;
    private readonly RedisLayout _layout;
    private readonly SchemaNames _schemas;
    private readonly IOptions<ArchiveOptions> _options;
    private readonly TimeProvider _timeProvider;
    private readonly ArchiveMetrics _metrics;
    private readonly ILogger<VerifyService> _logger;

    internal VerifyService(
        IConnectionMultiplexer redis,
        NpgsqlDataSource dataSource,
        CheckpointStore checkpoints,
        DeadLetterStore deadLetters,
        RecordKeyScanner scanner,
        RedisCalls redisCalls,
        PostgresCalls postgresCalls,
        IChangeSource source,
        RecordMapper mapper,
        RedisLayout layout,
        SchemaNames schemas,
        IOptions<ArchiveOptions> options,
        TimeProvider timeProvider,
        ArchiveMetrics metrics,
        ILogger<VerifyService> logger)
    {
        _redis = redis;
        _dataSource = dataSource;
        _checkpoints = checkpoints;
        _deadLetters = deadLetters;
        _scanner = scanner;
        _redisCalls = redisCalls;
        _postgresCalls = postgresCalls;
        _source = source;
        _mapper = mapper;
        _layout = layout;
        _schemas = schemas;
        _options = options;
        _timeProvider = timeProvider;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>Runs one verify and returns the report; <see cref="VerifyReport.Ok"/> false means a real gap or difference.</summary>
    /// <exception cref="ArgumentException">Unknown entity, both a user and a session, or a batch size out of range.</exception>
    public async Task<VerifyReport> VerifyAsync(VerifyRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.UserId is not null && request.SessionId is not null)
        {
            throw new ArgumentException("Verify either a user or a session, not both.", nameof(request));
        }

        if (request.BatchSize is < 1 or > 100_000)
        {
            throw new ArgumentException($"Batch size must be between 1 and 100000 (was {request.BatchSize}).", nameof(request));
        }

        var scope = request.UserId is { } u ? ArchiveScope.ForUser(u) : request.SessionId is { } s ? ArchiveScope.ForSession(s) : ArchiveScope.All;
        var entities = EntityCatalog.Resolve(request.Entities).Where(scope.Includes).ToList();
        var started = _timeProvider.GetTimestamp();
        var redisNow = await _source.GetServerTimeAsync(cancellationToken);
        var matcher = scope.CreateMatcher();
        await _postgresCalls.RunAsync(ct => PreloadScopeAsync(scope, matcher, ct), cancellationToken);

        var sessionCounts = scope.Kind != ScopeKind.All && entities.Contains(EntityCatalog.Message)
            ? new Dictionary<string, long>(StringComparer.Ordinal)
            : null;
        var report = new VerifyReport { RedisNow = redisNow, Scope = scope, Entities = [] };
        foreach (var entity in entities)
        {
            var result = new EntityVerifyResult { Entity = entity.Name };
            await VerifyRedisSideAsync(entity, scope, matcher, request, redisNow, result, sessionCounts, cancellationToken);
            await VerifyPostgresSideAsync(entity, scope, request, result, cancellationToken);
            report.Entities.Add(result);
            _metrics.RecordVerify(entity.Name, result.Gaps, result.Differences);
            Log.VerifyEntityFinished(
                _logger, entity.Name, result.RedisRecords, result.PostgresRows, result.Counts[VerifyCategory.Equal], result.Differences,
                result.Counts[VerifyCategory.Pending], result.Gaps, result.Counts[VerifyCategory.DeadLettered], result.Counts[VerifyCategory.OnlyInPostgres]);
            if (result.Gaps + result.Differences > 0)
            {
                var example = result.Samples.Where(x => x.Key is VerifyCategory.Gap or VerifyCategory.Unindexed or VerifyCategory.PostgresOlder
                    or VerifyCategory.PostgresNewer or VerifyCategory.ContentDiffers).SelectMany(x => x.Value).FirstOrDefault() ?? "?";
                Log.VerifyFoundProblems(_logger, entity.Name, result.Gaps, result.Differences, example);
            }
        }

        if (sessionCounts is not null)
        {
            var archived = await _postgresCalls.RunAsync(ct => CountMessagesPerSessionAsync(scope, ct), cancellationToken);
            report.SessionMessageCounts.AddRange(sessionCounts.Keys.Union(archived.Keys, StringComparer.Ordinal)
                .Order(StringComparer.Ordinal)
                .Select(id => new SessionMessageCount(id, sessionCounts.GetValueOrDefault(id), archived.GetValueOrDefault(id))));
        }

        report.DurationMs = _timeProvider.GetElapsedTime(started).TotalMilliseconds;
        return report;
    }

    private async Task VerifyRedisSideAsync(
        EntityDescriptor entity,
        ArchiveScope scope,
        ScopeMatcher matcher,
        VerifyRequest request,
        DateTimeOffset redisNow,
        EntityVerifyResult result,
        Dictionary<string, long>? sessionCounts,
        CancellationToken cancellationToken)
    {
        var settings = _options.Value;
        var checkpoint = await _postgresCalls.RunAsync(ct => _checkpoints.ReadAsync(entity, ct), cancellationToken); // null = never archived: nothing is due yet
        var latestAllowed = redisNow + settings.FutureTolerance;
        var settleBound = (double)(redisNow - settings.SettleWindow).ToUnixTimeMilliseconds();
        var database = _redis.GetDatabase();
        var prefixLength = Encoding.UTF8.GetByteCount(_layout.RecordKeyPrefix(entity));
        var updatedAt = ArchivedRows.IndexOf(entity, "updated_at");
        var indexKey = _layout.ChangeIndexKey(entity);

        RedisValue cursor = 0;
        do
        {
            cancellationToken.ThrowIfCancellationRequested();
            (cursor, var keys) = await _scanner.ScanAsync(entity, cursor, request.BatchSize, cancellationToken);
            if (keys.Length == 0)
            {
                continue;
            }

            var members = keys.Select(k => ((byte[])k!)[prefixLength..]).ToArray();
            var (hashes, scores, isHash) = await _redisCalls.RunAsync(
                async ct =>
                {
                    var hashes = keys.Select(k => database.HashGetAllAsync(k)).ToArray();
                    var scores = members.Select(m => database.SortedSetScoreAsync(indexKey, m)).ToArray();
                    var isHash = await RedisBatch.WhenAllToleratingWrongTypeAsync(hashes, ct);
                    await Task.WhenAll(scores).WaitAsync(ct);
                    return (hashes, scores, isHash);
                },
                cancellationToken);

            var chunk = new List<(string Id, byte[] Member, double? Score, object?[]? Values)>(keys.Length);
            for (var i = 0; i < keys.Length; i++)
            {
                var fields = isHash[i] ? hashes[i].Result : [];
                if (fields.Length == 0)
                {
                    continue; // not a hash, or deleted since SCAN returned it
                }

                var id = Encoding.UTF8.GetString(members[i]);
                string? Field(string name) => fields.FirstOrDefault(f => f.Name == name).Value is { IsNull: false } v ? (string?)v : null;
                if (!matcher.Matches(entity, id, Field))
                {
                    continue;
                }

                var score = scores[i].Result;
                var (row, _) = _mapper.Map(entity, new SourceRecord(new ChangeEntry(members[i], score ?? 0), fields), latestAllowed);
                chunk.Add((id, members[i], score, row?.Values));
                if (sessionCounts is not null && entity == EntityCatalog.Message && Field("sessionId") is { } sessionId)
                {
                    sessionCounts[sessionId] = sessionCounts.GetValueOrDefault(sessionId) + 1;
                }
            }

            if (chunk.Count == 0)
            {
                continue;
            }

            result.RedisRecords += chunk.Count;
            var (rows, deadLettered) = await _postgresCalls.RunAsync(
                ct => LookUpAsync(entity, chunk.Select(c => c.Id).ToArray(), chunk.Select(c => c.Member).ToArray(), ct), cancellationToken);
            foreach (var (id, member, score, values) in chunk)
            {
                var row = rows.GetValueOrDefault(id);
                var facts = new RecordFacts(
                    InPostgres: row is not null,
                    RedisHash: values is null ? null : CanonicalRecord.Hash(entity, values),
                    PostgresHash: row is null ? null : CanonicalRecord.Hash(entity, row),
                    RedisUpdatedUs: values?[updatedAt] is DateTime r ? CanonicalRecord.Microseconds(r) : null,
                    PostgresUpdatedUs: row?[updatedAt] is DateTime p ? CanonicalRecord.Microseconds(p) : null,
                    Indexed: score is not null,
                    Due: score is { } s && checkpoint is { } c && c.CompareEntry(s, member) <= 0 && s <= settleBound,
                    DeadLettered: deadLettered.Contains(member));
                result.Add(VerifyClassifier.Classify(facts), id, request.SamplesPerCategory);
            }
        }
        while (cursor != 0);
    }

    private async Task VerifyPostgresSideAsync(
        EntityDescriptor entity, ArchiveScope scope, VerifyRequest request, EntityVerifyResult result, CancellationToken cancellationToken)
    {
        var database = _redis.GetDatabase();
        await foreach (var rows in ArchivedRows.PagesAsync(_dataSource, _postgresCalls, entity, _schemas, scope, request.BatchSize, idsOnly: true, cancellationToken))
        {
            var ids = rows.Select(r => (string)r[0]!).ToList();
            result.PostgresRows += ids.Count;
            var exists = await _redisCalls.RunAsync(
                async ct =>
                {
                    var exists = ids.Select(id => database.KeyExistsAsync(_layout.RecordKey(entity, id))).ToArray();
                    await Task.WhenAll(exists).WaitAsync(ct);
                    return exists;
                },
                cancellationToken);
            for (var i = 0; i < ids.Count; i++)
            {
                if (!exists[i].Result)
                {
                    result.Add(VerifyCategory.OnlyInPostgres, ids[i], request.SamplesPerCategory);
                }
            }
        }
    }

    private async Task<(Dictionary<string, object?[]> Rows, HashSet<byte[]> DeadLettered)> LookUpAsync(
        EntityDescriptor entity, string[] ids, byte[][] members, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand($"SELECT {ArchivedRows.ColumnList(entity)} FROM {ArchivedRows.Table(entity, _schemas)} WHERE id = ANY($1)")
                {
                    Parameters = { new() { Value = ids } },
                },
                _deadLetters.DeadLetteredAmongCommand(entity, members),
            },
        };
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        var rows = new Dictionary<string, object?[]>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            var values = ArchivedRows.Read(reader, entity);
            rows[(string)values[0]!] = values;
        }

        await reader.NextResultAsync(cancellationToken);
        return (rows, await DeadLetterStore.ReadMembersAsync(reader, cancellationToken));
    }

    /// <summary>
    /// Loads from the archive the ids of every in-scope entity that other entities hang off (a user's sessions and
    /// messages, a session's messages), so a Redis child whose parent exists only in the archive is still matched.
    /// </summary>
    private async Task PreloadScopeAsync(ArchiveScope scope, ScopeMatcher matcher, CancellationToken cancellationToken)
    {
        if (scope.Root is not { } root)
        {
            return;
        }

        var parents = EntityCatalog.All
            .Where(e => e != root && scope.Includes(e) && EntityCatalog.All.Any(child => child.Parents.Values.Contains(e.Name)))
            .ToList();
        foreach (var entity in parents)
        {
            var ids = new List<string>();
            await using var command = _dataSource.CreateCommand(
                $"SELECT id FROM {ArchivedRows.Table(entity, _schemas)} WHERE {scope.SqlFilter(entity, _schemas, "$1")}");
            command.Parameters.Add(new() { Value = scope.Id! });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                ids.Add(reader.GetString(0));
            }

            matcher.AddKnown(entity, ids);
        }
    }

    private async Task<Dictionary<string, long>> CountMessagesPerSessionAsync(ArchiveScope scope, CancellationToken cancellationToken)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var command = _dataSource.CreateCommand(
            $"SELECT session_id, count(*) FROM {ArchivedRows.Table(EntityCatalog.Message, _schemas)} WHERE {scope.SqlFilter(EntityCatalog.Message, _schemas, "$1")} GROUP BY session_id");
        command.Parameters.Add(new() { Value = scope.Id! });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            counts[reader.GetString(0)] = reader.GetInt64(1);
        }

        return counts;
    }
}
