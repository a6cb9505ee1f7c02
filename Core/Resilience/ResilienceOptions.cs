namespace NexusArchive.Core.Resilience;

/// <summary>
/// Retry, per-attempt timeout and circuit-breaker settings of the <c>nexus-redis</c> and <c>nexus-postgres</c>
/// pipelines, bound from <c>Archive:Resilience</c> (environment: <c>Archive__Resilience__MaxRetryAttempts</c>, …).
/// Validated at start-up by <see cref="ResilienceOptionsValidator"/>.
/// </summary>
internal sealed class ResilienceOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Archive:Resilience";

    /// <summary>Retries after the first attempt of one call (a whole page transaction counts as one call); 0 disables retries.</summary>
    public int MaxRetryAttempts { get; set; } = 5;

    /// <summary>The first retry delay; later ones grow exponentially, with jitter.</summary>
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>No retry waits longer than this.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>One Redis call (a page read, a pipelined fetch) is abandoned and retried after this long.</summary>
    public TimeSpan RedisAttemptTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>One PostgreSQL call (a whole page transaction, including bad-row bisection) is abandoned and retried after this long.</summary>
    public TimeSpan PostgresAttemptTimeout { get; set; } = TimeSpan.FromSeconds(90);

    /// <summary>The breaker opens when at least this share of calls in the sampling window failed transiently…</summary>
    public double BreakerFailureRatio { get; set; } = 0.5;

    /// <summary>…and at least this many calls were made in the window.</summary>
    public int BreakerMinimumThroughput { get; set; } = 5;

    /// <summary>The window over which the breaker counts failures.</summary>
    public TimeSpan BreakerSamplingDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long an open breaker rejects calls at once before letting one probe through.</summary>
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(30);
}
