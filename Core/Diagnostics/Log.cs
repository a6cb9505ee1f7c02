using Microsoft.Extensions.Logging;

namespace NexusArchive.Core.Diagnostics;

/// <summary>
/// Every log event NexusArchive writes. Event ids and names are a contract with dashboards and alerts:
/// change a message freely, never an id or a value name.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(1000, LogLevel.Information, "Archive run {RunId} started by {Trigger} for {Entities} (upper bound {UpperBoundMs}, Redis now {RedisNow:O})", EventName = "RunStarted")]
    public static partial void RunStarted(ILogger logger, Guid runId, string trigger, string entities, double upperBoundMs, DateTimeOffset redisNow);

    [LoggerMessage(1001, LogLevel.Information, "Archive run {RunId} finished {Status} in {ElapsedMs} ms: read {RecordsRead}, upserted {RowsUpserted}, unchanged {RowsUnchanged}, vanished {RecordsVanished}, dead-lettered {DeadLettered}, max lag {MaxLagMs} ms", EventName = "RunFinished")]
    public static partial void RunFinished(ILogger logger, Guid runId, string status, double elapsedMs, long recordsRead, long rowsUpserted, long rowsUnchanged, long recordsVanished, long deadLettered, double maxLagMs);

    [LoggerMessage(1002, LogLevel.Error, "Archive run {RunId} failed on entity {Entity}: {Error}", EventName = "RunFailed")]
    public static partial void RunFailed(ILogger logger, Guid runId, string entity, string error, Exception exception);

    [LoggerMessage(1003, LogLevel.Warning, "Archive run {RunId} skipped entity {Entity}: another pass holds it", EventName = "EntityBusy")]
    public static partial void EntityBusy(ILogger logger, Guid runId, string entity);

    [LoggerMessage(1004, LogLevel.Information, "Archive run {RunId} stopped between pages of {Entity} ({Reason}); checkpoint {CheckpointScore} committed, the next pass continues", EventName = "RunStoppedEarly")]
    public static partial void RunStoppedEarly(ILogger logger, Guid runId, string entity, string reason, double? checkpointScore);

    [LoggerMessage(1005, LogLevel.Debug, "Entity {Entity} page {Page}: read {RecordsRead}, upserted {RowsUpserted}, unchanged {RowsUnchanged}, vanished {RecordsVanished}, dead-lettered {DeadLettered} in {ElapsedMs} ms", EventName = "PageCommitted")]
    public static partial void PageCommitted(ILogger logger, string entity, int page, int recordsRead, int rowsUpserted, int rowsUnchanged, int recordsVanished, int deadLettered, double elapsedMs);

    [LoggerMessage(1006, LogLevel.Information, "Entity {Entity}: {RecordsVanished} index entries had no hash (expired, evicted or deleted), for example {ExampleId}", EventName = "RecordsVanished")]
    public static partial void RecordsVanished(ILogger logger, string entity, int recordsVanished, string exampleId);

    [LoggerMessage(1007, LogLevel.Warning, "Entity {Entity}: record {RecordId} dead-lettered ({ReasonCategory}): {Reason}", EventName = "RecordDeadLettered")]
    public static partial void RecordDeadLettered(ILogger logger, string entity, string recordId, string reasonCategory, string reason);

    [LoggerMessage(1008, LogLevel.Warning, "PostgreSQL rejected record {RecordId} ({SqlState}); isolated into the dead-letter table", EventName = "RowRejected")]
    public static partial void RowRejected(ILogger logger, string recordId, string sqlState);

    [LoggerMessage(1009, LogLevel.Warning, "Could not mirror the checkpoint of {Entity} to Redis; the next committed page retries", EventName = "CheckpointMirrorFailed")]
    public static partial void CheckpointMirrorFailed(ILogger logger, string entity, Exception exception);

    [LoggerMessage(1010, LogLevel.Warning, "Could not record the outcome of run {RunId} in run history", EventName = "RunHistoryFailed")]
    public static partial void RunHistoryFailed(ILogger logger, Guid runId, Exception exception);

    [LoggerMessage(1011, LogLevel.Warning, "Could not release the lease of {Entity}; it expires after Archive:LeaseTimeout", EventName = "LeaseReleaseFailed")]
    public static partial void LeaseReleaseFailed(ILogger logger, string entity, Exception exception);

    [LoggerMessage(1020, LogLevel.Information, "Applied migration {Version} {MigrationName}", EventName = "MigrationApplied")]
    public static partial void MigrationApplied(ILogger logger, int version, string migrationName);

    [LoggerMessage(1030, LogLevel.Information, "Seeded demo data: {Users} users, {Sessions} sessions, {Messages} messages, {Attachments} attachments, {Edits} edits, {SoftDeletes} soft deletes", EventName = "DemoSeeded")]
    public static partial void DemoSeeded(ILogger logger, int users, int sessions, int messages, int attachments, int edits, int softDeletes);

    // 3000-3099: verify, restore, backfill.
    [LoggerMessage(3000, LogLevel.Information, "Verify of {Entity}: {RedisRecords} in Redis, {PostgresRows} in PostgreSQL; {EqualCount} equal, {Differences} different, {Pending} pending, {Gaps} gaps, {DeadLettered} dead-lettered, {OnlyInPostgres} only in PostgreSQL", EventName = "VerifyEntityFinished")]
    public static partial void VerifyEntityFinished(ILogger logger, string entity, long redisRecords, long postgresRows, long equalCount, long differences, long pending, long gaps, long deadLettered, long onlyInPostgres);

    [LoggerMessage(3001, LogLevel.Warning, "Verify of {Entity} found {Gaps} gaps and {Differences} differences, for example {ExampleId}", EventName = "VerifyFoundProblems")]
    public static partial void VerifyFoundProblems(ILogger logger, string entity, long gaps, long differences, string exampleId);

    [LoggerMessage(3010, LogLevel.Information, "Restore of {Entity} ({Scope}{DryRun}): {Written} written, {Skipped} skipped (equal or newer in Redis)", EventName = "RestoreEntityFinished")]
    public static partial void RestoreEntityFinished(ILogger logger, string entity, string scope, string dryRun, long written, long skipped);

    [LoggerMessage(3020, LogLevel.Information, "Backfill of {Entity} resumes at SCAN cursor {Cursor} after {KeysScanned} keys", EventName = "BackfillResumed")]
    public static partial void BackfillResumed(ILogger logger, string entity, string cursor, long keysScanned);

    [LoggerMessage(3021, LogLevel.Information, "Backfill of {Entity} finished: {KeysScanned} keys scanned, {Indexed} index entries added, {AlreadyIndexed} already indexed, {Unparsable} without a parsable updatedAt (indexed at score 0), {NotHashes} not hashes, in {ElapsedMs} ms", EventName = "BackfillEntityFinished")]
    public static partial void BackfillEntityFinished(ILogger logger, string entity, long keysScanned, long indexed, long alreadyIndexed, long unparsable, long notHashes, double elapsedMs);

    [LoggerMessage(3022, LogLevel.Warning, "Backfill of {Entity} interrupted at SCAN cursor {Cursor}; run backfill again to resume", EventName = "BackfillInterrupted")]
    public static partial void BackfillInterrupted(ILogger logger, string entity, string cursor);

    [LoggerMessage(3023, LogLevel.Warning, "Backfill of {Entity} indexed records behind the archive checkpoint; checkpoint rewound from {FromScore} to {ToScore} so the next pass reads them", EventName = "BackfillCheckpointRewound")]
    public static partial void BackfillCheckpointRewound(ILogger logger, string entity, double fromScore, double toScore);

    [LoggerMessage(3024, LogLevel.Error, "Backfill of {Entity} indexed records behind the checkpoint but a live archive pass holds the entity; run backfill again when it has finished", EventName = "BackfillRewindBlocked")]
    public static partial void BackfillRewindBlocked(ILogger logger, string entity);
}
