namespace NexusArchive.Core.Resilience;

/// <summary>
/// A dependency's circuit breaker is open: recent calls kept failing transiently, so the pass fails fast instead of
/// burning its time budget on retries. The next pass (after <c>Archive:Resilience:BreakDuration</c>) probes again.
/// </summary>
/// <param name="dependency"><c>Redis</c> or <c>PostgreSQL</c>.</param>
/// <param name="endpoint">The setting and the host/port it names (<see cref="Configuration.DependencyEndpoints"/>), never a password.</param>
/// <param name="breakDuration">How long calls are rejected.</param>
/// <param name="innerException">The breaker's exception.</param>
internal sealed class DependencyUnavailableException(string dependency, string endpoint, TimeSpan breakDuration, Exception innerException)
    : Exception($"{dependency} at {endpoint} is unavailable: its circuit breaker opened after repeated transient failures; calls are rejected for {breakDuration} before the next probe.", innerException)
{
    /// <summary><c>Redis</c> or <c>PostgreSQL</c>.</summary>
    public string Dependency { get; } = dependency;
}
