using Microsoft.Extensions.Logging;

namespace NexusArchive.Core.Diagnostics;

/// <summary>Log events of resilience and dead-letter handling, ids 4000-4099 (see <c>Log.cs</c> for the contract, <see cref="LogEventIds"/> for the ids).</summary>
internal static partial class Log
{
    [LoggerMessage(LogEventIds.RetryScheduled, LogLevel.Warning, "{Dependency} call failed transiently ({Error}); retry {RetryAttempt} of {MaxRetryAttempts} in {DelayMs} ms", EventName = "RetryScheduled")]
    public static partial void RetryScheduled(ILogger logger, string dependency, int retryAttempt, int maxRetryAttempts, double delayMs, string error);

    [LoggerMessage(LogEventIds.CircuitOpened, LogLevel.Error, "{Dependency} circuit breaker opened for {BreakMs} ms after repeated transient failures (last: {Error}); calls fail fast", EventName = "CircuitOpened")]
    public static partial void CircuitOpened(ILogger logger, string dependency, double breakMs, string error);

    [LoggerMessage(LogEventIds.CircuitClosed, LogLevel.Information, "{Dependency} circuit breaker closed: calls succeed again", EventName = "CircuitClosed")]
    public static partial void CircuitClosed(ILogger logger, string dependency);

    [LoggerMessage(LogEventIds.DeadLetterReplayed, LogLevel.Information, "Dead letter {DeadLetterId} ({Entity} {RecordId}) replayed: {Outcome}", EventName = "DeadLetterReplayed")]
    public static partial void DeadLetterReplayed(ILogger logger, long deadLetterId, string entity, string recordId, string outcome);

    [LoggerMessage(LogEventIds.DeadLettersDiscarded, LogLevel.Information, "Discarded {Count} open dead letters", EventName = "DeadLettersDiscarded")]
    public static partial void DeadLettersDiscarded(ILogger logger, int count);
}
