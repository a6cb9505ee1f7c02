using NexusArchive.Core.Entities;
using NexusArchive.Core.Source;

namespace NexusArchive.Core.Resilience;

/// <summary>
/// Runs every call of the real <see cref="IChangeSource"/> through the <c>nexus-redis</c> pipeline. Every call is a
/// read (or the idempotent checkpoint mirror), so a retry can never double an effect.
/// </summary>
internal sealed class ResilientChangeSource(IChangeSource inner, RedisCalls redis) : IChangeSource
{

    /// <inheritdoc />
    public Task<DateTimeOffset> GetServerTimeAsync(CancellationToken cancellationToken) =>
        RunAsync(ct => inner.GetServerTimeAsync(ct), cancellationToken);

    /// <inheritdoc />
    public Task<ChangePage> ReadPageAsync(EntityDescriptor entity, ChangeCursor after, double maxScore, int limit, CancellationToken cancellationToken) =>
        RunAsync(ct => inner.ReadPageAsync(entity, after, maxScore, limit, ct), cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<SourceRecord>> FetchAsync(EntityDescriptor entity, IReadOnlyList<ChangeEntry> entries, CancellationToken cancellationToken) =>
        RunAsync(ct => inner.FetchAsync(entity, entries, ct), cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<ChangeEntry>> ReadBeyondAsync(EntityDescriptor entity, double minScore, int limit, CancellationToken cancellationToken) =>
        RunAsync(ct => inner.ReadBeyondAsync(entity, minScore, limit, ct), cancellationToken);

    /// <inheritdoc />
    public Task<long> CountAfterAsync(EntityDescriptor entity, double afterScore, CancellationToken cancellationToken) =>
        RunAsync(ct => inner.CountAfterAsync(entity, afterScore, ct), cancellationToken);

    /// <inheritdoc />
    public Task<WriteCount?> GetWriteCountAsync(EntityDescriptor entity, CancellationToken cancellationToken) =>
        RunAsync(ct => inner.GetWriteCountAsync(entity, ct), cancellationToken);

    /// <inheritdoc />
    public Task MirrorCheckpointAsync(EntityDescriptor entity, double score, CancellationToken cancellationToken) =>
        RunAsync(async ct =>
        {
            await inner.MirrorCheckpointAsync(entity, score, ct);
            return true;
        }, cancellationToken);

    /// <inheritdoc />
    public Task RaiseLateHorizonAsync(EntityDescriptor entity, double score, CancellationToken cancellationToken) =>
        redis.RunAsync(ct => inner.RaiseLateHorizonAsync(entity, score, ct), cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<ChangeEntry>> ReadLateAsync(EntityDescriptor entity, int limit, CancellationToken cancellationToken) =>
        RunAsync(ct => inner.ReadLateAsync(entity, limit, ct), cancellationToken);

    /// <inheritdoc />
    public Task RemoveLateAsync(EntityDescriptor entity, IReadOnlyList<ChangeEntry> entries, CancellationToken cancellationToken) =>
        redis.RunAsync(ct => inner.RemoveLateAsync(entity, entries, ct), cancellationToken);

    /// <inheritdoc />
    public Task<ShardLayout> GetShardLayoutAsync(CancellationToken cancellationToken) =>
        RunAsync(ct => inner.GetShardLayoutAsync(ct), cancellationToken);

    /// <inheritdoc />
    public Task<(long Moved, long Left)> DrainStreamAsync(EntityDescriptor stream, double archivedUpTo, int limit, CancellationToken cancellationToken) =>
        RunAsync(ct => inner.DrainStreamAsync(stream, archivedUpTo, limit, ct), cancellationToken); // a retried move finds the moved entries gone

    /// <inheritdoc />
    public Task<IReadOnlyList<StreamBacklog>> GetBacklogsAsync(IReadOnlyList<(EntityDescriptor Stream, double After)> streams, double upTo, CancellationToken cancellationToken) =>
        RunAsync(ct => inner.GetBacklogsAsync(streams, upTo, ct), cancellationToken);

    private Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken) => redis.RunAsync(call, cancellationToken);
}
