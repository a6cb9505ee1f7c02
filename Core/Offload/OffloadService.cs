using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Resilience;
using NexusArchive.Core.Source;
using NexusArchive.Core.Verification;
using Npgsql;
using StackExchange.Redis;

namespace NexusArchive.Core.Offload;

/// <summary>
/// Cold storage: removes whole chat sessions (the session hash, its messages, their attachment references) from Redis
/// once they have been idle for <c>Archive:Offload:After</c> and the archive provably holds every record at exactly
/// the version Redis holds. The proof is the verify's own classification (<see cref="RecordChecker"/>: same
/// <c>updatedAt</c>, same content hash, due, no open dead letter); the removal is one Lua script per session
/// (<c>offload-session.lua</c>) that removes nothing when a write reached the session after the check, and leaves the
/// marker <c>{prefix}:offloaded:{userId}</c> the app reads. docs/offload.md has the rules.
/// </summary>
public sealed class OffloadService
{
    private static readonly EntityDescriptor[] s_sessionEntities = [EntityCatalog.Session, EntityCatalog.Message, EntityCatalog.Attachment];

    private readonly RedisAccess _redis;
    private readonly PostgresAccess _postgres;
    private readonly RecordChecker _checker;
    private readonly OffloadLedger _ledger;
    private readonly DeadLetterStore _deadLetters;
    private readonly IChangeSource _source;
    private readonly IOptions<OffloadOptions> _options;
    private readonly IOptions<Configuration.ArchiveOptions> _archiveOptions;
    private readonly TimeProvider _timeProvider;
    private readonly ArchiveMetrics _metrics;
    private readonly ILogger<OffloadService> _logger;
    private readonly PendingRecords _pending;

    internal OffloadService(
        RedisAccess redis,
        PostgresAccess postgres,
        RecordChecker checker,
        OffloadLedger ledger,
        DeadLetterStore deadLetters,
        IChangeSource source,
        IOptions<OffloadOptions> options,
        IOptions<Configuration.ArchiveOptions> archiveOptions,
        TimeProvider timeProvider,
        ArchiveMetrics metrics,
        ILogger<OffloadService> logger,
        PendingRecords pending)
    {
        _redis = redis;
        _postgres = postgres;
        _checker = checker;
        _ledger = ledger;
        _deadLetters = deadLetters;
        _source = source;
        _options = options;
        _archiveOptions = archiveOptions;
        _timeProvider = timeProvider;
        _metrics = metrics;
        _logger = logger;
        _pending = pending;
    }

    /// <summary>
    /// Test seam: runs after the check and before the removal of each batch, with the session ids about to be removed,
    /// so a test can put a write exactly into the race window the removal script must close.
    /// </summary>
    internal Func<IReadOnlyList<string>, Task>? BeforeRemoveForTests { get; set; }

    /// <summary>
    /// Runs one offload (or a dry run), records it in <c>{bookkeeping}.offload_runs</c> and returns the report.
    /// Infrastructure errors are recorded as a failed run and thrown; sessions already removed stay offloaded.
    /// </summary>
    public async Task<OffloadReport> OffloadAsync(OffloadRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Limit is < 1)
        {
            throw new ArgumentException($"Limit must be at least 1 (was {request.Limit}).", nameof(request));
        }

        var settings = _options.Value;
        var started = _timeProvider.GetTimestamp();
        var redisNow = await _source.GetServerTimeAsync(cancellationToken);
        var report = new OffloadReport
        {
            RunId = Guid.NewGuid(),
            Trigger = request.Trigger,
            DryRun = request.DryRun,
            Cutoff = redisNow - settings.After,
            StartedAt = _timeProvider.GetUtcNow(),
        };
        await _postgres.Calls.RunAsync(ct => _ledger.StartRunAsync(report, ct), cancellationToken);
        Log.OffloadStarted(_logger, report.RunId, request.DryRun ? " (dry run)" : string.Empty, report.Cutoff);
        try
        {
            await RunAsync(request, report, redisNow, started, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            report.Status = OffloadStatus.Partial;
            report.RefusedBecause = "cancelled";
        }
        catch (Exception ex)
        {
            report.Status = OffloadStatus.Failed;
            report.RefusedBecause = ErrorText.Describe(ex);
            await FinishAsync(report, started);
            throw;
        }

        await FinishAsync(report, started);
        return report;
    }

