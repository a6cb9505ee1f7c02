using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Configuration;
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
public sealed class VerifyService(
    IConnectionMultiplexer redis,
    NpgsqlDataSource dataSource,
    IChangeSource source,
    RecordMapper mapper,
    RedisLayout layout,
    SchemaNames schemas,
    IOptions<ArchiveOptions> options,
    TimeProvider timeProvider,
    ArchiveMetrics metrics,
    ILogger<VerifyService> logger)
{
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
        var started = timeProvider.GetTimestamp();
        var redisNow = await source.GetServerTimeAsync(cancellationToken);
        var matcher = scope.CreateMatcher();
        await PreloadScopeAsync(scope, matcher, cancellationToken);

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
            metrics.RecordVerify(entity.Name, result.Gaps, result.Differences);
            Log.VerifyEntityFinished(
                logger, entity.Name, result.RedisRecords, result.PostgresRows, result.Counts[VerifyCategory.Equal], result.Differences,
                result.Counts[VerifyCategory.Pending], result.Gaps, result.Counts[VerifyCategory.DeadLettered], result.Counts[VerifyCategory.OnlyInPostgres]);
            if (result.Gaps + result.Differences > 0)
            {
                var example = result.Samples.Where(x => x.Key is VerifyCategory.Gap or VerifyCategory.Unindexed or VerifyCategory.PostgresOlder
                    or VerifyCategory.PostgresNewer or VerifyCategory.ContentDiffers).SelectMany(x => x.Value).FirstOrDefault() ?? "?";
                Log.VerifyFoundProblems(logger, entity.Name, result.Gaps, result.Differences, example);
            }
        }

        if (sessionCounts is not null)
        {
            var archived = await CountMessagesPerSessionAsync(scope, cancellationToken);
            report.SessionMessageCounts.AddRange(sessionCounts.Keys.Union(archived.Keys, StringComparer.Ordinal)
                .Order(StringComparer.Ordinal)
                .Select(id => new SessionMessageCount(id, sessionCounts.GetValueOrDefault(id), archived.GetValueOrDefault(id))));
        }

        report.DurationMs = timeProvider.GetElapsedTime(started).TotalMilliseconds;
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
        var settings = options.Value;
        var checkpoint = await ReadCheckpointAsync(entity, cancellationToken);
        var latestAllowed = redisNow + settings.FutureTolerance;
        var settleBound = (double)(redisNow - settings.SettleWindow).ToUnixTimeMilliseconds();
        var database = redis.GetDatabase();
        var prefixLength = Encoding.UTF8.GetByteCount(layout.RecordKeyPrefix(entity));
        var pattern = layout.RecordKeyPrefix(entity) + "*";
        var updatedAt = ArchivedRows.IndexOf(entity, "updated_at");
        var indexKey = layout.ChangeIndexKey(entity);

        RedisValue cursor = 0;
        do
        {
            cancellationToken.ThrowIfCancellationRequested();
            var scan = (RedisResult[])(await database.ExecuteAsync("SCAN", cursor, "MATCH", pattern, "COUNT", request.BatchSize).WaitAsync(cancellationToken))!;
            cursor = (RedisValue)scan[0];
            var keys = (RedisKey[])scan[1]!;
            if (keys.Length == 0)
            {
                continue;
            }

            var members = keys.Select(k => ((byte[])k!)[prefixLength..]).ToArray();
            var hashes = keys.Select(k => database.HashGetAllAsync(k)).ToArray();
            var scores = members.Select(m => database.SortedSetScoreAsync(indexKey, m)).ToArray();
            var isHash = await RedisBatch.WhenAllToleratingWrongTypeAsync(hashes, cancellationToken);
            await Task.WhenAll(scores).WaitAsync(cancellationToken);

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
                var (row, _) = mapper.Map(entity, new SourceRecord(new ChangeEntry(members[i], score ?? 0), fields), latestAllowed);
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
            var (rows, deadLettered) = await LookUpAsync(entity, chunk.Select(c => c.Id).ToArray(), chunk.Select(c => c.Member).ToArray(), cancellationToken);
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
        var database = redis.GetDatabase();
        await foreach (var rows in ArchivedRows.PagesAsync(dataSource, entity, schemas, scope, request.BatchSize, idsOnly: true, cancellationToken))
        {
            var ids = rows.Select(r => (string)r[0]!).ToList();
            result.PostgresRows += ids.Count;
            var exists = ids.Select(id => database.KeyExistsAsync(layout.RecordKey(entity, id))).ToArray();
            await Task.WhenAll(exists).WaitAsync(cancellationToken);
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
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand($"SELECT {ArchivedRows.ColumnList(entity)} FROM {ArchivedRows.Table(entity, schemas)} WHERE id = ANY($1)")
                {
                    Parameters = { new() { Value = ids } },
                },
                new NpgsqlBatchCommand(
                    $"SELECT member FROM {schemas.Bookkeeping}.dead_letters WHERE entity = $1 AND status IN ('open', 'discarded') AND member = ANY($2)")
                {
                    Parameters = { new() { Value = entity.Name }, new() { Value = members } },
                },
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
        var deadLettered = new HashSet<byte[]>(ByteArrayComparer.Instance);
        while (await reader.ReadAsync(cancellationToken))
        {
            deadLettered.Add((byte[])reader[0]);
        }

        return (rows, deadLettered);
    }

    private async Task<ChangeCursor?> ReadCheckpointAsync(EntityDescriptor entity, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"SELECT score, member FROM {schemas.Bookkeeping}.checkpoints WHERE entity = $1");
        command.Parameters.Add(new() { Value = entity.Name });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken) || reader.IsDBNull(0))
        {
            return null; // never archived: nothing is due yet
        }

        return new ChangeCursor(reader.GetDouble(0), reader.IsDBNull(1) ? [] : (byte[])reader[1]);
    }

    private async Task PreloadScopeAsync(ArchiveScope scope, ScopeMatcher matcher, CancellationToken cancellationToken)
    {
        var sql = scope.Kind switch
        {
            ScopeKind.User => $"SELECT id FROM {schemas.Target}.chat_sessions WHERE user_id = $1",
            ScopeKind.Session => $"SELECT id FROM {schemas.Target}.messages WHERE session_id = $1",
            _ => null,
        };
        if (sql is null)
        {
            return;
        }

        var ids = new List<string>();
        await using (var command = dataSource.CreateCommand(sql))
        {
            command.Parameters.Add(new() { Value = scope.Id! });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                ids.Add(reader.GetString(0));
            }
        }

        if (scope.Kind == ScopeKind.User)
        {
            matcher.AddKnownSessions(ids);
        }
        else
        {
            matcher.AddKnownMessages(ids);
        }
    }

    private async Task<Dictionary<string, long>> CountMessagesPerSessionAsync(ArchiveScope scope, CancellationToken cancellationToken)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var command = dataSource.CreateCommand(
            $"SELECT session_id, count(*) FROM {ArchivedRows.Table(EntityCatalog.Message, schemas)} WHERE {scope.SqlFilter(EntityCatalog.Message, schemas, "$1")} GROUP BY session_id");
        command.Parameters.Add(new() { Value = scope.Id! });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            counts[reader.GetString(0)] = reader.GetInt64(1);
        }

        return counts;
    }
}
