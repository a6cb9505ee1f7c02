using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Resilience;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;
using NexusArchive.Core.Verification;
using Npgsql;

namespace NexusArchive.Core.Admin;

/// <summary>The right to be forgotten for one user.</summary>
/// <param name="UserId">The user.</param>
/// <param name="DryRun">Only count what would be erased.</param>
/// <param name="Actor">Who asked, for the audit trail (<c>cli:…</c>, <c>http:…</c>); never a secret.</param>
public sealed record EraseRequest(string UserId, bool DryRun, string Actor);

/// <summary>What one erase removed (or would, in a dry run).</summary>
public sealed class EraseReport
{
    public required string UserId { get; init; }

    public required bool DryRun { get; init; }

    /// <summary>Archive rows per entity.</summary>
    public Dictionary<string, long> PostgresRows { get; } = new(StringComparer.Ordinal);

    /// <summary>Redis keys: record hashes and the offload marker.</summary>
    public long RedisKeys { get; set; }

    /// <summary>Dead letters of the user's records, closed and stripped of their raw payload.</summary>
    public long DeadLetters { get; set; }

    /// <summary>Offloaded sessions of the user forgotten by the cold-storage ledger.</summary>
    public long OffloadedSessions { get; set; }

    public double DurationMs { get; set; }

    public long AuditId { get; set; }
}

/// <summary>
/// Erases one user: their records in Redis (hashes, change-index and late-set entries, the offload marker) and in
/// PostgreSQL (user, sessions, the messages and attachment references of those sessions and any other of theirs), their
/// dead letters' raw payloads, and their cold-storage ledger rows; then audits it (docs/erase.md).
/// <para><b>Order and lock.</b> Erase takes the lease of every entity first, as an archive pass does, so no pass reads
/// or writes while it works (a running pass finishes its page and stops at its next lease check; erase waits up to
/// <c>Archive:LeaseTimeout</c> for it). Then Redis first: once the source is gone no pass can bring a record back. Then
/// PostgreSQL in one transaction that re-checks the leases (a lease lost meanwhile rolls it back). A crash between the
/// two leaves the rows in PostgreSQL and nothing in Redis: erase again finishes it.</para>
/// </summary>
public sealed class EraseService
{
    private readonly EntityCatalog _entities;
    private readonly RedisAccess _redis;
    private readonly PostgresAccess _postgres;
    private readonly CheckpointStore _checkpoints;
    private readonly AdminAudit _audit;
    private readonly OffloadLedger _offloads;
    private readonly IOptions<ArchiveOptions> _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<EraseService> _logger;
    private readonly PendingRecords _pending;

    internal EraseService(
        EntityCatalog entities,
        RedisAccess redis,
        PostgresAccess postgres,
        CheckpointStore checkpoints,
        AdminAudit audit,
        OffloadLedger offloads,
        IOptions<ArchiveOptions> options,
        TimeProvider timeProvider,
        ILogger<EraseService> logger,
        PendingRecords pending)
    {
        _entities = entities;
        _redis = redis;
        _postgres = postgres;
        _checkpoints = checkpoints;
        _audit = audit;
        _offloads = offloads;
        _options = options;
        _timeProvider = timeProvider;
        _logger = logger;
        _pending = pending;
    }

