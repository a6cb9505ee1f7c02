using Microsoft.Extensions.Logging;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Resilience;
using NexusArchive.Core.Source;
using NexusArchive.Core.Verification;
using StackExchange.Redis;

namespace NexusArchive.Core.Restore;

/// <summary>What to bring back into Redis: exactly one of a user, a session or everything.</summary>
/// <param name="UserId">The user, their sessions, and those sessions' messages and attachments.</param>
/// <param name="SessionId">The session, its messages and their attachments.</param>
/// <param name="All">Every archived record.</param>
/// <param name="DryRun">Only report what would be written and skipped.</param>
/// <param name="BatchSize">Rows read per PostgreSQL page and written per Redis pipeline.</param>
/// <param name="IncludeOffloaded">
/// With <paramref name="All"/>: also bring back sessions offloaded to cold storage. Without it they stay offloaded and
/// only their offload markers are written again (after a Redis loss). A user or session restore always includes them.
/// </param>
public sealed record RestoreRequest(string? UserId = null, string? SessionId = null, bool All = false, bool DryRun = false, int BatchSize = 1000, bool IncludeOffloaded = false);

/// <summary>Counts for one entity.</summary>
public sealed class EntityRestoreResult
{
    public required string Entity { get; init; }

    /// <summary>Archive rows in scope.</summary>
    public long Rows { get; set; }

    /// <summary>Records written to Redis (or that would be, in a dry run).</summary>
    public long Written { get; set; }

    /// <summary>Records left alone because Redis already holds this version or a newer one.</summary>
    public long Skipped { get; set; }

    /// <summary>Archived rows the writer refused (Redis unchanged for them); the rest of the restore went on.</summary>
    public long Refused { get; set; }

    /// <summary>The first refusals, each with the record id and the writer's reason.</summary>
    public List<RestoreRefusal> Refusals { get; } = [];
}

/// <summary>An archived row the Lua writer refused to restore, with its message (<c>ERR nexus: …</c>).</summary>
public sealed record RestoreRefusal(string Id, string Reason);

/// <summary>The outcome of a restore.</summary>
public sealed class RestoreReport
{
    public required ArchiveScope Scope { get; init; }

    public required bool DryRun { get; init; }

    public required List<EntityRestoreResult> Entities { get; init; }

    public double DurationMs { get; set; }

    public long Written => Entities.Sum(e => e.Written);

    public long Skipped => Entities.Sum(e => e.Skipped);

    public long Refused => Entities.Sum(e => e.Refused);

    /// <summary>Offloaded sessions brought back into Redis (their offload markers cleared).</summary>
    public int OffloadedRestored { get; set; }

    /// <summary>Offloaded sessions left in cold storage by <c>--all</c> (their markers written again).</summary>
    public int OffloadedKept { get; set; }
}

/// <summary>
/// Rehydrates Redis from the archive through the Lua record writer (<see cref="RecordWriter"/>), parents first.
/// Every write is <see cref="WriteMode.Replace"/> with <c>onlyIfNewer</c> and the row's own <c>updated_at</c> as the
/// change score: a restored record looks exactly as it did when archived (soft-deleted state included), it sits
/// behind the checkpoint so no pass re-archives it, and a newer version already in Redis is never overwritten.
/// A row the writer refuses (for example a timestamp archived before the writer checked it) is counted and reported
/// with the writer's reason, and the restore goes on: one bad row must not keep the rest of a user's history out of Redis.
/// Offloaded sessions (cold storage, <see cref="Offload.OffloadService"/>) in scope come back and lose their marker once
/// every row in scope was written; <c>--all</c> leaves them offloaded unless asked, and writes their markers again.
/// </summary>
public sealed class RestoreService
{
    private readonly EntityCatalog _entities;
    private readonly RedisAccess _redis;
    private readonly PostgresAccess _postgres;
    private readonly RecordWriter _writer;
    private readonly OffloadLedger _offloads;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<RestoreService> _logger;

