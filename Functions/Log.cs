using Microsoft.Extensions.Logging;

namespace NexusArchive.Functions;

/// <summary>
/// Log events of the Functions app (ids 2000-2099, in <see cref="FunctionsLogEventIds"/>). Ids and names are a contract
/// with dashboards and alerts, pinned by Tests/Unit/LogEventContractTests.cs; the run itself is logged by Core
/// (RunStarted 1000, RunFinished 1001, …).
/// </summary>
internal static partial class Log
{
    [LoggerMessage(FunctionsLogEventIds.TimerFired, LogLevel.Information, "Archive timer fired (past due: {IsPastDue}, next: {NextRun})", EventName = "TimerFired")]
    public static partial void TimerFired(ILogger logger, bool isPastDue, DateTime? nextRun);

    [LoggerMessage(FunctionsLogEventIds.TimerConflict, LogLevel.Warning, "Archive timer run {RunId} found another pass working; it exits, the other pass continues", EventName = "TimerConflict")]
    public static partial void TimerConflict(ILogger logger, Guid runId);

    [LoggerMessage(FunctionsLogEventIds.TimerRunFailed, LogLevel.Error, "Archive timer run {RunId} failed: {Error}", EventName = "TimerRunFailed")]
    public static partial void TimerRunFailed(ILogger logger, Guid runId, string? error);

    [LoggerMessage(FunctionsLogEventIds.ArchiveScheduleInvalid, LogLevel.Critical, "Scheduled archiving is off: {Problem} The host disables the timer; HTTP functions still run. Fix the app setting and restart.", EventName = "ArchiveScheduleInvalid")]
    public static partial void ArchiveScheduleInvalid(ILogger logger, string problem);

    [LoggerMessage(FunctionsLogEventIds.VerifyScheduleInvalid, LogLevel.Critical, "Scheduled verification is off: {Problem} The host disables the verify timer; archiving and the HTTP functions still run. Fix the app setting and restart.", EventName = "VerifyScheduleInvalid")]
    public static partial void VerifyScheduleInvalid(ILogger logger, string problem);

    [LoggerMessage(FunctionsLogEventIds.OffloadScheduleInvalid, LogLevel.Critical, "Scheduled offload is off: {Problem} The host disables the offload timer; archiving, verification and the HTTP functions still run. Fix the app setting and restart.", EventName = "OffloadScheduleInvalid")]
    public static partial void OffloadScheduleInvalid(ILogger logger, string problem);

    [LoggerMessage(FunctionsLogEventIds.ArchiveQueueInvalid, LogLevel.Critical, "Event-driven archiving is off: {Problem} The host cannot listen on the queue; queued events wait for the timer pass. Fix the app setting and restart.", EventName = "ArchiveQueueInvalid")]
    public static partial void ArchiveQueueInvalid(ILogger logger, string problem);

    [LoggerMessage(FunctionsLogEventIds.StartupMigrationApplied, LogLevel.Information, "Archive:MigrateOnStartup applied {Count} pending migrations", EventName = "StartupMigrationApplied")]
    public static partial void StartupMigrationApplied(ILogger logger, int count);

    [LoggerMessage(FunctionsLogEventIds.StartupMigrationFailed, LogLevel.Critical, "Archive:MigrateOnStartup could not apply migrations: {Error}", EventName = "StartupMigrationFailed")]
    public static partial void StartupMigrationFailed(ILogger logger, string error, Exception exception);

    [LoggerMessage(FunctionsLogEventIds.NeedsAttention, LogLevel.Error, "NexusArchive needs attention: {Problems}", EventName = "NeedsAttention")]
    public static partial void NeedsAttention(ILogger logger, string problems);

    [LoggerMessage(FunctionsLogEventIds.KickReceived, LogLevel.Information, "Archive kick for {Entities} with budget {MaxDuration}", EventName = "KickReceived")]
    public static partial void KickReceived(ILogger logger, string entities, TimeSpan maxDuration);

    [LoggerMessage(FunctionsLogEventIds.KickRejected, LogLevel.Warning, "Archive kick rejected: {Reason}", EventName = "KickRejected")]
    public static partial void KickRejected(ILogger logger, string reason);