    /// <summary>Erases the user (or counts, in a dry run) and writes the audit row.</summary>
    /// <exception cref="ArgumentException">An empty user id or actor.</exception>
    /// <exception cref="EntityBusyException">An archive pass kept an entity's lease longer than <c>Archive:LeaseTimeout</c>.</exception>
    public async Task<EraseReport> EraseAsync(EraseRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.Actor);
        var scope = ArchiveScope.ForUser(request.UserId);
        var started = _timeProvider.GetTimestamp();
        var report = new EraseReport { UserId = request.UserId, DryRun = request.DryRun };
        var runId = Guid.NewGuid();
        var leased = new List<EntityDescriptor>();
        try
        {
            // Every change stream of every entity (docs/scaling.md): the unsharded one, the shards, the shards draining.
            var shards = await _redis.Calls.RunAsync(ct => ShardLayout.ReadAsync(_redis.Connection.GetDatabase(), _redis.Layout, ct), cancellationToken);
            var streams = _entities.All.SelectMany(shards.StreamsOf).ToList();
            if (!request.DryRun)
            {
                await AcquireAllAsync(runId, streams, leased, cancellationToken);
            }

            var ids = await _postgres.Calls.RunAsync(ct => ArchivedIdsAsync(scope, ct), cancellationToken);
            var deadLetters = await _postgres.Calls.RunAsync(ct => DeadLettersAsync(request.UserId, ids, ct), cancellationToken);
            var keys = await FindRedisRecordsAsync(request.UserId, ids, deadLetters, shards, cancellationToken);
            foreach (var (entity, list) in ids)
            {
                report.PostgresRows[entity.Name] = list.Count;
            }

            report.DeadLetters = deadLetters.Count;
            report.OffloadedSessions = (await _postgres.Calls.RunAsync(ct => _offloads.OffloadedAsync(scope, ct), cancellationToken)).Count;
            report.RedisKeys = await _redis.Calls.RunAsync(
                ct => _redis.Connection.GetDatabase().KeyExistsAsync([.. keys.Select(k => _redis.Layout.RecordKey(k.Entity, k.Id)), _redis.Layout.OffloadMarkerKey(request.UserId)]).WaitAsync(ct),
                cancellationToken);
            if (!request.DryRun)
            {
                await RemoveFromRedisAsync(request.UserId, keys, shards, cancellationToken);
                await _postgres.Calls.RunAsync(ct => DeleteFromPostgresAsync(runId, leased, scope, ids, deadLetters, report, request.Actor, ct), cancellationToken);
            }
            else
            {
                report.AuditId = await AuditAsync(request, report, null);
            }
        }
        catch (Exception ex)
        {
            await AuditAsync(request, report, ex);
            throw;
        }
        finally
        {
            foreach (var entity in leased)
            {
                using var timeout = new CancellationTokenSource(_options.Value.BookkeepingTimeout);
                await _postgres.Calls.RunAsync(ct => _checkpoints.ReleaseAsync(entity, runId, quiet: null, ct), timeout.Token); // erase clears the quiet mark
            }
        }

