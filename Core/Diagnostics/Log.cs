using Microsoft.Extensions.Logging;

namespace NexusArchive.Core.Diagnostics;

/// <summary>
/// Every log event Core writes, across the partial files of this folder: runs, migrations, verify, restore and
/// backfill here, resilience in <c>Log.Resilience.cs</c>, security in <c>Log.Security.cs</c>. Event ids and names are a
/// contract with dashboards and alerts: change a message freely, never an id, a name or a value name. The ids live in
/// <see cref="LogEventIds"/>; Tests/Unit/LogEventContractTests.cs pins them.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(LogEventIds.RunStarted, LogLevel.Information, "Archive run {RunId} started by {Trigger} for {Entities} (upper bound {UpperBoundMs}, Redis now {RedisNow:O})", EventName = "RunStarted")]
    public static partial void RunStarted(ILogger logger, Guid runId, string trigger, string entities, double upperBoundMs, DateTimeOffset redisNow);

    [LoggerMessage(LogEventIds.RunFinished, LogLevel.Information, "Archive run {RunId} finished {Status} in {ElapsedMs} ms: read {RecordsRead}, upserted {RowsUpserted}, unchanged {RowsUnchanged}, vanished {RecordsVanished}, dead-lettered {DeadLettered}, max lag {MaxLagMs} ms", EventName = "RunFinished")]
    public static partial void RunFinished(ILogger logger, Guid runId, string status, double elapsedMs, long recordsRead, long rowsUpserted, long rowsUnchanged, long recordsVanished, long deadLettered, double maxLagMs);

    [LoggerMessage(LogEventIds.RunFailed, LogLevel.Error, "Archive run {RunId} failed on entity {Entity}: {Error}", EventName = "RunFailed")]
    public static partial void RunFailed(ILogger logger, Guid runId, string entity, string error, Exception exception);

    [LoggerMessage(LogEventIds.EntityBusy, LogLevel.Warning, "Archive run {RunId} skipped entity {Entity}: another pass holds it", EventName = "EntityBusy")]
    public static partial void EntityBusy(ILogger logger, Guid runId, string entity);

    [LoggerMessage(LogEventIds.RunStoppedEarly, LogLevel.Information, "Archive run {RunId} stopped between pages of {Entity} ({Reason}); checkpoint {CheckpointScore} committed, the next pass continues", EventName = "RunStoppedEarly")]
    public static partial void RunStoppedEarly(ILogger logger, Guid runId, string entity, string reason, double? checkpointScore);

    [LoggerMessage(LogEventIds.PageCommitted, LogLevel.Debug, "Entity {Entity} page {Page}: read {RecordsRead}, upserted {RowsUpserted}, unchanged {RowsUnchanged}, vanished {RecordsVanished}, dead-lettered {DeadLettered} in {ElapsedMs} ms", EventName = "PageCommitted")]
    public static partial void PageCommitted(ILogger logger, string entity, int page, int recordsRead, int rowsUpserted, int rowsUnchanged, int recordsVanished, int deadLettered, double elapsedMs);

    [LoggerMessage(LogEventIds.RecordsVanished, LogLevel.Information, "Entity {Entity}: {RecordsVanished} index entries had no hash (expired, evicted or deleted), for example {ExampleId}", EventName = "RecordsVanished")]
    public static partial void RecordsVanished(ILogger logger, string entity, int recordsVanished, string exampleId);

    [LoggerMessage(LogEventIds.RecordDeadLettered, LogLevel.Warning, "Entity {Entity}: record {RecordId} dead-lettered ({ReasonCategory}): {Reason}", EventName = "RecordDeadLettered")]
    public static partial void RecordDeadLettered(ILogger logger, string entity, string recordId, string reasonCategory, string reason);

    [LoggerMessage(LogEventIds.RowRejected, LogLevel.Warning, "PostgreSQL rejected record {RecordId} ({SqlState}); isolated into the dead-letter table", EventName = "RowRejected")]
    public static partial void RowRejected(ILogger logger, string recordId, string sqlState);

    [LoggerMessage(LogEventIds.CheckpointMirrorFailed, LogLevel.Warning, "Could not mirror the checkpoint of {Entity} to Redis; the next committed page retries", EventName = "CheckpointMirrorFailed")]
    public static partial void CheckpointMirrorFailed(ILogger logger, string entity, Exception exception);

    [LoggerMessage(LogEventIds.RunHistoryFailed, LogLevel.Warning, "Could not record the outcome of run {RunId} in run history", EventName = "RunHistoryFailed")]
    public static partial void RunHistoryFailed(ILogger logger, Guid runId, Exception exception);

    [LoggerMessage(LogEventIds.LeaseReleaseFailed, LogLevel.Warning, "Could not release the lease of {Entity}; it expires after Archive:LeaseTimeout", EventName = "LeaseReleaseFailed")]
    public static partial void LeaseReleaseFailed(ILogger logger, string entity, Exception exception);

    [LoggerMessage(LogEventIds.MigrationApplied, LogLevel.Information, "Applied migration {Version} {MigrationName}", EventName = "MigrationApplied")]
    public static partial void MigrationApplied(ILogger logger, int version, string migrationName);

    [LoggerMessage(LogEventIds.SearchLanguageApplied, LogLevel.Information, "Built search_messages for text search configuration {SearchLanguage}; it was {PreviousSearchLanguage}", EventName = "SearchLanguageApplied")]
    public static partial void SearchLanguageApplied(ILogger logger, string searchLanguage, string previousSearchLanguage);

    [LoggerMessage(LogEventIds.SearchIndexBuilt, LogLevel.Information, "Built the message search index (Archive:SearchIndex) for {SearchLanguage} in {ElapsedMs} ms", EventName = "SearchIndexBuilt")]
    public static partial void SearchIndexBuilt(ILogger logger, string searchLanguage, long elapsedMs);

    [LoggerMessage(LogEventIds.SearchIndexDropped, LogLevel.Information, "Dropped the message search index: Archive:SearchIndex is false", EventName = "SearchIndexDropped")]
    public static partial void SearchIndexDropped(ILogger logger);

    [LoggerMessage(LogEventIds.SearchIndexBusy, LogLevel.Warning, "Another migrator is building or dropping the message search index; left to it (Archive:SearchIndex {SearchIndexWanted})", EventName = "SearchIndexBusy")]
    public static partial void SearchIndexBusy(ILogger logger, bool searchIndexWanted);

    [LoggerMessage(LogEventIds.DemoSeeded, LogLevel.Information, "Seeded demo data: {Users} users, {Sessions} sessions, {Messages} messages, {Attachments} attachments, {Edits} edits, {SoftDeletes} soft deletes", EventName = "DemoSeeded")]
    public static partial void DemoSeeded(ILogger logger, int users, int sessions, int messages, int attachments, int edits, int softDeletes);

    // 3000-3099: verify, restore, backfill.
    [LoggerMessage(LogEventIds.VerifyEntityFinished, LogLevel.Information, "Verify of {Entity}: {RedisRecords} in Redis, {PostgresRows} in PostgreSQL; {EqualCount} equal, {Differences} different, {Pending} pending, {Gaps} gaps, {DeadLettered} dead-lettered, {OnlyInPostgres} only in PostgreSQL", EventName = "VerifyEntityFinished")]
    public static partial void VerifyEntityFinished(ILogger logger, string entity, long redisRecords, long postgresRows, long equalCount, long differences, long pending, long gaps, long deadLettered, long onlyInPostgres);

    [LoggerMessage(LogEventIds.VerifyFoundProblems, LogLevel.Warning, "Verify of {Entity} found {Gaps} gaps and {Differences} differences, for example {ExampleId}", EventName = "VerifyFoundProblems")]
    public static partial void VerifyFoundProblems(ILogger logger, string entity, long gaps, long differences, string exampleId);

    [LoggerMessage(LogEventIds.VerificationFinished, LogLevel.Information, "Verification {VerificationId} ({Kind}, trigger {Trigger}) finished {Status} in {ElapsedMs} ms: {RecordsChecked} records checked, {Gaps} gaps, {Differences} differences; examples: {ExampleIds}", EventName = "VerificationFinished")]
    public static partial void VerificationFinished(ILogger logger, long verificationId, string kind, string trigger, string status, double elapsedMs, long recordsChecked, long gaps, long differences, string exampleIds);

    [LoggerMessage(LogEventIds.IncrementalVerifyEntityFinished, LogLevel.Information, "Incremental verify of {Entity}: {ChangesChecked} changed records checked after score {SinceScore} up to {UntilScore} (caught up: {CaughtUp}); {KeysChecked} keys of the keyspace slice from SCAN cursor {CursorFrom} to {CursorTo} (walk completed: {WalkCompleted}); {Gaps} gaps, {Differences} differences", EventName = "IncrementalVerifyEntityFinished")]
    public static partial void IncrementalVerifyEntityFinished(ILogger logger, string entity, long changesChecked, double? sinceScore, double? untilScore, bool caughtUp, long keysChecked, string cursorFrom, string cursorTo, bool walkCompleted, long gaps, long differences);

    [LoggerMessage(LogEventIds.VerificationFailed, LogLevel.Error, "Verification {VerificationId} ({Kind}, trigger {Trigger}) failed: {Error}", EventName = "VerificationFailed")]
    public static partial void VerificationFailed(ILogger logger, long verificationId, string kind, string trigger, string error, Exception exception);

    [LoggerMessage(LogEventIds.VerificationHistoryFailed, LogLevel.Warning, "Could not record the outcome of verification {VerificationId}", EventName = "VerificationHistoryFailed")]
    public static partial void VerificationHistoryFailed(ILogger logger, long verificationId, Exception exception);

    [LoggerMessage(LogEventIds.RestoreEntityFinished, LogLevel.Information, "Restore of {Entity} ({Scope}{DryRun}): {Written} written, {Skipped} skipped (equal or newer in Redis)", EventName = "RestoreEntityFinished")]
    public static partial void RestoreEntityFinished(ILogger logger, string entity, string scope, string dryRun, long written, long skipped);

    [LoggerMessage(LogEventIds.RecordsArchived, LogLevel.Information, "Archived named records now: {Named} named, {Archived} archived, {DeadLettered} dead-lettered in {DurationMs:F1} ms", EventName = "RecordsArchived")]
    public static partial void RecordsArchived(ILogger logger, int named, int archived, int deadLettered, double durationMs);

    [LoggerMessage(LogEventIds.RecordEventRejected, LogLevel.Error, "Queued message {MessageId} on {QueueName} (delivery {DequeueCount}) names no record: {Problem}. Dead-lettered; the queue moves it to {QueueName}-poison after its last retry.", EventName = "RecordEventRejected")]
    public static partial void RecordEventRejected(ILogger logger, string queueName, string messageId, long dequeueCount, string problem);

    [LoggerMessage(LogEventIds.OffloadStarted, LogLevel.Information, "Offload {RunId} started{DryRun}: sessions idle since before {Cutoff:O}", EventName = "OffloadStarted")]
    public static partial void OffloadStarted(ILogger logger, Guid runId, string dryRun, DateTimeOffset cutoff);

    [LoggerMessage(LogEventIds.OffloadProgress, LogLevel.Information, "Offload {RunId}: {Candidates} candidates checked, {Offloaded} offloaded, {Skipped} skipped, {BytesFreed} bytes freed", EventName = "OffloadProgress")]
    public static partial void OffloadProgress(ILogger logger, Guid runId, long candidates, long offloaded, long skipped, long bytesFreed);

    [LoggerMessage(LogEventIds.OffloadFinished, LogLevel.Information, "Offload {RunId} {Status}: {Offloaded} sessions offloaded, {Skipped} skipped, {RecordsRemoved} Redis keys removed, {BytesFreed} bytes freed (dry run: {DryRun})", EventName = "OffloadFinished")]
    public static partial void OffloadFinished(ILogger logger, Guid runId, string status, long offloaded, long skipped, long recordsRemoved, long bytesFreed, bool dryRun);

    [LoggerMessage(LogEventIds.OffloadHistoryFailed, LogLevel.Warning, "Offload {RunId}: could not record the run's outcome: {Error}", EventName = "OffloadHistoryFailed")]
    public static partial void OffloadHistoryFailed(ILogger logger, Guid runId, string error);

    [LoggerMessage(LogEventIds.OffloadMarkersCleared, LogLevel.Information, "Restore brought {Sessions} offloaded sessions back into Redis and cleared their offload markers", EventName = "OffloadMarkersCleared")]
    public static partial void OffloadMarkersCleared(ILogger logger, int sessions);

    [LoggerMessage(LogEventIds.UserExported, LogLevel.Information, "Exported user {UserId}: {Records} archived records (audit {AuditId})", EventName = "UserExported")]
    public static partial void UserExported(ILogger logger, string userId, long records, long auditId);

    [LoggerMessage(LogEventIds.UserErased, LogLevel.Warning, "Erased user {UserId}{DryRun}: {PostgresRows} archive rows, {RedisKeys} Redis keys (audit {AuditId})", EventName = "UserErased")]
    public static partial void UserErased(ILogger logger, string userId, string dryRun, long postgresRows, long redisKeys, long auditId);

    [LoggerMessage(LogEventIds.RestoreRecordRefused, LogLevel.Warning, "Restore of {Entity} {RecordId}: the writer refused it, Redis unchanged for it: {Reason}", EventName = "RestoreRecordRefused")]
    public static partial void RestoreRecordRefused(ILogger logger, string entity, string recordId, string reason);

    [LoggerMessage(LogEventIds.BackfillResumed, LogLevel.Information, "Backfill of {Entity} resumes at SCAN cursor {Cursor} after {KeysScanned} keys", EventName = "BackfillResumed")]
    public static partial void BackfillResumed(ILogger logger, string entity, string cursor, long keysScanned);

    [LoggerMessage(LogEventIds.BackfillEntityFinished, LogLevel.Information, "Backfill of {Entity} finished: {KeysScanned} keys scanned, {Indexed} index entries added, {AlreadyIndexed} already indexed, {Unparsable} without a parsable updatedAt (indexed at score 0), {NotHashes} not hashes, in {ElapsedMs} ms", EventName = "BackfillEntityFinished")]
    public static partial void BackfillEntityFinished(ILogger logger, string entity, long keysScanned, long indexed, long alreadyIndexed, long unparsable, long notHashes, double elapsedMs);

    [LoggerMessage(LogEventIds.BackfillInterrupted, LogLevel.Warning, "Backfill of {Entity} interrupted at SCAN cursor {Cursor}; run backfill again to resume", EventName = "BackfillInterrupted")]
    public static partial void BackfillInterrupted(ILogger logger, string entity, string cursor);

    [LoggerMessage(LogEventIds.BackfillCheckpointRewound, LogLevel.Warning, "Backfill of {Entity} indexed records behind the archive checkpoint; checkpoint rewound from {FromScore} to {ToScore} so the next pass reads them", EventName = "BackfillCheckpointRewound")]
    public static partial void BackfillCheckpointRewound(ILogger logger, string entity, double fromScore, double toScore);

    [LoggerMessage(LogEventIds.BackfillRewindBlocked, LogLevel.Error, "Backfill of {Entity} indexed records behind the checkpoint but a live archive pass holds the entity; run backfill again when it has finished", EventName = "BackfillRewindBlocked")]
    public static partial void BackfillRewindBlocked(ILogger logger, string entity);

    [LoggerMessage(LogEventIds.StreamDrained, LogLevel.Information, "Run {RunId} moved {Moved} archived entries of the drained change stream {Stream} to the current shards; {Left} left", EventName = "StreamDrained")]
    public static partial void StreamDrained(ILogger logger, Guid runId, string stream, long moved, long left);

    [LoggerMessage(LogEventIds.Resharded, LogLevel.Warning, "Resharded {Entity} from {FromCount} to {ToCount} shard(s); passes drain the old layout", EventName = "Resharded")]
    public static partial void Resharded(ILogger logger, string entity, int fromCount, int toCount);
}
