using Microsoft.Extensions.Options;

namespace NexusArchive.Core.Resilience;

/// <summary>Range rules for <see cref="ResilienceOptions"/> (Polly's own limits, stated up front); every failure names the setting.</summary>
internal sealed class ResilienceOptionsValidator : IValidateOptions<ResilienceOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, ResilienceOptions options)
    {
        var failures = new List<string>();
        const string S = ResilienceOptions.SectionName;

        if (options.MaxRetryAttempts is < 0 or > 20)
        {
            failures.Add($"{S}:MaxRetryAttempts must be between 0 and 20 (was {options.MaxRetryAttempts}).");
        }

        if (options.BaseDelay < TimeSpan.Zero || options.BaseDelay > TimeSpan.FromMinutes(1))
        {
            failures.Add($"{S}:BaseDelay must be between 00:00:00 and 00:01:00 (was {options.BaseDelay}).");
        }

        if (options.MaxDelay < options.BaseDelay || options.MaxDelay > TimeSpan.FromMinutes(5))
        {
            failures.Add($"{S}:MaxDelay must be at least {S}:BaseDelay and at most 00:05:00 (was {options.MaxDelay}).");
        }

        Timeout(nameof(options.RedisAttemptTimeout), options.RedisAttemptTimeout);
        Timeout(nameof(options.PostgresAttemptTimeout), options.PostgresAttemptTimeout);

        if (options.BreakerFailureRatio is <= 0 or > 1)
        {
            failures.Add($"{S}:BreakerFailureRatio must be above 0 and at most 1 (was {options.BreakerFailureRatio}).");
        }

        if (options.BreakerMinimumThroughput < 2)
        {
            failures.Add($"{S}:BreakerMinimumThroughput must be at least 2 (was {options.BreakerMinimumThroughput}).");
        }

        if (options.BreakerSamplingDuration < TimeSpan.FromMilliseconds(500) || options.BreakerSamplingDuration > TimeSpan.FromDays(1))
        {
            failures.Add($"{S}:BreakerSamplingDuration must be between 00:00:00.5 and 1.00:00:00 (was {options.BreakerSamplingDuration}).");
        }

        if (options.BreakDuration < TimeSpan.FromMilliseconds(500) || options.BreakDuration > TimeSpan.FromDays(1))
        {
            failures.Add($"{S}:BreakDuration must be between 00:00:00.5 and 1.00:00:00 (was {options.BreakDuration}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);

        void Timeout(string setting, TimeSpan value)
        {
            if (value < TimeSpan.FromMilliseconds(10) || value > TimeSpan.FromDays(1))
            {
                failures.Add($"{S}:{setting} must be between 00:00:00.01 and 1.00:00:00 (was {value}).");
            }
        }
    }
}