    private async Task RunAsync(OffloadRequest request, OffloadReport report, DateTimeOffset redisNow, long started, CancellationToken cancellationToken)
    {
        var settings = _options.Value;
        var database = _redis.Connection.GetDatabase();
        var shards = await _redis.Calls.RunAsync(ct => ShardLayout.ReadAsync(database, _redis.Layout, ct), cancellationToken);
        var (blocked, refusal) = await ReadBlockedAsync(settings, shards, cancellationToken);
        if (refusal is not null)
        {
            report.Status = OffloadStatus.Refused;
            report.RefusedBecause = refusal;
            return;
        }

        var after = string.Empty;
        while (true)
        {
            if (_timeProvider.GetElapsedTime(started) > settings.TimeBudget)
            {
                report.Status = OffloadStatus.Partial;
                report.RefusedBecause = "time budget";
                return;
            }

            var limit = request.Limit is { } l ? (int)Math.Min(settings.BatchSize, l - report.Candidates) : settings.BatchSize;
            if (limit <= 0)
            {
                return;
            }

            var from = after;
            var candidates = await _postgres.Calls.RunAsync(ct => _ledger.CandidatesAsync(from, report.Cutoff, limit, ct), cancellationToken);
            if (candidates.Count == 0)
            {
                return;
            }

            after = candidates[^1].SessionId;
            report.Candidates += candidates.Count;
            await OffloadBatchAsync(candidates, blocked!, shards, report, redisNow, cancellationToken);
            Log.OffloadProgress(_logger, report.RunId, report.Candidates, report.SessionsOffloaded, report.SessionsSkipped, report.BytesFreed);
        }
    }

    private async Task FinishAsync(OffloadReport report, long started)
    {
        report.DurationMs = _timeProvider.GetElapsedTime(started).TotalMilliseconds;
        if (!report.DryRun)
        {
            _metrics.RecordOffload(report.SessionsOffloaded, report.RecordsRemoved, report.BytesFreed);
        }

        // History must say how the run ended, also after the caller cancelled; a dead database must not hold the host.
        using var bookkeeping = new CancellationTokenSource(_archiveOptions.Value.BookkeepingTimeout);
        try
        {
            await _postgres.Calls.RunAsync(ct => _ledger.FinishRunAsync(report, _timeProvider.GetUtcNow(), ct), bookkeeping.Token);
        }
        catch (Exception ex) when (ex is NpgsqlException or OperationCanceledException or TimeoutException)
        {
            Log.OffloadHistoryFailed(_logger, report.RunId, ErrorText.Describe(ex));
        }

        Log.OffloadFinished(_logger, report.RunId, report.Status.ToString(), report.SessionsOffloaded, report.SessionsSkipped, report.RecordsRemoved, report.BytesFreed, report.DryRun);
    }

