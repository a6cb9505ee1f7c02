namespace NexusArchive.Core.Resilience;

/// <summary>
/// A dependency's circuit breaker is open: recent calls kept failing transiently, so the pass fails fast instead of
/// burning its time budget on retries. The next pass (after <c>Archive:Resilience:BreakDuration</c>) probes again.
/// </summary>
public sealed class DependencyUnavailableException(string dependency, TimeSpan breakDuration, Exception innerException)
    : Exception($"{dependency} is unavailable: its circuit breaker opened after repeated transient failures; calls are rejected for {breakDuration} before the next probe.", innerException)
{
    /// <summary><c>Redis</c> or <c>PostgreSQL</c>.</summary>
    public string Dependency { get; } = dependency;
}
