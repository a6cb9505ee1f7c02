using Microsoft.Extensions.Logging;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Resilience;
using NexusArchive.Core.Source;
using StackExchange.Redis;

namespace NexusArchive.Core.Scaling;

/// <summary>What a reshard did.</summary>
/// <param name="Entity">The entity.</param>
/// <param name="From">The shard count the writers used before.</param>
/// <param name="To">The shard count they use now.</param>
/// <param name="Draining">The count whose streams passes now drain into the new ones; null when nothing is to drain.</param>
public sealed record ReshardResult(string Entity, int From, int To, int? Draining);

/// <summary>
/// Changes an entity's shard count on a live system (docs/scaling.md). One atomic change of
/// <c>{prefix}:archive:shards</c> switches every writer at once (the Lua writer reads it on each write); the streams of
/// the old count are then drained by the ordinary passes, which archive them and move their entries to the new shards.
/// A second reshard waits until that drain has finished, so at most two layouts exist at a time.
/// </summary>
public sealed class ReshardService
{
    private readonly EntityCatalog _entities;
    private readonly RedisAccess _redis;
    private readonly ILogger<ReshardService> _logger;

    internal ReshardService(EntityCatalog entities, RedisAccess redis, ILogger<ReshardService> logger)
    {
        _entities = entities;
        _redis = redis;
        _logger = logger;
    }

    /// <summary>Sets the entity's shard count to <paramref name="count"/>.</summary>
    /// <exception cref="ArgumentException">Unknown entity or a count outside 1–256.</exception>
    /// <exception cref="InvalidOperationException">The previous reshard of the entity is still draining, or another reshard ran at the same moment.</exception>
    public async Task<ReshardResult> ReshardAsync(string entityName, int count, CancellationToken cancellationToken)
    {
        var entity = _entities.Find(entityName) ?? throw new ArgumentException(
            $"Unknown entity '{entityName}'; known: {string.Join(", ", _entities.All.Select(e => e.Name))}.", nameof(entityName));
        if (count is < 1 or > ChangeShard.MaxCount)
        {
            throw new ArgumentException($"The shard count must be from 1 to {ChangeShard.MaxCount} (was {count}).", nameof(count));
        }

        var database = _redis.Connection.GetDatabase();
        var key = _redis.Layout.ShardLayoutKey;
        var layout = await _redis.Calls.RunAsync(ct => ShardLayout.ReadAsync(database, _redis.Layout, ct), cancellationToken);
        var (current, draining) = layout.Of(entity);
        if (count == current)
        {
            return new ReshardResult(entity.Name, current, count, draining);
        }

        if (draining is { } old)
        {
            var left = await EntriesLeftAsync(database, entity, old, cancellationToken);
            if (left > 0)
            {
                throw new InvalidOperationException(
                    $"{entity.Name} is still draining its {old}-shard layout ({left} entries left in its indexes and late sets): "
                    + "run archive passes until `nexus-archive status` shows the drain finished, then reshard again.");
            }
        }

        // One transaction, on the condition that nobody changed the count meanwhile: writers switch at EXEC.
        var transaction = database.CreateTransaction();
        transaction.AddCondition(layout.Has(entity) ? Condition.HashEqual(key, entity.Name, current) : Condition.HashNotExists(key, entity.Name));
        var drainingField = entity.Name + ShardLayout.DrainingSuffix;
        _ = count == 1 ? transaction.HashDeleteAsync(key, entity.Name) : transaction.HashSetAsync(key, entity.Name, count);

        // From one shard nothing is recorded: the unsharded stream is always worked, and drains into the shards.
        _ = current > 1 ? transaction.HashSetAsync(key, drainingField, current) : transaction.HashDeleteAsync(key, drainingField);
        var committed = await _redis.Calls.RunAsync(ct => transaction.ExecuteAsync().WaitAsync(ct), cancellationToken);
        if (!committed)
        {
            throw new InvalidOperationException($"The shard layout of {entity.Name} changed while resharding (another reshard?): read `nexus-archive status` and try again.");
        }

        Log.Resharded(_logger, entity.Name, current, count);
        return new ReshardResult(entity.Name, current, count, current > 1 ? current : null);
    }

    private async Task<long> EntriesLeftAsync(IDatabase database, EntityDescriptor entity, int count, CancellationToken cancellationToken)
    {
        long left = 0;
        for (var shard = 0; shard < count; shard++)
        {
            var stream = entity.ForShard(shard, count);
            left += await _redis.Calls.RunAsync(
                async ct => await database.SortedSetLengthAsync(_redis.Layout.ChangeIndexKey(stream)).WaitAsync(ct)
                    + await database.SortedSetLengthAsync(_redis.Layout.LateSetKey(stream)).WaitAsync(ct),
                cancellationToken);
        }

        return left;
    }
}
