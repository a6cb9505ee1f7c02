using Microsoft.Extensions.Logging;

namespace NexusArchive.Core.Diagnostics;

internal static partial class Log
{
    [LoggerMessage(LogEventIds.LeaseLost, LogLevel.Warning, "Archive run {RunId} lost its lease on {Entity} while working (it expired and another pass took it); it stops, the other pass continues from the last commit", EventName = "LeaseLost")]
    public static partial void LeaseLost(ILogger logger, Guid runId, string entity);

    [LoggerMessage(LogEventIds.LateWritesDrained, LogLevel.Information, "Entity {Entity}: drained {LateWrites} late writes (stamped behind where a pass had read): {RowsUpserted} upserted, {DeadLettered} dead-lettered", EventName = "LateWritesDrained")]
    public static partial void LateWritesDrained(ILogger logger, string entity, int lateWrites, int rowsUpserted, int deadLettered);

    [LoggerMessage(LogEventIds.LeaseRenewalFailed, LogLevel.Warning, "Could not renew the lease of {Entity}; retried at the next tick", EventName = "LeaseRenewalFailed")]
    public static partial void LeaseRenewalFailed(ILogger logger, string entity, Exception exception);
}
