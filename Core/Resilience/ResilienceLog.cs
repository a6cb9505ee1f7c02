using Microsoft.Extensions.Logging;

namespace NexusArchive.Core.Diagnostics;

/// <summary>Log events of resilience and dead-letter handling (EventIds 4000-4099).</summary>
internal static partial class Log
{
    [LoggerMessage(4000, LogLevel.Warning, "{Dependency} call failed transiently ({Error}); retry {RetryAttempt} of {MaxRetryAttempts} in {DelayMs} ms", EventName = "RetryScheduled")]
    public static partial void RetryScheduled(ILogger logger, string dependency, int retryAttempt, int maxRetryAttempts, double delayMs, string error);

    [LoggerMessage(4001, LogLevel.Error, "{Dependency} circuit breaker opened for {BreakMs} ms after repeated transient failures (last: {Error}); calls fail fast", EventName = "CircuitOpened")]
    public static partial void CircuitOpened(ILogger logger, string dependency, double breakMs, string error);

    [LoggerMessage(4002, LogLevel.Information, "{Dependency} circuit breaker closed: calls succeed again", EventName = "CircuitClosed")]
    public static partial void CircuitClosed(ILogger logger, string dependency);

    [LoggerMessage(4003, LogLevel.Information, "Dead letter {DeadLetterId} ({Entity} {RecordId}) replayed: {Outcome}", EventName = "DeadLetterReplayed")]
    public static partial void DeadLetterReplayed(ILogger logger, long deadLetterId, string entity, string recordId, string outcome);

    [LoggerMessage(4004, LogLevel.Information, "Discarded {Count} open dead letters", EventName = "DeadLettersDiscarded")]
    public static partial void DeadLettersDiscarded(ILogger logger, int count);
}
