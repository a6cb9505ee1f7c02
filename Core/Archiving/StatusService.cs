using System.Text.Json;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Cost;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Source;
using NexusArchive.Core.Resilience;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Verification;

namespace NexusArchive.Core.Archiving;

/// <summary>Per-entity state of the archive.</summary>
public sealed record EntityStatus(
    string Entity,
    double? CheckpointScore,
    DateTimeOffset? Checkpoint,
    double? LagMs,
    long Backlog,
    long ArchivedRows,
    long OpenDeadLetters,
    bool Leased);

/// <summary>A past run as run history holds it.</summary>
public sealed record RunSummary(Guid RunId, string Trigger, DateTimeOffset StartedAt, DateTimeOffset? FinishedAt, string Status, string? Error, JsonElement Entities);

/// <summary>What <c>status</c> (CLI and HTTP) reports.</summary>
/// <param name="RedisNow">"Now" on the Redis server.</param>
/// <param name="Entities">Per-entity state.</param>
/// <param name="RecentRuns">The newest <c>Archive:StatusRunCount</c> runs.</param>
/// <param name="OpenDeadLetters">Open dead letters over all entities.</param>
/// <param name="LastVerification">The newest finished verification (full or incremental); null when none has finished yet.</param>
/// <param name="Offload">Cold storage: sessions offloaded now, the memory they freed, and the last offload run (null when none ran).</param>
public sealed record ArchiveStatus(
    DateTimeOffset RedisNow,
    IReadOnlyList<EntityStatus> Entities,
    IReadOnlyList<RunSummary> RecentRuns,
    long OpenDeadLetters,
    VerificationSummary? LastVerification,
    OffloadSummary Offload)
{
    /// <summary>
    /// What the archive costs: storage per table now, growth and Redis commands per day over <c>Archive:Cost:GrowthWindow</c>,
    /// projections for 30 and 365 days (the same report as <c>cost</c>).
    /// </summary>
    public CostReport? Cost { get; init; }
}

/// <summary>Cold storage in status: what is offloaded now and how the last (non-dry) offload run went.</summary>
public sealed record OffloadSummary(long OffloadedSessions, long BytesFreed, OffloadRunSummary? LastRun);

/// <summary>Reads checkpoints, lag, backlog, recent runs, open dead letters, the last verification and what the archive costs (every call through the retry pipelines).</summary>
public sealed class StatusService
{
    private readonly EntityCatalog _entities;
    private readonly CheckpointStore _checkpoints;
    private readonly DeadLetterStore _deadLetters;
    private readonly RunHistory _runs;
    private readonly VerificationHistory _verifications;
    private readonly OffloadLedger _offloads;
    private readonly ArchivedRowCounter _rows;
    private readonly CostService _cost;
    private readonly IChangeSource _source;
    private readonly PostgresCalls _postgres;
    private readonly IOptions<ArchiveOptions> _options;

    internal StatusService(
        EntityCatalog entities,
        CheckpointStore checkpoints,
        DeadLetterStore deadLetters,
        RunHistory runs,
        VerificationHistory verifications,
        OffloadLedger offloads,
        ArchivedRowCounter rows,
        CostService cost,
        IChangeSource source,
        PostgresCalls postgres,
        IOptions<ArchiveOptions> options)
    {
        _entities = entities;
        _checkpoints = checkpoints;
        _deadLetters = deadLetters;
        _runs = runs;
        _verifications = verifications;
        _offloads = offloads;
        _rows = rows;
        _cost = cost;
        _source = source;
        _postgres = postgres;
        _options = options;
    }

    /// <summary>Builds the status report.</summary>
    public async Task<ArchiveStatus> GetAsync(CancellationToken cancellationToken)
    {
        var redisNow = await _source.GetServerTimeAsync(cancellationToken);
        var checkpoints = await _postgres.RunAsync(ct => _checkpoints.ReadAllAsync(ct), cancellationToken);
        var deadLetters = await _postgres.RunAsync(ct => _deadLetters.CountOpenAsync(ct), cancellationToken);

        var entities = new List<EntityStatus>();
        foreach (var entity in _entities.All)
        {
            var state = checkpoints.GetValueOrDefault(entity.Name);
            var score = state?.Checkpoint?.Score;
            var hasScore = score is { } s && double.IsFinite(s);
            var after = hasScore ? score!.Value : double.NegativeInfinity;
            var backlog = await _source.CountAfterAsync(entity, after, cancellationToken);
            var oldestPending = await _source.ReadBeyondAsync(entity, after, 1, cancellationToken);
            var rows = await _postgres.RunAsync(ct => _rows.CountAsync(entity, ct), cancellationToken);

            entities.Add(new EntityStatus(
                entity.Name,
                hasScore ? score : null,
                hasScore ? DateTimeOffset.FromUnixTimeMilliseconds((long)score!.Value) : null,
                // Lag: how long the oldest change not yet archived has waited (0 when caught up).
                oldestPending.Count == 0 ? 0 : Math.Max(0, redisNow.ToUnixTimeMilliseconds() - oldestPending[0].Score),
                backlog,
                rows,
                deadLetters.GetValueOrDefault(entity.Name),
                state?.Leased ?? false));
        }

        var runs = await _postgres.RunAsync(ct => _runs.RecentAsync(_options.Value.StatusRunCount, ct), cancellationToken);
        var lastVerification = await _postgres.RunAsync(ct => _verifications.LatestFinishedAsync(ct), cancellationToken);
        var (lastOffload, offloadedSessions, bytesFreed) = await _postgres.RunAsync(ct => _offloads.SummaryAsync(ct), cancellationToken);
        var cost = await _cost.GetAsync(window: null, entities.ToDictionary(e => e.Entity, e => e.ArchivedRows, StringComparer.Ordinal), cancellationToken);
        return new ArchiveStatus(redisNow, entities, runs, deadLetters.Values.Sum(), lastVerification, new OffloadSummary(offloadedSessions, bytesFreed, lastOffload))
        {
            Cost = cost,
        };
    }
}
