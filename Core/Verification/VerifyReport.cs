using System.Text.Json.Serialization;

namespace NexusArchive.Core.Verification;

/// <summary>How one record compares between Redis and PostgreSQL. Every record lands in exactly one category.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<VerifyCategory>))]
public enum VerifyCategory
{
    /// <summary>In both, same content hash.</summary>
    Equal,

    /// <summary>In both; Redis holds a newer version that was due and is not archived. A real difference.</summary>
    PostgresOlder,

    /// <summary>In both; PostgreSQL holds a newer version than Redis (Redis went back in time). A real difference.</summary>
    PostgresNewer,

    /// <summary>In both with the same updatedAt but different content (a write that bypassed the record writer). A real difference.</summary>
    ContentDiffers,

    /// <summary>Only in Redis, or newer in Redis, but not yet due: after the checkpoint or inside the settle window. Expected.</summary>
    Pending,

    /// <summary>Only in Redis although due (at or before the checkpoint). A real gap.</summary>
    Gap,

    /// <summary>A hash without a change-index entry whose version is not archived: a pass cannot see it until <c>backfill</c> runs. A real gap.</summary>
    Unindexed,

    /// <summary>The Redis version cannot be archived and has an open (or discarded) dead letter. Handled, not a gap.</summary>
    DeadLettered,

    /// <summary>Only in PostgreSQL: expired or deleted from Redis. Expected for an archive.</summary>
    OnlyInPostgres,

    /// <summary>Only in PostgreSQL because its chat session was offloaded to cold storage. Expected.</summary>
    Offloaded,

    /// <summary>
    /// Its chat session was offloaded, yet the archive holds fewer rows of this entity for it than when it left Redis:
    /// the only copy is gone. Counted per missing row; a real gap, the most serious one.
    /// </summary>
    OffloadedMissing,
}

/// <summary>What a verify covers.</summary>
/// <param name="Entities">Entity names; null or empty = all four.</param>
/// <param name="UserId">Only this user and everything under them.</param>
/// <param name="SessionId">Only this session and everything under it.</param>
/// <param name="BatchSize">Keys per Redis SCAN call and ids per PostgreSQL page.</param>
/// <param name="SamplesPerCategory">How many example ids to keep per category (memory stays flat either way).</param>
/// <param name="Trigger">Who asked, as recorded in <c>{bookkeeping}.verifications</c>: <c>cli</c>, <c>http</c>, …</param>
public sealed record VerifyRequest(
    IReadOnlyList<string>? Entities = null,
    string? UserId = null,
    string? SessionId = null,
    int BatchSize = 1000,
    int SamplesPerCategory = 5,
    string Trigger = "manual");

/// <summary>Counts per category for one entity, with a few example ids each.</summary>
public sealed class EntityVerifyResult
{
    public required string Entity { get; init; }

    /// <summary>Record hashes seen in Redis (in scope).</summary>
    public long RedisRecords { get; set; }

    /// <summary>Rows seen in PostgreSQL (in scope).</summary>
    public long PostgresRows { get; set; }

    /// <summary>Records per category (every category present, zeros included).</summary>
    public Dictionary<VerifyCategory, long> Counts { get; init; } = Enum.GetValues<VerifyCategory>().ToDictionary(c => c, _ => 0L);

    /// <summary>Up to <see cref="VerifyRequest.SamplesPerCategory"/> example ids per non-empty category other than Equal.</summary>
    public Dictionary<VerifyCategory, List<string>> Samples { get; init; } = [];

    /// <summary>Records due but missing from the archive (<see cref="VerifyCategory.Gap"/>, <see cref="VerifyCategory.Unindexed"/>, <see cref="VerifyCategory.OffloadedMissing"/>).</summary>
    public long Gaps => Counts[VerifyCategory.Gap] + Counts[VerifyCategory.Unindexed] + Counts[VerifyCategory.OffloadedMissing];

    /// <summary>Records archived with other content than Redis holds and no pending change to explain it.</summary>
    public long Differences => Counts[VerifyCategory.PostgresOlder] + Counts[VerifyCategory.PostgresNewer] + Counts[VerifyCategory.ContentDiffers];

    /// <summary>Records checked: every record lands in exactly one category.</summary>
    public long RecordsChecked => Counts.Values.Sum();

