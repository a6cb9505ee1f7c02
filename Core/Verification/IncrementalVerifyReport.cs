using System.Text.Json.Serialization;

namespace NexusArchive.Core.Verification;

/// <summary>What one run of the incremental verify covers.</summary>
/// <param name="Trigger">Who started it (<c>timer</c>, <c>cli</c>, <c>test</c>…), as recorded in <c>{bookkeeping}.verifications</c>.</param>
/// <param name="Entities">Entity names; null or empty = <c>Archive:Entities</c> (empty = all four).</param>
/// <param name="BatchSize">Index entries and SCAN <c>COUNT</c> per Redis call, and ids per PostgreSQL lookup.</param>
/// <param name="SamplesPerCategory">How many example ids to keep per category.</param>
public sealed record IncrementalVerifyRequest(
    string Trigger,
    IReadOnlyList<string>? Entities = null,
    int BatchSize = 1000,
    int SamplesPerCategory = 5);

/// <summary>
/// Part (a) of a run for one entity: the change-index entries after the last verified point, up to the committed
/// checkpoint and Redis-now minus the settle window (what a pass has archived by now), at most
/// <c>Archive:Verify:MaxRecordsPerRun</c>. Scores are epoch ms; another client may have written ±infinity into an index,
/// which JSON spells as a string.
/// </summary>
[JsonNumberHandling(JsonNumberHandling.AllowNamedFloatingPointLiterals)]
public sealed class ChangesSlice
{
    /// <summary>Entries after this score were read (null = from the first entry of the index).</summary>
    public double? AfterScore { get; init; }

    /// <summary>The upper end of this run's window (epoch ms); null when the entity was never archived (nothing is due).</summary>
    public double? UntilScore { get; set; }

    /// <summary>Where the next run continues: the last entry read (null = from the first entry).</summary>
    public double? NextAfterScore { get; set; }

    /// <summary>Index entries read.</summary>
    public long Entries { get; set; }

    /// <summary>Of those, records classified (the others' hashes were gone).</summary>
    public long Checked { get; set; }

    /// <summary>True when the run reached the upper end of the window; false when <c>MaxRecordsPerRun</c> stopped it first.</summary>
    public bool CaughtUp { get; set; }
}

/// <summary>
/// Part (b) of a run for one entity: the rolling slice of the keyspace, a <c>SCAN</c> cursor continued from run to run
/// for about <c>Archive:Verify:ScanKeysPerRun</c> record keys. It finds what the change index cannot show: a hash
/// written around the record writer (without an index entry, or with a stale score).
/// </summary>
public sealed class KeyspaceSlice
{
    /// <summary>The SCAN cursor this run started at ("0" = a new walk).</summary>
    public required string CursorFrom { get; init; }

    /// <summary>The SCAN cursor the next run continues at ("0" = this run completed a walk; the next starts a new one).</summary>
    public string CursorTo { get; set; } = "0";

    /// <summary>Record keys SCAN returned.</summary>
    public long Keys { get; set; }

    /// <summary>Of those, records classified (the others were gone or not hashes).</summary>
    public long Checked { get; set; }

    /// <summary>True when this run reached the end of a walk over the keyspace.</summary>
    public bool WalkCompleted { get; set; }
}

/// <summary>One entity's part of an incremental run: both slices, and the classification of every record checked.</summary>
public sealed class EntityIncrementalResult
{
    internal EntityIncrementalResult(string entity, ChangesSlice changes, KeyspaceSlice keyspace)
    {
        Entity = entity;
        Changes = changes;
        Keyspace = keyspace;
        Tally = new EntityVerifyResult { Entity = entity };
    }

    public string Entity { get; }

    /// <summary>
    /// Part (a). For a sharded entity (docs/scaling.md) the scores are those of its unsharded stream and the counts are
    /// summed over all its streams (caught up when every stream is); <see cref="ShardChanges"/> has each shard's slice.
    /// </summary>
    public ChangesSlice Changes { get; }

    /// <summary>Part (a) of each shard of a sharded entity's change stream, by shard (<c>3of4</c>); null when unsharded.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, ChangesSlice>? ShardChanges { get; internal set; }

    public KeyspaceSlice Keyspace { get; }

    /// <summary>Records per category, over both slices (a record both slices read counts twice).</summary>
    public Dictionary<VerifyCategory, long> Counts => Tally.Counts;

    /// <summary>A few example ids per non-empty category other than Equal.</summary>
    public Dictionary<VerifyCategory, List<string>> Samples => Tally.Samples;

    public long RecordsChecked => Tally.RecordsChecked;

    public long Gaps => Tally.Gaps;

    public long Differences => Tally.Differences;

    /// <summary>The classification counts, as the full verify keeps them.</summary>
    internal EntityVerifyResult Tally { get; }
}

/// <summary>The outcome of one incremental run: <see cref="Ok"/> is the alertable invariant (no gap, no difference, no error).</summary>
public sealed class IncrementalVerifyReport
{
    /// <summary>This run's row in <c>{bookkeeping}.verifications</c> (0 when it could not even be recorded).</summary>
    public long VerificationId { get; set; }

    public required string Trigger { get; init; }

    public required DateTimeOffset StartedAt { get; init; }

    public DateTimeOffset? RedisNow { get; set; }

    public VerificationStatus Status { get; set; } = VerificationStatus.Running;

    /// <summary>The redacted error of a failed run.</summary>
    public string? Error { get; set; }

    public List<EntityIncrementalResult> Entities { get; } = [];

    public double DurationMs { get; set; }

    public long RecordsChecked => Entities.Sum(e => e.RecordsChecked);

    public long Gaps => Entities.Sum(e => e.Gaps);

    public long Differences => Entities.Sum(e => e.Differences);

    /// <summary>A few <c>entity:id</c> of records with a gap or a difference.</summary>
    public IReadOnlyList<string> ExampleIds { get; set; } = [];

    public bool Ok => Status == VerificationStatus.Succeeded && Gaps == 0 && Differences == 0;
}