    internal RestoreService(
        EntityCatalog entities,
        RedisAccess redis,
        PostgresAccess postgres,
        RecordWriter writer,
        OffloadLedger offloads,
        TimeProvider timeProvider,
        ILogger<RestoreService> logger)
    {
        _entities = entities;
        _redis = redis;
        _postgres = postgres;
        _writer = writer;
        _offloads = offloads;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    /// <summary>How many refusals each entity's result lists in full; the count covers all of them.</summary>
    public const int RefusalsListed = 20;

    /// <summary>Runs the restore.</summary>
    /// <exception cref="ArgumentException">Not exactly one of user, session or all; or a batch size out of range.</exception>
    public async Task<RestoreReport> RestoreAsync(RestoreRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var chosen = (request.UserId is null ? 0 : 1) + (request.SessionId is null ? 0 : 1) + (request.All ? 1 : 0);
        if (chosen != 1)
        {
            throw new ArgumentException("Restore needs exactly one of a user, a session or all.", nameof(request));
        }

        if (request.BatchSize is < 1 or > 100_000)
        {
            throw new ArgumentException($"Batch size must be between 1 and 100000 (was {request.BatchSize}).", nameof(request));
        }

        var scope = request.UserId is { } u ? ArchiveScope.ForUser(u) : request.SessionId is { } s ? ArchiveScope.ForSession(s) : ArchiveScope.All;
        var started = _timeProvider.GetTimestamp();
        var report = new RestoreReport { Scope = scope, DryRun = request.DryRun, Entities = [] };
        var offloaded = await _postgres.Calls.RunAsync(ct => _offloads.OffloadedAsync(scope, ct), cancellationToken);
        var keepOffloaded = scope.Kind == ScopeKind.All && !request.IncludeOffloaded;
        foreach (var entity in _entities.All.Where(scope.Includes))
        {
            var result = new EntityRestoreResult { Entity = entity.Name };
            report.Entities.Add(result);
            var exclude = keepOffloaded && offloaded.Count > 0 ? $"NOT {_offloads.BelongsToOffloadedSql(entity)}" : null;
            await RestoreEntityAsync(entity, scope, request, exclude, result, cancellationToken);
            Log.RestoreEntityFinished(_logger, entity.Name, scope.Kind == ScopeKind.All ? "all" : $"{scope.Kind.ToString().ToLowerInvariant()} {scope.Id}",
                request.DryRun ? ", dry run" : string.Empty, result.Written, result.Skipped);
        }

        if (!request.DryRun && offloaded.Count > 0)
        {
            await SettleOffloadedAsync(offloaded, keepOffloaded, report, cancellationToken);
        }
        else if (keepOffloaded)
        {
            report.OffloadedKept = offloaded.Count;
        }
        else
        {
            report.OffloadedRestored = offloaded.Count;
        }

        report.DurationMs = _timeProvider.GetElapsedTime(started).TotalMilliseconds;
        return report;
    }

    /// <summary>
    /// Offloaded sessions in scope after their rows were written: restored ones lose their marker and their ledger row
    /// (only when no row was refused, else the app would find a marker-less, incomplete session); kept ones (<c>--all</c>)
    /// get their marker written again, since a Redis that lost its data lost the markers too.
    /// </summary>
    private async Task SettleOffloadedAsync(
        List<(string SessionId, string UserId, DateTimeOffset OffloadedAt)> offloaded, bool keep, RestoreReport report, CancellationToken cancellationToken)
    {
        var database = _redis.Connection.GetDatabase();
        if (keep)
        {
            await _redis.Calls.RunAsync(
                ct => Task.WhenAll(offloaded.Select(o => database.HashSetAsync(
                    _redis.Layout.OffloadMarkerKey(o.UserId), o.SessionId, o.OffloadedAt.ToUnixTimeMilliseconds()))).WaitAsync(ct),
                cancellationToken);
            report.OffloadedKept = offloaded.Count;
            return;
        }

        if (report.Refused > 0)
        {
            return;
        }

        // Only sessions the archive still holds came back: an offloaded session whose rows are gone keeps its marker and
        // ledger row, so verify goes on reporting it as offloaded-but-missing instead of the evidence disappearing.
        var held = await _postgres.Calls.RunAsync(ct => _offloads.ArchivedSessionsAsync([.. offloaded.Select(o => o.SessionId)], ct), cancellationToken);
        var restored = offloaded.Where(o => held.Contains(o.SessionId)).ToList();
        await _redis.Calls.RunAsync(
            ct => Task.WhenAll(restored.Select(o => database.HashDeleteAsync(_redis.Layout.OffloadMarkerKey(o.UserId), o.SessionId))).WaitAsync(ct),
            cancellationToken);
        await _postgres.Calls.RunAsync(ct => _offloads.ForgetAsync([.. restored.Select(o => o.SessionId)], ct), cancellationToken);
        report.OffloadedRestored = restored.Count;
        Log.OffloadMarkersCleared(_logger, restored.Count);
    }

    private async Task RestoreEntityAsync(
        EntityDescriptor entity, ArchiveScope scope, RestoreRequest request, string? exclude, EntityRestoreResult result, CancellationToken cancellationToken)
    {
        var database = _redis.Connection.GetDatabase();
        await foreach (var rows in ArchivedRows.PagesAsync(_postgres, entity, scope, request.BatchSize, cancellationToken, whereSql: exclude))
        {
            result.Rows += rows.Count;
            var records = rows.Select(r => (r.Id, Record: ArchivedRecordFields.From(r))).ToList();
            if (request.DryRun)
            {
                // What the writer's if-newer compares with: the id's newest index entry, in whichever stream of a
                // sharded entity it sits (docs/scaling.md).
                var scores = await _redis.Calls.RunAsync(
                    async ct =>
                    {
                        var shards = await ShardLayout.ReadAsync(database, _redis.Layout, ct);
                        return await shards.NewestScoresAsync(database, _redis.Layout, entity, [.. records.Select(r => r.Id)]).WaitAsync(ct);
                    },
                    cancellationToken);
                var wouldWrite = scores.Select((score, i) => score is not { } current || current < records[i].Record.UpdatedAtMs).Count(w => w);
                result.Written += wouldWrite;
                result.Skipped += records.Count - wouldWrite;
            }
            else
            {
                // A retry rewrites the same versions: onlyIfNewer makes it a no-op for the ones already written.
                var outcomes = await _redis.Calls.RunAsync(
                    ct =>
                    {
                        var batch = database.CreateBatch();
                        var writes = records
                            .Select(r => RefusableAsync(_writer.WriteAsync(batch, entity, r.Id, r.Record.Fields, r.Record.UpdatedAtMs, WriteMode.Replace, onlyIfNewer: true)))
                            .ToArray();
                        batch.Execute();
                        return Task.WhenAll(writes).WaitAsync(ct);
                    },
                    cancellationToken);
                for (var i = 0; i < outcomes.Length; i++)
                {
                    var (outcome, refusal) = outcomes[i];
                    if (refusal is not null)
                    {
                        result.Refused++;
                        if (result.Refusals.Count < RefusalsListed)
                        {
                            result.Refusals.Add(new RestoreRefusal(records[i].Id, refusal));
                        }

                        Log.RestoreRecordRefused(_logger, entity.Name, records[i].Id, refusal);
                    }
                    else if (outcome.Written)
                    {
                        result.Written++;
                    }
                    else
                    {
                        result.Skipped++;
                    }
                }
            }
        }
    }

    /// <summary>A write the script refused (<c>ERR nexus: …</c>) is an answer about that row, not a failure of the call.</summary>
    private static async Task<(WriteResult Outcome, string? Refusal)> RefusableAsync(Task<WriteResult> write)
    {
        try
        {
            return (await write, null);
        }
        catch (RedisServerException ex) when (ex.Message.Contains("nexus: ", StringComparison.Ordinal))
        {
            return (default, ex.Message);
        }
    }
}