    [LoggerMessage(FunctionsLogEventIds.KickAnswered, LogLevel.Information, "Archive kick run {RunId} answered {StatusCode} ({Status})", EventName = "KickAnswered")]
    public static partial void KickAnswered(ILogger logger, Guid runId, int statusCode, string status);

    [LoggerMessage(FunctionsLogEventIds.VerifyTimerFired, LogLevel.Information, "Verify timer fired (past due: {IsPastDue}, next: {NextRun})", EventName = "VerifyTimerFired")]
    public static partial void VerifyTimerFired(ILogger logger, bool isPastDue, DateTime? nextRun);

    [LoggerMessage(FunctionsLogEventIds.VerifyTimerFailed, LogLevel.Error, "Verify timer run (verification {VerificationId}) failed: {Error}", EventName = "VerifyTimerFailed")]
    public static partial void VerifyTimerFailed(ILogger logger, long verificationId, string? error);

    [LoggerMessage(FunctionsLogEventIds.OffloadTimerFired, LogLevel.Information, "Offload timer fired (past due: {IsPastDue}, next: {NextRun})", EventName = "OffloadTimerFired")]
    public static partial void OffloadTimerFired(ILogger logger, bool isPastDue, DateTime? nextRun);

    [LoggerMessage(FunctionsLogEventIds.OffloadDisabled, LogLevel.Information, "Offload is off (Archive:Offload:Enabled is false): the offload timer removes nothing from Redis", EventName = "OffloadDisabled")]
    public static partial void OffloadDisabled(ILogger logger);

    [LoggerMessage(FunctionsLogEventIds.OffloadTimerRefused, LogLevel.Warning, "Offload timer run {RunId} was refused and offloaded nothing: {Reason}", EventName = "OffloadTimerRefused")]
    public static partial void OffloadTimerRefused(ILogger logger, Guid runId, string? reason);

    [LoggerMessage(FunctionsLogEventIds.SessionRestoreAnswered, LogLevel.Information, "Session {SessionId} restore answered {StatusCode}: {Rows} archived rows, {Written} written, {Skipped} already in Redis, {Refused} refused, offloaded restored {OffloadedRestored}, {ElapsedMs} ms", EventName = "SessionRestoreAnswered")]
    public static partial void SessionRestoreAnswered(ILogger logger, string sessionId, int statusCode, long rows, long written, long skipped, long refused, int offloadedRestored, double elapsedMs);

    [LoggerMessage(FunctionsLogEventIds.ShardsEnqueued, LogLevel.Information, "Archive timer fanned out: {Enqueued} of {Streams} change streams have work and were enqueued ({Busy} with work are held by a live pass)", EventName = "ShardsEnqueued")]
    public static partial void ShardsEnqueued(ILogger logger, int enqueued, int streams, int busy);

    [LoggerMessage(FunctionsLogEventIds.ShardPlanFailed, LogLevel.Warning, "Archive timer could not plan the fan-out ({Error}); it runs the pass itself", EventName = "ShardPlanFailed")]
    public static partial void ShardPlanFailed(ILogger logger, string error, Exception exception);

    [LoggerMessage(FunctionsLogEventIds.ShardPassConflict, LogLevel.Information, "Shard pass {RunId} for {Stream} found another pass working it; the message completes, that pass continues", EventName = "ShardPassConflict")]
    public static partial void ShardPassConflict(ILogger logger, Guid runId, string stream);

    [LoggerMessage(FunctionsLogEventIds.ShardPassFailed, LogLevel.Error, "Shard pass {RunId} for {Stream} failed: {Error}; the message completes and the next timer tick enqueues the stream again", EventName = "ShardPassFailed")]
    public static partial void ShardPassFailed(ILogger logger, Guid runId, string stream, string? error);

    [LoggerMessage(FunctionsLogEventIds.ShardMessageInvalid, LogLevel.Error, "Fan-out message {MessageId} names no stream to work: {Problem}", EventName = "ShardMessageInvalid")]
    public static partial void ShardMessageInvalid(ILogger logger, string messageId, string problem);

    [LoggerMessage(FunctionsLogEventIds.ShardQueueInvalid, LogLevel.Critical, "Fan-out over shards is off: {Problem} Fix the app setting and restart.", EventName = "ShardQueueInvalid")]
    public static partial void ShardQueueInvalid(ILogger logger, string problem);
}
