using Microsoft.Extensions.Logging;

namespace NexusArchive.Core.Diagnostics;

internal static partial class Log
{
    [LoggerMessage(LogEventIds.LeaseLost, LogLevel.Warning, "Archive run {RunId} lost its lease on {Entity} while working (it expired and another pass took it); it stops, the other pass continues from the last commit", EventName = "LeaseLost")]
    public static partial void LeaseLost(ILogger logger, Guid runId, string entity);

    [LoggerMessage(LogEventIds.LeaseRenewalFailed, LogLevel.Warning, "Could not renew the lease of {Entity}; retried at the next tick", EventName = "LeaseRenewalFailed")]
    public static partial void LeaseRenewalFailed(ILogger logger, string entity, Exception exception);
}