        report.DurationMs = _timeProvider.GetElapsedTime(started).TotalMilliseconds;
        Log.UserErased(_logger, request.UserId, request.DryRun ? " (dry run)" : string.Empty, report.PostgresRows.Values.Sum(), report.RedisKeys, report.AuditId);
        return report;
    }

    /// <summary>Takes every stream's lease, waiting (up to the lease timeout and a little) for a pass that holds one.</summary>
    private async Task AcquireAllAsync(Guid runId, List<EntityDescriptor> streams, List<EntityDescriptor> leased, CancellationToken cancellationToken)
    {
        var deadline = _timeProvider.GetUtcNow() + _options.Value.LeaseTimeout + TimeSpan.FromSeconds(5);
        foreach (var entity in streams)
        {
            while (true)
            {
                try
                {
                    await _postgres.Calls.RunAsync(ct => _checkpoints.AcquireAsync(entity, runId, ct), cancellationToken);
                    leased.Add(entity);
                    break;
                }
                catch (EntityBusyException) when (_timeProvider.GetUtcNow() < deadline)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(250), _timeProvider, cancellationToken);
                }
            }
        }
    }

    /// <summary>The user's archived record ids per entity (scope: the user and everything under them).</summary>
    private async Task<Dictionary<EntityDescriptor, List<string>>> ArchivedIdsAsync(ArchiveScope scope, CancellationToken cancellationToken)
    {
        var ids = new Dictionary<EntityDescriptor, List<string>>();
        foreach (var entity in _entities.All)
        {
            var list = ids[entity] = [];
            await using var command = _postgres.DataSource.CreateCommand($"SELECT id FROM {ArchivedRows.Table(entity, _postgres.Schemas)} WHERE {scope.SqlFilter(entity, _postgres.Schemas, "$1")}");
            command.Parameters.Add(new() { Value = scope.Id! });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                list.Add(reader.GetString(0));
            }
        }

        return ids;
    }

    /// <summary>Dead letters (any status) whose record is the user's: by id, or by the userId/sessionId/messageId in its raw fields.</summary>
    private async Task<List<(string Entity, string RecordId)>> DeadLettersAsync(string userId, Dictionary<EntityDescriptor, List<string>> ids, CancellationToken cancellationToken)
    {
        var sessions = ids[EntityCatalog.Session].ToArray();
        var messages = ids[EntityCatalog.Message].ToArray();
        await using var command = _postgres.DataSource.CreateCommand($"""
            SELECT entity, record_id FROM {_postgres.Schemas.Bookkeeping}.dead_letters d
            WHERE (entity = 'user' AND record_id = $1)
               OR EXISTS (SELECT 1 FROM jsonb_array_elements(d.raw_fields) p
                          WHERE (p ->> 0 = 'userId' AND p ->> 1 = $1)
                             OR (p ->> 0 = 'sessionId' AND p ->> 1 = ANY($2))
                             OR (p ->> 0 = 'messageId' AND p ->> 1 = ANY($3)))
            """);
        command.Parameters.Add(new() { Value = userId });
        command.Parameters.Add(new() { Value = sessions });
        command.Parameters.Add(new() { Value = messages });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var found = new List<(string, string)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            found.Add((reader.GetString(0), reader.GetString(1)));
        }

        return found;
    }

    /// <summary>
    /// The user's records in Redis: the archived ones, the dead-lettered ones, and the ones not archived yet (the index
    /// after the checkpoint and the late sets, read with their parent fields), including records of the user's sessions.
    /// </summary>
    private async Task<HashSet<(EntityDescriptor Entity, string Id)>> FindRedisRecordsAsync(
        string userId, Dictionary<EntityDescriptor, List<string>> ids, List<(string Entity, string RecordId)> deadLetters, ShardLayout shards,
        CancellationToken cancellationToken)
    {
        var records = new HashSet<(EntityDescriptor, string)>(ids.SelectMany(e => e.Value.Select(id => (e.Key, id))));
        foreach (var (entity, id) in deadLetters)
        {
            if (_entities.Find(entity) is { } descriptor)
            {
                records.Add((descriptor, id));
            }
        }

        var sessions = new HashSet<string>(ids[EntityCatalog.Session], StringComparer.Ordinal);
        var messages = new HashSet<string>(ids[EntityCatalog.Message], StringComparer.Ordinal);
        foreach (var entity in _entities.All)
        {
            // Not archived yet: after its stream's checkpoint, or in a late set, in any stream of the entity.
            var pending = new List<string>();
            foreach (var stream in shards.StreamsOf(entity))
            {
                var checkpoint = await _postgres.Calls.RunAsync(ct => _checkpoints.ReadAsync(stream, ct), cancellationToken);
                pending.AddRange((await _pending.ReadIdsAsync(stream, checkpoint?.Score ?? double.NegativeInfinity, includeAfter: true, long.MaxValue, cancellationToken))!);
            }

            foreach (var record in await _pending.WithParentsAsync(entity, [.. pending.Distinct(StringComparer.Ordinal)], cancellationToken))
            {
                var mine = entity == EntityCatalog.User ? record.Id == userId
                    : record.UserId == userId || (record.SessionId is { } session && sessions.Contains(session)) || (record.MessageId is { } message && messages.Contains(message));
                if (mine)
                {
                    records.Add((entity, record.Id));
                    if (entity == EntityCatalog.Session)
                    {
                        sessions.Add(record.Id);
                    }
                    else if (entity == EntityCatalog.Message)
                    {
                        messages.Add(record.Id);
                    }
                }
            }
        }

        return records;
    }

    private async Task RemoveFromRedisAsync(string userId, HashSet<(EntityDescriptor Entity, string Id)> records, ShardLayout shards, CancellationToken cancellationToken)
    {
        var database = _redis.Connection.GetDatabase();
        foreach (var chunk in records.Chunk(1000))
        {
            await _redis.Calls.RunAsync(
                async ct =>
                {
                    var batch = database.CreateBatch();
                    var calls = new List<Task>();
                    foreach (var (entity, id) in chunk)
                    {
                        calls.Add(batch.KeyDeleteAsync(_redis.Layout.RecordKey(entity, id)));
                        foreach (var stream in shards.StreamsHolding(entity, id))
                        {
                            calls.Add(batch.SortedSetRemoveAsync(_redis.Layout.ChangeIndexKey(stream), id));
                            calls.Add(batch.SortedSetRemoveAsync(_redis.Layout.LateSetKey(stream), id));
                        }
                    }

                    batch.Execute();
                    await Task.WhenAll(calls).WaitAsync(ct);
                },
                cancellationToken);
        }

        await _redis.Calls.RunAsync(ct => database.KeyDeleteAsync(_redis.Layout.OffloadMarkerKey(userId)).WaitAsync(ct), cancellationToken);
    }

    /// <summary>One transaction: the leases re-checked, children before parents, dead letters stripped, ledger rows, audit.</summary>
    private async Task DeleteFromPostgresAsync(
        Guid runId, List<EntityDescriptor> leased, ArchiveScope scope, Dictionary<EntityDescriptor, List<string>> ids, List<(string Entity, string RecordId)> deadLetters,
        EraseReport report, string actor, CancellationToken cancellationToken)
    {
        await using var connection = await _postgres.DataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var leases = new NpgsqlBatch(connection, transaction))
        {
            foreach (var stream in leased)
            {
                leases.BatchCommands.Add(_checkpoints.LeaseOwnerCommand(stream));
            }

            await using var owners = await leases.ExecuteReaderAsync(cancellationToken);
            foreach (var stream in leased)
            {
                if (!await CheckpointStore.IsOwnedByAsync(owners, runId, cancellationToken))
                {
                    throw new EntityBusyException(stream.FeedName);
                }

                await owners.NextResultAsync(cancellationToken);
            }
        }

        await using var batch = new NpgsqlBatch(connection, transaction);
        // Children first: a child's scope filter reaches the user through its parents' rows.
        foreach (var entity in _entities.All.Reverse())
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand($"DELETE FROM {ArchivedRows.Table(entity, _postgres.Schemas)} WHERE id = ANY($1)") { Parameters = { new() { Value = ids[entity].ToArray() } } });
        }

        batch.BatchCommands.Add(new NpgsqlBatchCommand($"""
            UPDATE {_postgres.Schemas.Bookkeeping}.dead_letters SET status = 'discarded', raw_fields = '[]'::jsonb,
                   reason = 'erased: the user exercised the right to be forgotten', closed_at = now()
            WHERE (entity, record_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
            """)
        {
            Parameters = { new() { Value = deadLetters.Select(d => d.Entity).ToArray() }, new() { Value = deadLetters.Select(d => d.RecordId).ToArray() } },
        });
        batch.BatchCommands.Add(new NpgsqlBatchCommand($"DELETE FROM {_postgres.Schemas.Bookkeeping}.offloaded_sessions WHERE user_id = $1") { Parameters = { new() { Value = scope.Id! } } });
        batch.BatchCommands.Add(_audit.RecordCommand(actor, AdminActions.Erase, scope.Id!, succeeded: true, Counts(report), null));
        NpgsqlDataReader reader;
        try
        {
            reader = await batch.ExecuteReaderAsync(cancellationToken);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            throw new InvalidOperationException(
                $"Erase needs a login that may delete archived rows ({ex.MessageText}): grant the role nexus_eraser to it (docs/erase.md), or run erase with an administrator's connection string. Redis was already cleared; run erase again once it may delete.", ex);
        }

        await using (reader)
        {
            while (!reader.HasRows || !await reader.ReadAsync(cancellationToken))
            {
                if (!await reader.NextResultAsync(cancellationToken))
                {
                    break;
                }
            }

            report.AuditId = reader.HasRows ? reader.GetInt64(0) : 0;
        }

        // Row Level Security turns a DELETE without a matching policy into "0 rows", not an error: never report an erase
        // that did not happen.
        var entities = _entities.All.Reverse().ToArray();
        for (var i = 0; i < entities.Length; i++)
        {
            if (batch.BatchCommands[i].RecordsAffected < ids[entities[i]].Count)
            {
                throw new InvalidOperationException(
                    $"Erase deleted {batch.BatchCommands[i].RecordsAffected} of {ids[entities[i]].Count} {entities[i].Table} rows: the login may not delete them under Row Level Security. Grant it the role nexus_eraser (docs/erase.md); nothing was deleted from PostgreSQL.");
            }
        }

        await transaction.CommitAsync(cancellationToken);
    }

    private static object Counts(EraseReport report) => new
    {
        postgresRows = report.PostgresRows,
        redisKeys = report.RedisKeys,
        deadLetters = report.DeadLetters,
        offloadedSessions = report.OffloadedSessions,
    };

    private async Task<long> AuditAsync(EraseRequest request, EraseReport report, Exception? error)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            return await _postgres.Calls.RunAsync(
                ct => _audit.RecordAsync(request.Actor, request.DryRun ? AdminActions.EraseDryRun : AdminActions.Erase, request.UserId,
                    error is null, Counts(report), error is null ? null : ErrorText.Describe(error), ct),
                timeout.Token);
        }
        catch (Exception ex) when (error is not null && ex is NpgsqlException or OperationCanceledException or TimeoutException)
        {
            return 0; // the erase's own error is what the caller must see
        }
    }
}