    /// <summary>
    /// Sessions and messages that must stay in Redis whatever their content: those with a write not archived yet
    /// (the index above the late horizon, the late set) or an open dead letter. Refuses the run (second value) when an
    /// stream's horizon was never raised or more entries wait than <c>Archive:Offload:MaxPendingEntries</c>. A sharded
    /// entity (docs/scaling.md) is read stream by stream, each against its own horizon; the bound holds for all together.
    /// </summary>
    private async Task<(BlockedRecords? Blocked, string? Refusal)> ReadBlockedAsync(OffloadOptions settings, ShardLayout shards, CancellationToken cancellationToken)
    {
        var database = _redis.Connection.GetDatabase();
        var blocked = new BlockedRecords();
        var pendingIds = new List<(EntityDescriptor Entity, string[] Ids)>();
        foreach (var entity in s_sessionEntities)
        {
            var ids = new HashSet<string>(StringComparer.Ordinal);
            foreach (var stream in shards.StreamsOf(entity))
            {
                var horizon = await _redis.Calls.RunAsync(ct => database.StringGetAsync(_redis.Layout.LateHorizonKey(stream)).WaitAsync(ct), cancellationToken);
                if (!double.TryParse((string?)horizon, NumberStyles.Float, CultureInfo.InvariantCulture, out var h))
                {
                    return (null, $"no archive pass has raised the late horizon of {stream.FeedName} yet ({_redis.Layout.LateHorizonKey(stream)} is missing): run archive first");
                }

                var pending = await _pending.ReadIdsAsync(stream, h, includeAfter: false, settings.MaxPendingEntries - ids.Count, cancellationToken);
                if (pending is null)
                {
                    return (null, $"more than {settings.MaxPendingEntries:N0} {entity.Name} entries wait to be archived (Archive:Offload:MaxPendingEntries): let the archiver catch up first");
                }

                ids.UnionWith(pending);
            }

            pendingIds.Add((entity, [.. ids]));
        }

        // Which sessions and messages the pending entries belong to: a session is its own, the others name theirs.
        foreach (var (entity, pending) in pendingIds)
        {
            List<PendingRecord> records = entity == EntityCatalog.Session
                ? [.. pending.Select(id => new PendingRecord(id, null, id, null))]
                : await _pending.WithParentsAsync(entity, pending, cancellationToken);
            foreach (var record in records)
            {
                blocked.Block(OffloadSkipReasons.PendingChange, $"{entity.Name} {record.Id} is not archived yet", session: record.SessionId,
                    message: entity == EntityCatalog.Message ? record.Id : record.MessageId);
            }
        }

        foreach (var (entity, recordId, sessionId, messageId) in await _postgres.Calls.RunAsync(ct => _deadLetters.OpenWithParentsAsync(ct), cancellationToken))
        {
            var detail = $"{entity} {recordId} has an open dead letter";
            blocked.Block(OffloadSkipReasons.DeadLetter, detail,
                session: entity == EntityCatalog.Session.Name ? recordId : sessionId,
                message: entity == EntityCatalog.Message.Name ? recordId : messageId);
        }

        return (blocked, null);
    }

