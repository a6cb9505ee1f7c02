using Microsoft.Extensions.Logging;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Resilience;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Source;
using StackExchange.Redis;

namespace NexusArchive.Core.Verification;

/// <summary>
/// Compares Redis and PostgreSQL record by record: presence, and a content hash over the mapped values
/// (<see cref="CanonicalRecord"/>). Memory stays flat however large the data set: both sides stream in chunks.
/// <list type="number">
/// <item>Redis side: <c>SCAN MATCH {prefix}:{entity}:*</c> (never <c>KEYS</c>) — so hashes without an index entry are
/// found too — then per chunk the classification shared with the incremental verify (<see cref="RecordChecker"/>):
/// pipelined <c>HGETALL</c> + <c>ZSCORE</c>, and one PostgreSQL round trip that looks the chunk's ids up with
/// <c>WHERE id = ANY($1)</c> together with their open dead letters.</item>
/// <item>PostgreSQL side: keyset pages ordered by id, each page's ids checked with pipelined <c>EXISTS</c>; rows whose
/// hash is gone are "only in PostgreSQL".</item>
/// </list>
/// SCAN order is not sortable cheaply, so this is a chunked lookup rather than a merge-join; each record is classified
/// once (by the Redis pass when it is in Redis, by the PostgreSQL pass otherwise). Every verify is recorded in
/// <c>{bookkeeping}.verifications</c> and records <c>nexus_archive.verify.gaps</c> per entity. A full verify reads
/// everything; the bounded check to run on a schedule is <see cref="IncrementalVerifyService"/>.
/// </summary>
public sealed class VerifyService
{
    private readonly EntityCatalog _entities;
    private readonly RedisAccess _redis;
    private readonly PostgresAccess _postgres;
    private readonly RecordChecker _checker;
    private readonly RecordKeyScanner _scanner;
    private readonly IChangeSource _source;
    private readonly VerificationRecorder _recorder;
    private readonly OffloadLedger _offloads;
    private readonly TimeProvider _timeProvider;
    private readonly ArchiveMetrics _metrics;
    private readonly ILogger<VerifyService> _logger;

    internal VerifyService(
        EntityCatalog entities,
        RedisAccess redis,
        PostgresAccess postgres,
        RecordChecker checker,
        RecordKeyScanner scanner,
        IChangeSource source,
        VerificationRecorder recorder,
        OffloadLedger offloads,
        TimeProvider timeProvider,
        ArchiveMetrics metrics,
        ILogger<VerifyService> logger)
    {
        _entities = entities;
        _redis = redis;
        _postgres = postgres;
        _checker = checker;
        _scanner = scanner;
        _source = source;
        _recorder = recorder;
        _offloads = offloads;
        _timeProvider = timeProvider;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>
    /// Runs one verify, records it in <c>{bookkeeping}.verifications</c> (kind <c>full</c>) and returns the report;
    /// <see cref="VerifyReport.Ok"/> false means a real gap or difference. Infrastructure errors are recorded as a failed
    /// verification and thrown.
    /// </summary>
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
        var entities = _entities.Resolve(request.Entities).Where(scope.Includes).ToList();
        var started = _timeProvider.GetTimestamp();
        var record = new VerificationRecord
        {
            Kind = VerificationKinds.Full,
            Trigger = request.Trigger,
            Scope = scope.Kind == ScopeKind.All ? null : $"{scope.Kind.ToString().ToLowerInvariant()} {scope.Id}",
            StartedAt = _timeProvider.GetUtcNow(),
        };
        await _recorder.StartAsync(record, cancellationToken);

        VerifyReport report;
        try
        {
            report = await VerifyAsync(request, scope, entities, record.Id, cancellationToken);
        }
        catch (Exception ex)
        {
            await _recorder.FailAsync(record, started, ex, _logger);
            throw;
        }

        report.DurationMs = _timeProvider.GetElapsedTime(started).TotalMilliseconds;
        record.Entities = report.Entities;
        foreach (var result in report.Entities)
        {
            record.Add(result);
        }

        await _recorder.SucceedAsync(record, started, _logger);
        return report;
    }

