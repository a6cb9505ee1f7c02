using System.Text.Json.Serialization;

namespace NexusArchive.Core.Offload;

/// <summary>What to offload.</summary>
/// <param name="DryRun">Only report what would leave Redis and why the rest stays; change nothing.</param>
/// <param name="Trigger">Who asked, as recorded in <c>{bookkeeping}.offload_runs</c>: <c>cli</c>, <c>timer</c>, …</param>
/// <param name="Limit">Stop after this many candidate sessions (null = all).</param>
public sealed record OffloadRequest(bool DryRun = false, string Trigger = "cli", int? Limit = null);

/// <summary>How an offload run ended.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<OffloadStatus>))]
public enum OffloadStatus
{
    /// <summary>Every candidate was offloaded or skipped with its reason.</summary>
    Succeeded,

    /// <summary>Stopped by the time budget or the caller; the next run continues.</summary>
    Partial,

    /// <summary>Nothing was offloaded: the archive is not in a state to prove copies (see <see cref="OffloadReport.RefusedBecause"/>).</summary>
    Refused,

    /// <summary>An infrastructure error; sessions already offloaded stay offloaded, the rest stays in Redis.</summary>
    Failed,
}

/// <summary>Why a candidate session stays in Redis.</summary>
internal static class OffloadSkipReasons
{
    /// <summary>A record of the session has a change the archiver has not committed yet.</summary>
    public const string PendingChange = "pending_change";

    /// <summary>A record of the session has an open dead letter.</summary>
    public const string DeadLetter = "dead_letter";

    /// <summary>Redis holds a version of a record that was due but is not archived (an edit newer than the archived copy, or a gap).</summary>
    public const string NotArchived = "not_archived";

    /// <summary>A record's archived content differs from Redis (a write around the writer, or Redis went back in time).</summary>
    public const string Differs = "differs";

    /// <summary>A write reached the session between the check and the removal; the removal did nothing.</summary>
    public const string ChangedDuringOffload = "changed_during_offload";
}

/// <summary>A session that left Redis (or would, in a dry run).</summary>
public sealed record OffloadedSession(string SessionId, string UserId, int Records, int RedisKeys, long Bytes);

/// <summary>A candidate session that stays in Redis, with the reason and the record that decided it.</summary>
public sealed record SkippedSession(string SessionId, string Reason, string Detail);

/// <summary>The outcome of one offload run.</summary>
public sealed class OffloadReport
{
    /// <summary>How many offloaded and skipped sessions the report lists by name (the counts cover all).</summary>
    public const int Listed = 50;

    public required Guid RunId { get; init; }

    public required string Trigger { get; init; }

    public required bool DryRun { get; init; }

    /// <summary>Sessions whose newest record is older than this qualify (Redis clock minus <c>Archive:Offload:After</c>).</summary>
    public required DateTimeOffset Cutoff { get; init; }

    public DateTimeOffset StartedAt { get; init; }

    public OffloadStatus Status { get; set; } = OffloadStatus.Succeeded;

    /// <summary>Why a <see cref="OffloadStatus.Refused"/> or <see cref="OffloadStatus.Failed"/> run did nothing more.</summary>
    public string? RefusedBecause { get; set; }

    /// <summary>Sessions idle since before the cutoff and not offloaded yet.</summary>
    public long Candidates { get; set; }

    /// <summary>Sessions removed from Redis (in a dry run: that would be).</summary>
    public long SessionsOffloaded { get; set; }

    public long SessionsSkipped { get; set; }

    /// <summary>Redis keys removed (session hashes, messages, attachment references).</summary>
    public long RecordsRemoved { get; set; }

    /// <summary>Redis memory freed, measured as <see cref="BytesMethod"/> says.</summary>
    public long BytesFreed { get; set; }

    /// <summary><c>memory-usage</c> (Redis <c>MEMORY USAGE</c> per key) or <c>estimate</c> (field and key bytes, where the server refuses MEMORY).</summary>
    public string BytesMethod { get; set; } = "memory-usage";

    public Dictionary<string, long> SkippedByReason { get; } = new(StringComparer.Ordinal);

    public List<OffloadedSession> Offloaded { get; } = [];

    public List<SkippedSession> Skipped { get; } = [];

    public double DurationMs { get; set; }

    internal void Skip(string sessionId, string reason, string detail)
    {
        SessionsSkipped++;
        SkippedByReason[reason] = SkippedByReason.GetValueOrDefault(reason) + 1;
        if (Skipped.Count < Listed)
        {
            Skipped.Add(new SkippedSession(sessionId, reason, detail));
        }
    }

    internal void Add(OffloadedSession session)
    {
        SessionsOffloaded++;
        RecordsRemoved += session.RedisKeys;
        BytesFreed += session.Bytes;
        if (Offloaded.Count < Listed)
        {
            Offloaded.Add(session);
        }
    }
}