    private async Task OffloadBatchAsync(
        List<OffloadCandidate> candidates, BlockedRecords blocked, ShardLayout shards, OffloadReport report, DateTimeOffset redisNow, CancellationToken cancellationToken)
    {
        var sessionIds = candidates.Select(c => c.SessionId).ToArray();
        var archived = await _postgres.Calls.RunAsync(ct => LoadArchivedAsync(sessionIds, ct), cancellationToken);

        // The verify's classification of every record of these sessions that Redis still holds.
        var categories = new Dictionary<(string Entity, string Id), VerifyCategory>();
        foreach (var entity in s_sessionEntities)
        {
            var members = archived.Values.SelectMany(r => r).Where(r => r.Entity == entity).Select(r => Encoding.UTF8.GetBytes(r.Id)).ToList();
            var due = await _checker.ReadDueRuleAsync(entity, redisNow, cancellationToken);
            var scratch = new EntityVerifyResult { Entity = entity.Name };
            foreach (var chunk in members.Chunk(1000))
            {
                await _checker.CheckAsync(entity, chunk, due, scratch, 0, null, cancellationToken, (id, category) => categories[(entity.Name, id)] = category);
            }
        }

        var qualified = new List<SessionRemoval>();
        foreach (var candidate in candidates)
        {
            var records = archived.GetValueOrDefault(candidate.SessionId) ?? [];
            if (Decide(candidate, records, blocked, categories) is { } skip)
            {
                report.Skip(candidate.SessionId, skip.Reason, skip.Detail);
                continue;
            }

            qualified.Add(new SessionRemoval(candidate, records, records.Where(r => categories.ContainsKey((r.Entity.Name, r.Id))).ToList()));
        }

        if (qualified.Count == 0)
        {
            return;
        }

        var bytes = await MeasureAsync(qualified, report, cancellationToken);
        if (report.DryRun)
        {
            foreach (var removal in qualified)
            {
                report.Add(removal.Describe(removal.Present.Count, bytes.GetValueOrDefault(removal.Candidate.SessionId)));
            }

            return;
        }

        await _postgres.Calls.RunAsync(
            ct => _ledger.MarkPendingAsync(report.RunId, _timeProvider.GetUtcNow(), qualified.Select(q => (q.Candidate, q.RecordCounts())).ToList(), ct),
            cancellationToken);
        if (BeforeRemoveForTests is { } hook)
        {
            await hook([.. qualified.Select(q => q.Candidate.SessionId)]);
        }

        var outcomes = await RemoveAsync(qualified, shards, cancellationToken);
        var removed = new List<OffloadedSession>();
        var raced = new List<string>();
        for (var i = 0; i < qualified.Count; i++)
        {
            var (keys, refusal) = outcomes[i];
            var session = qualified[i].Candidate.SessionId;
            if (refusal is null)
            {
                var done = qualified[i].Describe((int)keys, keys == 0 ? 0 : bytes.GetValueOrDefault(session));
                removed.Add(done);
                report.Add(done);
            }
            else
            {
                raced.Add(session);
                report.Skip(session, OffloadSkipReasons.ChangedDuringOffload, refusal);
            }
        }

        await _postgres.Calls.RunAsync(ct => _ledger.ConfirmAsync(removed, ct), cancellationToken);
        await _postgres.Calls.RunAsync(ct => _ledger.ForgetPendingAsync(report.RunId, raced, ct), cancellationToken);
    }

    /// <summary>Null when the session may leave Redis; else why it stays.</summary>
    private static (string Reason, string Detail)? Decide(
        OffloadCandidate candidate, List<ArchivedRecord> records, BlockedRecords blocked, Dictionary<(string, string), VerifyCategory> categories)
    {
        if (blocked.Sessions.TryGetValue(candidate.SessionId, out var reason))
        {
            return reason;
        }

        foreach (var record in records)
        {
            if (record.Entity == EntityCatalog.Message && blocked.Messages.TryGetValue(record.Id, out reason))
            {
                return reason;
            }

            if (!categories.TryGetValue((record.Entity.Name, record.Id), out var category) || category == VerifyCategory.Equal)
            {
                continue; // not in Redis any more (nothing to remove), or exactly archived
            }

            var detail = $"{record.Entity.Name} {record.Id}: {category}";
            return category switch
            {
                VerifyCategory.Pending => (OffloadSkipReasons.PendingChange, detail),
                VerifyCategory.DeadLettered => (OffloadSkipReasons.DeadLetter, detail),
                VerifyCategory.ContentDiffers or VerifyCategory.PostgresNewer => (OffloadSkipReasons.Differs, detail),
                _ => (OffloadSkipReasons.NotArchived, detail),
            };
        }

        return null;
    }