    private async Task<VerifyReport> VerifyAsync(
        VerifyRequest request, ArchiveScope scope, List<EntityDescriptor> entities, long verificationId, CancellationToken cancellationToken)
    {
        var redisNow = await _source.GetServerTimeAsync(cancellationToken);
        var matcher = scope.CreateMatcher();
        await _postgres.Calls.RunAsync(ct => PreloadScopeAsync(scope, matcher, ct), cancellationToken);

        var sessionCounts = scope.Kind != ScopeKind.All && entities.Contains(EntityCatalog.Message)
            ? new Dictionary<string, long>(StringComparer.Ordinal)
            : null;
        var report = new VerifyReport { VerificationId = verificationId, RedisNow = redisNow, Scope = scope, Entities = [] };
        foreach (var entity in entities)
        {
            var result = new EntityVerifyResult { Entity = entity.Name };
            await VerifyRedisSideAsync(entity, matcher, request, redisNow, result, sessionCounts, cancellationToken);
            await VerifyPostgresSideAsync(entity, scope, request, result, cancellationToken);
            report.Entities.Add(result);
            _metrics.RecordVerify(entity.Name, result.Gaps, result.Differences);
            Log.VerifyEntityFinished(
                _logger, entity.Name, result.RedisRecords, result.PostgresRows, result.Counts[VerifyCategory.Equal], result.Differences,
                result.Counts[VerifyCategory.Pending], result.Gaps, result.Counts[VerifyCategory.DeadLettered], result.Counts[VerifyCategory.OnlyInPostgres]);
            if (result.Gaps + result.Differences > 0)
            {
                Log.VerifyFoundProblems(_logger, entity.Name, result.Gaps, result.Differences, result.ProblemSamples().FirstOrDefault() ?? "?");
            }
        }

        if (sessionCounts is not null)
        {
            var archived = await _postgres.Calls.RunAsync(ct => CountMessagesPerSessionAsync(scope, ct), cancellationToken);
            report.SessionMessageCounts.AddRange(sessionCounts.Keys.Union(archived.Keys, StringComparer.Ordinal)
                .Order(StringComparer.Ordinal)
                .Select(id => new SessionMessageCount(id, sessionCounts.GetValueOrDefault(id), archived.GetValueOrDefault(id))));
        }

        return report;
    }

    private async Task VerifyRedisSideAsync(
        EntityDescriptor entity,
        ScopeMatcher matcher,
        VerifyRequest request,
        DateTimeOffset redisNow,
        EntityVerifyResult result,
        Dictionary<string, long>? sessionCounts,
        CancellationToken cancellationToken)
    {
        var due = await _checker.ReadDueRuleAsync(entity, redisNow, cancellationToken);
        bool InScope(string id, Func<string, string?> field)
        {
            if (!matcher.Matches(entity, id, field))
            {
                return false;
            }

            if (sessionCounts is not null && entity == EntityCatalog.Message && field("sessionId") is { } sessionId)
            {
                sessionCounts[sessionId] = sessionCounts.GetValueOrDefault(sessionId) + 1;
            }

            return true;
        }

        RedisValue cursor = 0;
        do
        {
            cancellationToken.ThrowIfCancellationRequested();
            (cursor, var keys) = await _scanner.ScanAsync(entity, cursor, request.BatchSize, cancellationToken);
            var members = _checker.MembersOf(entity, keys);
            await _checker.CheckAsync(entity, members, due, result, request.SamplesPerCategory, InScope, cancellationToken);
        }
        while (cursor != 0);
    }

    private async Task VerifyPostgresSideAsync(
        EntityDescriptor entity, ArchiveScope scope, VerifyRequest request, EntityVerifyResult result, CancellationToken cancellationToken)
    {
        var database = _redis.Connection.GetDatabase();
        // Rows only in PostgreSQL are expected either way; those of an offloaded session are told apart (flag column).
        await foreach (var rows in ArchivedRows.FlaggedIdPagesAsync(_postgres, entity, scope, request.BatchSize, _offloads.BelongsToOffloadedSql(entity), cancellationToken))
        {
            var ids = rows.Select(r => r.Id).ToList();
            result.PostgresRows += ids.Count;
            var exists = await _redis.Calls.RunAsync(
                async ct =>
                {
                    var exists = ids.Select(id => database.KeyExistsAsync(_redis.Layout.RecordKey(entity, id))).ToArray();
                    await Task.WhenAll(exists).WaitAsync(ct);
                    return exists;
                },
                cancellationToken);
            for (var i = 0; i < ids.Count; i++)
            {
                if (!exists[i].Result)
                {
                    result.Add(rows[i].Flag ? VerifyCategory.Offloaded : VerifyCategory.OnlyInPostgres, ids[i], request.SamplesPerCategory);
                }
            }
        }

        // An offloaded session's rows are its only copy: fewer now than when it left Redis is the worst gap there is.
        foreach (var shortfall in await _postgres.Calls.RunAsync(ct => _offloads.ShortfallsAsync(entity, scope, ct), cancellationToken))
        {
            result.Add(VerifyCategory.OffloadedMissing, $"session {shortfall.SessionId} ({shortfall.Archived} of {shortfall.Recorded} archived)",
                request.SamplesPerCategory, shortfall.Recorded - shortfall.Archived);
        }
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

        var parents = _entities.All
            .Where(e => e != root && scope.Includes(e) && _entities.All.Any(child => child.Parents.Values.Contains(e.Name)))
            .ToList();
        foreach (var entity in parents)
        {
            var ids = new List<string>();
            await using var command = _postgres.DataSource.CreateCommand(
                $"SELECT id FROM {ArchivedRows.Table(entity, _postgres.Schemas)} WHERE {scope.SqlFilter(entity, _postgres.Schemas, "$1")}");
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
        await using var command = _postgres.DataSource.CreateCommand(
            $"SELECT session_id, count(*) FROM {ArchivedRows.Table(EntityCatalog.Message, _postgres.Schemas)} WHERE {scope.SqlFilter(EntityCatalog.Message, _postgres.Schemas, "$1")} GROUP BY session_id");
        command.Parameters.Add(new() { Value = scope.Id! });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            counts[reader.GetString(0)] = reader.GetInt64(1);
        }

        return counts;
    }
}
