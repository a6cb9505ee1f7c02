using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Diagnostics;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace NexusArchive.Core.Resilience;

/// <summary>Registers <see cref="ResilienceOptions"/> and the <c>nexus-redis</c> / <c>nexus-postgres</c> pipelines.</summary>
internal static class ResilienceServiceCollectionExtensions
{
    /// <summary>
    /// Binds <c>Archive:Resilience</c> (validated at start-up) and adds the two named pipelines with Polly.Extensions'
    /// <c>AddResiliencePipeline</c>: retry (exponential backoff with jitter, transient failures only) → circuit breaker
    /// → per-attempt timeout, on the registered <see cref="TimeProvider"/>.
    /// </summary>
    public static IServiceCollection AddNexusResilience(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);

        services.AddOptions<ResilienceOptions>()
            .Bind(configuration.GetSection(ResilienceOptions.SectionName))
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ResilienceOptions>, ResilienceOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);

        services.AddResiliencePipeline(ResiliencePipelineNames.Redis, (builder, context) =>
        {
            var options = context.ServiceProvider.GetRequiredService<IOptions<ResilienceOptions>>().Value;
            Configure(builder, context.ServiceProvider, "Redis", options, options.RedisAttemptTimeout, TransientFailures.IsTransientRedis);
        });
        services.AddResiliencePipeline(ResiliencePipelineNames.Postgres, (builder, context) =>
        {
            var options = context.ServiceProvider.GetRequiredService<IOptions<ResilienceOptions>>().Value;
            Configure(builder, context.ServiceProvider, "PostgreSQL", options, options.PostgresAttemptTimeout, TransientFailures.IsTransientPostgres);
        });
        return services;
    }

    /// <summary>Adds retry → circuit breaker → per-attempt timeout (outermost first) to <paramref name="builder"/>.</summary>
    internal static void Configure(
        ResiliencePipelineBuilder builder,
        IServiceProvider services,
        string dependency,
        ResilienceOptions options,
        TimeSpan attemptTimeout,
        Func<Exception, bool> isTransient)
    {
        builder.TimeProvider = services.GetRequiredService<TimeProvider>();
        var logger = services.GetService<ILoggerFactory>()?.CreateLogger("NexusArchive.Core.Resilience") ?? NullLogger.Instance;
        var shouldHandle = new PredicateBuilder().Handle<Exception>(isTransient);

        if (options.MaxRetryAttempts > 0)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = shouldHandle,
                MaxRetryAttempts = options.MaxRetryAttempts,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.BaseDelay,
                MaxDelay = options.MaxDelay,
                OnRetry = args =>
                {
                    var error = args.Outcome.Exception is { } ex ? ErrorText.Describe(ex) : "unknown";
                    Log.RetryScheduled(logger, dependency, args.AttemptNumber + 1, options.MaxRetryAttempts, args.RetryDelay.TotalMilliseconds, error);
                    return default;
                },
            });
        }

        builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions
        {
            ShouldHandle = shouldHandle,
            FailureRatio = options.BreakerFailureRatio,
            MinimumThroughput = options.BreakerMinimumThroughput,
            SamplingDuration = options.BreakerSamplingDuration,
            BreakDuration = options.BreakDuration,
            OnOpened = args =>
            {
                var error = args.Outcome.Exception is { } ex ? ErrorText.Describe(ex) : "unknown";
                Log.CircuitOpened(logger, dependency, args.BreakDuration.TotalMilliseconds, error);
                return default;
            },
            OnClosed = _ =>
            {
                Log.CircuitClosed(logger, dependency);
                return default;
            },
        });

        builder.AddTimeout(attemptTimeout);
    }
}
