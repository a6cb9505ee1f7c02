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

    [LoggerMessage(1020, LogLevel.Information, "Applied migration {Version} {MigrationName}", EventName = "MigrationApplied")]
    public static partial void MigrationApplied(ILogger logger, int version, string migrationName);

    [LoggerMessage(1030, LogLevel.Information, "Seeded demo data: {Users} users, {Sessions} sessions, {Messages} messages, {Attachments} attachments, {Edits} edits, {SoftDeletes} soft deletes", EventName = "DemoSeeded")]
    public static partial void DemoSeeded(ILogger logger, int users, int sessions, int messages, int attachments, int edits, int softDeletes);
}
