using System.Text.Json.Serialization;

namespace NexusArchive.Core.Archiving;

/// <summary>How a run or an entity within it ended.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RunStatus>))]
public enum RunStatus
{
    /// <summary>Still running (only seen in run history while a pass is live or after a crash).</summary>
    Running,

    /// <summary>Everything due was archived.</summary>
    Succeeded,

    /// <summary>Stopped between pages (time budget or shutdown); the committed checkpoint is exact, the next pass continues.</summary>
    Partial,

    /// <summary>Another pass held an entity; nothing was done for it.</summary>
    Conflict,

    /// <summary>An error stopped the pass; committed pages stay committed.</summary>
    Failed,

    /// <summary>Not attempted in this run (an earlier entity failed or the budget ran out first).</summary>
    Skipped,
}

/// <summary>What a caller asks of one pass.</summary>
/// <param name="Trigger">Who started it: <c>cli</c>, <c>timer</c>, <c>http</c>, <c>test</c>…</param>
/// <param name="Entities">Entity names to archive; null or empty = <c>Archive:Entities</c> or all.</param>
/// <param name="MaxDuration">A budget tighter than <c>Archive:TimeBudget</c>, if any.</param>
public sealed record ArchiveRunRequest(string Trigger, IReadOnlyList<string>? Entities = null, TimeSpan? MaxDuration = null)
{
    /// <summary>
    /// Work one shard of the one entity in <see cref="Entities"/> (docs/scaling.md): shard <see cref="Shard"/> of
    /// <see cref="ShardCount"/>, or of the entity's current count when that is null. Shard 0 of 1 is the entity's
    /// unsharded stream. Null: every stream of every entity asked for.
    /// </summary>
    public int? Shard { get; init; }

    /// <inheritdoc cref="Shard"/>
    public int? ShardCount { get; init; }
}

/// <summary>Counts for one entity in one run.</summary>
public sealed class EntityRunStats
{
    public required string Entity { get; init; }

    /// <summary>The shard of the entity's change stream this pass worked (<c>3of4</c>); null for the unsharded stream.</summary>
    public string? Shard { get; init; }

    public RunStatus Status { get; set; } = RunStatus.Skipped;

    /// <summary>Change-index entries read (including re-reads in the look-back overlap).</summary>
    public long Read { get; set; }

    /// <summary>Rows inserted or replaced by a newer version.</summary>
    public long Upserted { get; set; }

    /// <summary>Rows already archived at this version or newer (overlap re-reads, replays).</summary>
    public long Unchanged { get; set; }

    /// <summary>Index entries whose hash was gone (expired, evicted, deleted): counted, not an error, not a delete.</summary>
    public long Vanished { get; set; }

    /// <summary>Late-set entries drained: writes stamped at or behind where a pass had read (archived at any age).</summary>
    public long Late { get; set; }

    /// <summary>Records that went to the dead-letter table.</summary>
    public long DeadLettered { get; set; }

    /// <summary>Pages committed.</summary>
    public int Pages { get; set; }

    /// <summary>The committed checkpoint score (epoch ms) after the run, if any.</summary>
    public double? CheckpointScore { get; set; }

    /// <summary>0 when the entity is caught up after the run; otherwise Redis-now minus the checkpoint, in milliseconds.</summary>
    public double? LagMs { get; set; }

    /// <summary>
    /// Redis commands this entity's pass sent (each command of a pipeline or transaction counts once, a script call
    /// counts once): what Upstash bills. Stored in run history, summed by <c>cost</c>.
    /// </summary>
    public long RedisCommands { get; set; }
}

/// <summary>The summary of one pass, as stored in run history and returned to CLI and HTTP callers.</summary>
public sealed class ArchiveRunResult
{
    public required Guid RunId { get; init; }

    public required string Trigger { get; init; }

    public required DateTimeOffset StartedAt { get; init; }

    public DateTimeOffset? FinishedAt { get; set; }

    public RunStatus Status { get; set; } = RunStatus.Running;

    /// <summary>A redacted, operator-readable error (no connection strings or secrets).</summary>
    public string? Error { get; set; }

    public List<EntityRunStats> Entities { get; init; } = [];

    [JsonIgnore]
    public TimeSpan Duration => (FinishedAt ?? StartedAt) - StartedAt;

    public double DurationMs => Duration.TotalMilliseconds;

    public long TotalRead => Entities.Sum(e => e.Read);

    public long TotalUpserted => Entities.Sum(e => e.Upserted);

    public long TotalDeadLettered => Entities.Sum(e => e.DeadLettered);
}
