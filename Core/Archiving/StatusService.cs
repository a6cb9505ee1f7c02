using System.Text.Json;
using System.Text.Json.Serialization;
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

/// <summary>
/// Per-entity state of the archive. For an entity with more than one change stream (shards: docs/scaling.md) the
/// checkpoint is the oldest of the streams the writers write to now (null until each has one), the lag the longest of
/// all its streams, the backlog their sum and leased whether any is; <see cref="Streams"/> has each stream.
/// </summary>
public sealed record EntityStatus(
    string Entity,
    double? CheckpointScore,
    DateTimeOffset? Checkpoint,
    double? LagMs,
    long Backlog,
    long ArchivedRows,
    long OpenDeadLetters,
    bool Leased)
{
    /// <summary>The entity's shard layout; null when the entity has only its unsharded stream.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ShardStatus? Shards { get; init; }

    /// <summary>One line per change stream (the unsharded one, each shard, each shard draining, and any stream outside the layout that still holds entries); null when the entity has only its unsharded stream.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<StreamStatus>? Streams { get; init; }
}

/// <summary>An entity's shard layout (<c>{prefix}:archive:shards</c>).</summary>
/// <param name="Count">The shards the writers write to now (1: the unsharded stream).</param>
/// <param name="Draining">The count of the layout a reshard is draining; null when none.</param>
/// <param name="LeftToDrain">Change-index entries still in the streams the writers have left (the draining shards, and the unsharded stream of a sharded entity): they move to the current shards as passes archive them.</param>
public sealed record ShardStatus(int Count, int? Draining, long LeftToDrain);

/// <summary>What a change stream is to the writers.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<StreamRole>))]
public enum StreamRole
{
    /// <summary>The writers write here now.</summary>
    Current,

    /// <summary>The writers have left it (a reshard, or the unsharded stream of a sharded entity): passes archive and drain it.</summary>
    Draining,

    /// <summary>Not in the shard layout, yet its index still holds entries no pass works: look into it (docs/scaling.md).</summary>
    NotInLayout,
}

/// <summary>One change stream of an entity.</summary>
/// <param name="Stream">Its name in the bookkeeping: <c>message</c>, or <c>message.3of4</c>.</param>
/// <param name="Shard"><c>3of4</c>; null for the unsharded stream.</param>
/// <param name="Role">Current, draining, or outside the layout.</param>
/// <param name="CheckpointScore">Its committed checkpoint; null = never archived.</param>
/// <param name="Checkpoint">The same as a time.</param>
/// <param name="LagMs">How long its oldest change not yet archived has waited (0 when caught up).</param>
/// <param name="Backlog">Its index entries after the checkpoint.</param>
/// <param name="Entries">All its index entries.</param>
/// <param name="Leased">A pass holds its lease now.</param>
public sealed record StreamStatus(
    string Stream, string? Shard, StreamRole Role, double? CheckpointScore, DateTimeOffset? Checkpoint, double? LagMs, long Backlog, long Entries, bool Leased);

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

        var shards = await _source.GetShardLayoutAsync(cancellationToken);

        var entities = new List<EntityStatus>();
        foreach (var entity in _entities.All)
        {
            var rows = await _postgres.RunAsync(ct => _rows.CountAsync(entity, ct), cancellationToken);
            var streams = await StreamsOfAsync(entity, shards, checkpoints, redisNow, cancellationToken);
            if (streams.Count == 1 && streams[0].Shard is null)
            {
                var whole = streams[0];
                entities.Add(new EntityStatus(
                    entity.Name, whole.CheckpointScore, whole.Checkpoint, whole.LagMs, whole.Backlog, rows, deadLetters.GetValueOrDefault(entity.Name), whole.Leased));
                continue;
            }

            var current = streams.Where(s => s.Role == StreamRole.Current).ToList();
            var checkpoint = current.All(s => s.CheckpointScore is not null) ? current.Min(s => s.CheckpointScore) : null;
            var (count, draining) = shards.Of(entity);
            entities.Add(new EntityStatus(
                entity.Name,
                checkpoint,
                checkpoint is { } c ? DateTimeOffset.FromUnixTimeMilliseconds((long)c) : null,
                streams.Max(s => s.LagMs),
                streams.Sum(s => s.Backlog),
                rows,
                deadLetters.GetValueOrDefault(entity.Name),
                streams.Any(s => s.Leased))
            {
                Shards = new ShardStatus(count, draining, streams.Where(s => s.Role == StreamRole.Draining).Sum(s => s.Entries)),
                Streams = streams,
            });
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

    /// <summary>
    /// The entity's change streams with their checkpoint, lag and backlog: those of the shard layout, and any other stream
    /// a pass once worked (it has a checkpoint row, <c>message.1of8</c>) whose index still holds entries. An entity with
    /// only its unsharded stream gets exactly the one line status always showed.
    /// </summary>
    private async Task<List<StreamStatus>> StreamsOfAsync(
        EntityDescriptor entity, ShardLayout shards, IReadOnlyDictionary<string, CheckpointState> checkpoints, DateTimeOffset redisNow, CancellationToken cancellationToken)
    {
        var inLayout = shards.StreamsOf(entity);
        var known = inLayout.Select(s => s.FeedName).ToHashSet(StringComparer.Ordinal);
        var others = checkpoints.Keys
            .Where(k => !known.Contains(k) && k.StartsWith(entity.Name + ".", StringComparison.Ordinal))
            .Select(k => ChangeShard.TryParse(k[(entity.Name.Length + 1)..], out var shard) ? entity.ForShard(shard.Index, shard.Count) : null)
            .OfType<EntityDescriptor>()
            .OrderBy(s => s.Shard!.Value.Count).ThenBy(s => s.Shard!.Value.Index)
            .ToList();
        var sharded = inLayout.Count > 1;

        var streams = new List<StreamStatus>();
        foreach (var stream in inLayout.Concat(others))
        {
            var role = !known.Contains(stream.FeedName) ? StreamRole.NotInLayout : shards.IsDraining(stream) ? StreamRole.Draining : StreamRole.Current;
            var entries = sharded || role == StreamRole.NotInLayout ? await _source.CountAfterAsync(stream, double.NegativeInfinity, cancellationToken) : 0;
            if (role == StreamRole.NotInLayout && entries == 0)
            {
                continue; // an old layout's stream, drained and retired
            }

            var state = checkpoints.GetValueOrDefault(stream.FeedName);
            var score = state?.Checkpoint?.Score;
            var hasScore = score is { } s && double.IsFinite(s);
            var after = hasScore ? score!.Value : double.NegativeInfinity;
            var backlog = await _source.CountAfterAsync(stream, after, cancellationToken);
            var oldestPending = await _source.ReadBeyondAsync(stream, after, 1, cancellationToken);
            streams.Add(new StreamStatus(
                stream.FeedName,
                stream.Shard?.Label,
                role,
                hasScore ? score : null,
                hasScore ? DateTimeOffset.FromUnixTimeMilliseconds((long)score!.Value) : null,
                // Lag: how long the oldest change not yet archived has waited (0 when caught up).
                oldestPending.Count == 0 ? 0 : Math.Max(0, redisNow.ToUnixTimeMilliseconds() - oldestPending[0].Score),
                backlog,
                entries,
                state?.Leased ?? false));
        }

        return streams;
    }
}