    /// <summary>The categories that count as a gap or a difference.</summary>
    internal static readonly VerifyCategory[] ProblemCategories =
    [
        VerifyCategory.OffloadedMissing, VerifyCategory.Gap, VerifyCategory.Unindexed, VerifyCategory.PostgresOlder, VerifyCategory.PostgresNewer, VerifyCategory.ContentDiffers,
    ];

    /// <summary>The example ids kept for gaps and differences, gaps first.</summary>
    internal IEnumerable<string> ProblemSamples() =>
        ProblemCategories.SelectMany(c => Samples.TryGetValue(c, out var ids) ? ids : []);

    internal void Add(VerifyCategory category, string id, int samples, long count = 1)
    {
        Counts[category] += count;
        if (category == VerifyCategory.Equal || samples <= 0)
        {
            return;
        }

        if (!Samples.TryGetValue(category, out var list))
        {
            Samples[category] = list = [];
        }

        if (list.Count < samples)
        {
            list.Add(id);
        }
    }
}

/// <summary>Messages per session on each side (for <c>--user</c> and <c>--session</c>).</summary>
public sealed record SessionMessageCount(string SessionId, long Redis, long Postgres)
{
    public bool Matches => Redis == Postgres;
}

/// <summary>The outcome of a verify: <see cref="Ok"/> is the alertable invariant (no gap, no difference).</summary>
public sealed class VerifyReport
{
    /// <summary>This verify's row in <c>{bookkeeping}.verifications</c>.</summary>
    public long VerificationId { get; init; }

    public required DateTimeOffset RedisNow { get; init; }

    public required ArchiveScope Scope { get; init; }

    public required List<EntityVerifyResult> Entities { get; init; }

    /// <summary>Only for user and session scopes; empty for a full verify (it would be one line per session).</summary>
    public List<SessionMessageCount> SessionMessageCounts { get; init; } = [];

    public double DurationMs { get; set; }

    public long Gaps => Entities.Sum(e => e.Gaps);

    public long Differences => Entities.Sum(e => e.Differences);

    public bool Ok => Gaps == 0 && Differences == 0;
}

/// <summary>Everything known about one record id when it is classified.</summary>
/// <param name="InPostgres">A row with this id exists in the archive.</param>
/// <param name="RedisHash">Content hash of the mapped Redis record; null when the record cannot be mapped.</param>
/// <param name="PostgresHash">Content hash of the row; null when there is no row.</param>
/// <param name="RedisUpdatedUs">The Redis version's updatedAt (µs since epoch), when mappable.</param>
/// <param name="PostgresUpdatedUs">The row's updated_at (µs since epoch), when there is a row.</param>
/// <param name="Indexed">The change index holds the id.</param>
/// <param name="Due">The index entry lies at or before the committed checkpoint (a pass has read past it).</param>
/// <param name="DeadLettered">An open or discarded dead letter exists for the id.</param>
internal readonly record struct RecordFacts(
    bool InPostgres,
    byte[]? RedisHash,
    byte[]? PostgresHash,
    long? RedisUpdatedUs,
    long? PostgresUpdatedUs,
    bool Indexed,
    bool Due,
    bool DeadLettered);

/// <summary>The classification rules, in priority order (pure; unit-tested).</summary>
internal static class VerifyClassifier
{
    /// <summary>Classifies a record present in Redis.</summary>
    public static VerifyCategory Classify(in RecordFacts facts)
    {
        if (facts.InPostgres && facts.RedisHash is { } r && facts.PostgresHash is { } p && r.AsSpan().SequenceEqual(p))
        {
            return VerifyCategory.Equal;
        }

        if (facts.DeadLettered)
        {
            return VerifyCategory.DeadLettered;
        }

        if (facts.InPostgres && facts.RedisUpdatedUs is { } ru && facts.PostgresUpdatedUs is { } pu && ru < pu)
        {
            return VerifyCategory.PostgresNewer;
        }

        if (!facts.Indexed)
        {
            return VerifyCategory.Unindexed; // a pass cannot see this version until backfill indexes it
        }

        if (!facts.Due)
        {
            return VerifyCategory.Pending;
        }

        if (!facts.InPostgres || facts.RedisUpdatedUs is null)
        {
            // Due and neither archived nor dead-lettered (an unmappable record would have been dead-lettered).
            return VerifyCategory.Gap;
        }

        return facts.RedisUpdatedUs > facts.PostgresUpdatedUs ? VerifyCategory.PostgresOlder : VerifyCategory.ContentDiffers;
    }
}
