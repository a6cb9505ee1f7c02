using Microsoft.Extensions.Logging;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Resilience;
using NexusArchive.Core.Source;
using NexusArchive.Core.Verification;
using Npgsql;
using StackExchange.Redis;

namespace NexusArchive.Core.Restore;

/// <summary>What to bring back into Redis: exactly one of a user, a session or everything.</summary>
/// <param name="UserId">The user, their sessions, and those sessions' messages and attachments.</param>
/// <param name="SessionId">The session, its messages and their attachments.</param>
/// <param name="All">Every archived record.</param>
/// <param name="DryRun">Only report what would be written and skipped.</param>
/// <param name="BatchSize">Rows read per PostgreSQL page and written per Redis pipeline.</param>
public sealed record RestoreRequest(string? UserId = null, string? SessionId = null, bool All = false, bool DryRun = false, int BatchSize = 1000);

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
}

/// <summary>
/// Rehydrates Redis from the archive through the Lua record writer (<see cref="RecordWriter"/>), parents first.
/// Every write is <see cref="WriteMode.Replace"/> with <c>onlyIfNewer</c> and the row's own <c>updated_at</c> as the
/// change score: a restored record looks exactly as it did when archived (soft-deleted state included), it sits
/// behind the checkpoint so no pass re-archives it, and a newer version already in Redis is never overwritten.
/// A row the writer refuses (for example a timestamp archived before the writer checked it) is counted and reported
/// with the writer's reason, and the restore goes on: one bad row must not keep the rest of a user's history out of Redis.
/// </summary>
public sealed class RestoreService(
    IConnectionMultiplexer redis,
    NpgsqlDataSource dataSource,
    PostgresCalls postgresCalls,
    RedisCalls redisCalls,
    RecordWriter writer,
    RedisLayout layout,
    SchemaNames schemas,
    TimeProvider timeProvider,
    ILogger<RestoreService> logger)
{
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
        var started = timeProvider.GetTimestamp();
        var report = new RestoreReport { Scope = scope, DryRun = request.DryRun, Entities = [] };
        foreach (var entity in EntityCatalog.All.Where(scope.Includes))
        {
            var result = new EntityRestoreResult { Entity = entity.Name };
            report.Entities.Add(result);
            await RestoreEntityAsync(entity, scope, request, result, cancellationToken);
            Log.RestoreEntityFinished(logger, entity.Name, scope.Kind == ScopeKind.All ? "all" : $"{scope.Kind.ToString().ToLowerInvariant()} {scope.Id}",
                request.DryRun ? ", dry run" : string.Empty, result.Written, result.Skipped);
        }

        report.DurationMs = timeProvider.GetElapsedTime(started).TotalMilliseconds;
        return report;
    }

    private async Task RestoreEntityAsync(EntityDescriptor entity, ArchiveScope scope, RestoreRequest request, EntityRestoreResult result, CancellationToken cancellationToken)
    {
        var database = redis.GetDatabase();
        await foreach (var rows in ArchivedRows.PagesAsync(dataSource, postgresCalls, entity, schemas, scope, request.BatchSize, idsOnly: false, cancellationToken))
        {
            result.Rows += rows.Count;
            var records = rows.Select(r => (Id: (string)r[0]!, Record: ArchivedRecordFields.From(entity, r))).ToList();
            if (request.DryRun)
            {
                var index = layout.ChangeIndexKey(entity);
                var scores = await redisCalls.RunAsync(
                    ct => Task.WhenAll(records.Select(r => database.SortedSetScoreAsync(index, r.Id))).WaitAsync(ct), cancellationToken);
                var wouldWrite = scores.Select((score, i) => score is not { } current || current < records[i].Record.UpdatedAtMs).Count(w => w);
                result.Written += wouldWrite;
                result.Skipped += records.Count - wouldWrite;
            }
            else
            {
                // A retry rewrites the same versions: onlyIfNewer makes it a no-op for the ones already written.
                var outcomes = await redisCalls.RunAsync(
                    ct =>
                    {
                        var batch = database.CreateBatch();
                        var writes = records
                            .Select(r => RefusableAsync(writer.WriteAsync(batch, entity, r.Id, r.Record.Fields, r.Record.UpdatedAtMs, WriteMode.Replace, onlyIfNewer: true)))
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

                        Log.RestoreRecordRefused(logger, entity.Name, records[i].Id, refusal);
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