    /// <summary>The archived records of each session (its row, its messages, their attachment references), with updatedAt in ms.</summary>
    private async Task<Dictionary<string, List<ArchivedRecord>>> LoadArchivedAsync(string[] sessionIds, CancellationToken cancellationToken)
    {
        string Table(EntityDescriptor e) => $"{_postgres.Schemas.Target}.{e.Table}";
        const string Ms = "floor(extract(epoch FROM {0}.updated_at) * 1000)::bigint";
        await using var connection = await _postgres.DataSource.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                new($"SELECT s.id, s.id, {string.Format(CultureInfo.InvariantCulture, Ms, "s")} FROM {Table(EntityCatalog.Session)} s WHERE s.id = ANY($1)") { Parameters = { new() { Value = sessionIds } } },
                new($"SELECT m.id, m.session_id, {string.Format(CultureInfo.InvariantCulture, Ms, "m")} FROM {Table(EntityCatalog.Message)} m WHERE m.session_id = ANY($1)") { Parameters = { new() { Value = sessionIds } } },
                // An attachment belongs to its own sessionId, or (without one) to its message's session: two indexed
                // lookups rather than an OR across a join, which PostgreSQL can only answer with a scan.
                new($"""
                    SELECT a.id, a.session_id, {string.Format(CultureInfo.InvariantCulture, Ms, "a")}
                    FROM {Table(EntityCatalog.Attachment)} a WHERE a.session_id = ANY($1)
                    UNION ALL
                    SELECT a.id, m.session_id, {string.Format(CultureInfo.InvariantCulture, Ms, "a")}
                    FROM {Table(EntityCatalog.Message)} m JOIN {Table(EntityCatalog.Attachment)} a ON a.message_id = m.id
                    WHERE m.session_id = ANY($1) AND a.session_id IS NULL
                    """) { Parameters = { new() { Value = sessionIds } } },
            },
        };
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        var records = new Dictionary<string, List<ArchivedRecord>>(StringComparer.Ordinal);
        foreach (var entity in s_sessionEntities)
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var session = reader.GetString(1);
                if (!records.TryGetValue(session, out var list))
                {
                    records[session] = list = [];
                }

                list.Add(new ArchivedRecord(entity, reader.GetString(0), reader.GetInt64(2)));
            }

            await reader.NextResultAsync(cancellationToken);
        }

        return records;
    }

    /// <summary>
    /// Redis memory of each session's keys: <c>MEMORY USAGE</c> where the server allows it, else an estimate (key and
    /// field bytes; <see cref="OffloadReport.BytesMethod"/> says which).
    /// </summary>
    private async Task<Dictionary<string, long>> MeasureAsync(List<SessionRemoval> removals, OffloadReport report, CancellationToken cancellationToken)
    {
        var database = _redis.Connection.GetDatabase();
        var keys = removals.SelectMany(r => r.Present.Select(p => (r.Candidate.SessionId, Key: _redis.Layout.RecordKey(p.Entity, p.Id)))).ToArray();
        var totals = new Dictionary<string, long>(StringComparer.Ordinal);
        if (report.BytesMethod == "memory-usage")
        {
            try
            {
                var sizes = await _redis.Calls.RunAsync(
                    async ct =>
                    {
                        var calls = keys.Select(k => database.ExecuteAsync("MEMORY", "USAGE", k.Key, "SAMPLES", "0")).ToArray();
                        await Task.WhenAll(calls).WaitAsync(ct);
                        return calls.Select(c => c.Result.IsNull ? 0L : (long)c.Result).ToArray();
                    },
                    cancellationToken);
                for (var i = 0; i < keys.Length; i++)
                {
                    totals[keys[i].SessionId] = totals.GetValueOrDefault(keys[i].SessionId) + sizes[i];
                }

                return totals;
            }
            catch (RedisServerException)
            {
                report.BytesMethod = "estimate"; // e.g. a managed Redis that does not offer MEMORY
            }
        }

        var hashes = await _redis.Calls.RunAsync(
            async ct =>
            {
                var calls = keys.Select(k => database.HashGetAllAsync(k.Key)).ToArray();
                await Task.WhenAll(calls).WaitAsync(ct);
                return calls.Select(c => c.Result.Sum(f => (long)((byte[])f.Name!).Length + ((byte[]?)f.Value)?.Length ?? 0)).ToArray();
            },
            cancellationToken);
        for (var i = 0; i < keys.Length; i++)
        {
            totals[keys[i].SessionId] = totals.GetValueOrDefault(keys[i].SessionId) + Encoding.UTF8.GetByteCount((string)keys[i].Key!) + hashes[i];
        }

        return totals;
    }

    /// <summary>One <c>offload-session.lua</c> call per session, pipelined: keys removed, or why nothing was.</summary>
    private async Task<(long Keys, string? Refusal)[]> RemoveAsync(List<SessionRemoval> removals, ShardLayout shards, CancellationToken cancellationToken)
    {
        var database = _redis.Connection.GetDatabase();
        var now = _timeProvider.GetUtcNow().ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        var results = await _redis.Calls.RunAsync(
            async ct =>
            {
                var batch = database.CreateBatch();
                var calls = removals.Select(r => batch.ScriptEvaluateAsync(EmbeddedScripts.OffloadSession, Keys(r, shards), Arguments(r, shards, now))).ToArray();
                batch.Execute();
                await Task.WhenAll(calls).WaitAsync(ct);
                return calls.Select(c => (RedisResult[])c.Result!).ToArray();
            },
            cancellationToken);
        return [.. results.Select(r => (long)r[0] == 1
            ? ((long)r[1], (string?)null)
            : (0L, string.Join(' ', r.Skip(1).Select(v => (string?)v))))];
    }

    /// <summary>The script's keys: the marker, then per entity each of its change streams' index, horizon and late set, then the records.</summary>
    private RedisKey[] Keys(SessionRemoval removal, ShardLayout shards)
    {
        var keys = new List<RedisKey> { _redis.Layout.OffloadMarkerKey(removal.Candidate.UserId), _redis.Layout.ShardLayoutKey };
        foreach (var stream in s_sessionEntities.SelectMany(shards.StreamsOf))
        {
            keys.Add(_redis.Layout.ChangeIndexKey(stream));
            keys.Add(_redis.Layout.LateHorizonKey(stream));
            keys.Add(_redis.Layout.LateSetKey(stream));
        }

        keys.AddRange(removal.Records.Select(r => _redis.Layout.RecordKey(r.Entity, r.Id)));
        return [.. keys];
    }

    private RedisValue[] Arguments(SessionRemoval removal, ShardLayout shards, string now)
    {
        var args = new List<RedisValue>
        {
            removal.Candidate.SessionId,
            now,
            _redis.Layout.RecordKeyPrefix(EntityCatalog.Message),
            _redis.Layout.RecordKeyPrefix(EntityCatalog.Attachment),
            removal.Records.Count,
        };
        args.AddRange(s_sessionEntities.Select(e => (RedisValue)shards.StreamsOf(e).Count));
        args.AddRange(s_sessionEntities.Select(e => (RedisValue)shards.Of(e).Count));
        var present = removal.Present.ToHashSet();
        foreach (var record in removal.Records)
        {
            args.Add(record.Entity.Name);
            args.Add(record.Id);
            args.Add(present.Contains(record) ? record.UpdatedAtMs.ToString(CultureInfo.InvariantCulture) : string.Empty);
        }

        return [.. args];
    }

    /// <summary>One archived record of a session.</summary>
    private sealed record ArchivedRecord(EntityDescriptor Entity, string Id, long UpdatedAtMs);

    /// <summary>A session that passed the check: all its archived records, and those Redis still holds.</summary>
    private sealed record SessionRemoval(OffloadCandidate Candidate, List<ArchivedRecord> Records, List<ArchivedRecord> Present)
    {
        public IReadOnlyDictionary<string, int> RecordCounts() =>
            s_sessionEntities.ToDictionary(e => e.Name, e => Records.Count(r => r.Entity == e), StringComparer.Ordinal);

        public OffloadedSession Describe(int keys, long bytes) => new(Candidate.SessionId, Candidate.UserId, Records.Count, keys, bytes);
    }

    /// <summary>Sessions and messages that stay in Redis whatever their content, each with the first reason found.</summary>
    private sealed class BlockedRecords
    {
        public Dictionary<string, (string Reason, string Detail)> Sessions { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, (string Reason, string Detail)> Messages { get; } = new(StringComparer.Ordinal);

        public void Block(string reason, string detail, string? session, string? message)
        {
            if (session is not null)
            {
                Sessions.TryAdd(session, (reason, detail));
            }

            if (message is not null)
            {
                Messages.TryAdd(message, (reason, detail));
            }
        }
    }
}
