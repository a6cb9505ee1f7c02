using Microsoft.Extensions.Options;
using NexusArchive.Core.Configuration;
using Polly;
using Polly.CircuitBreaker;
using Polly.Registry;

namespace NexusArchive.Core.Resilience;

/// <summary>
/// Runs one call to a dependency through its named Polly pipeline (<c>nexus-redis</c> or <c>nexus-postgres</c>):
/// transient failures are retried, a dependency that keeps failing opens the breaker, and an open breaker surfaces as
/// <see cref="DependencyUnavailableException"/> naming the setting and endpoint. The one way every service reaches
/// Redis and PostgreSQL; the stores and writers it runs are plain and never retry on their own, so no call is retried
/// by two layers.
/// </summary>
internal abstract class DependencyCalls
{
    private readonly ResiliencePipeline _pipeline;
    private readonly string _dependency;
    private readonly string _endpoint;
    private readonly TimeSpan _breakDuration;

    private protected DependencyCalls(ResiliencePipeline pipeline, string dependency, string endpoint, TimeSpan breakDuration)
    {
        _pipeline = pipeline;
        _dependency = dependency;
        _endpoint = endpoint;
        _breakDuration = breakDuration;
    }

    /// <summary>Runs <paramref name="call"/>; its second argument is the attempt number (0 for the first).</summary>
    public async Task<T> RunAsync<T>(Func<CancellationToken, int, Task<T>> call, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(call);
        var attempt = 0;
        try
        {
            return await _pipeline.ExecuteAsync(async ct => await call(ct, attempt++), cancellationToken);
        }
        catch (BrokenCircuitException ex)
        {
            throw new DependencyUnavailableException(_dependency, _endpoint, _breakDuration, ex);
        }
    }

    /// <summary>Runs <paramref name="call"/> and returns its result.</summary>
    public Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken) =>
        RunAsync((ct, _) => call(ct), cancellationToken);

    /// <summary>Runs <paramref name="call"/>.</summary>
    public Task RunAsync(Func<CancellationToken, Task> call, CancellationToken cancellationToken) =>
        RunAsync(async (ct, _) =>
        {
            await call(ct);
            return true;
        }, cancellationToken);
}

/// <summary>PostgreSQL calls through the <c>nexus-postgres</c> pipeline.</summary>
internal sealed class PostgresCalls(ResiliencePipelineProvider<string> pipelines, IOptions<ResilienceOptions> options, DependencyEndpoints endpoints)
    : DependencyCalls(pipelines.GetPipeline(ResiliencePipelineNames.Postgres), "PostgreSQL", endpoints.Postgres, options.Value.BreakDuration);

/// <summary>Redis calls through the <c>nexus-redis</c> pipeline.</summary>
internal sealed class RedisCalls(ResiliencePipelineProvider<string> pipelines, IOptions<ResilienceOptions> options, DependencyEndpoints endpoints)
    : DependencyCalls(pipelines.GetPipeline(ResiliencePipelineNames.Redis), "Redis", endpoints.Redis, options.Value.BreakDuration);
