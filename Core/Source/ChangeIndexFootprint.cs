using NexusArchive.Core.Entities;
using NexusArchive.Core.Resilience;
using StackExchange.Redis;

namespace NexusArchive.Core.Source;

/// <summary>
/// What the archive itself keeps in Redis beside NexusChat's records: one change-index entry per record
/// (<c>{prefix}:changes:{entity}</c>, or one per shard of a sharded entity: docs/scaling.md). <c>ZCARD</c> and
/// <c>MEMORY USAGE</c> (sampled, the server's default of 5 elements: constant work however large the index) per change
/// stream, pipelined through <c>nexus-redis</c>, summed per entity.
/// </summary>
internal sealed class ChangeIndexFootprint(IConnectionMultiplexer redis, RedisLayout layout, RedisCalls calls, EntityCatalog catalog)
{
    /// <summary>
    /// Per entity: entries in the change index and the bytes Redis reports for it; bytes are null when the server does
    /// not offer <c>MEMORY USAGE</c> (a managed Redis may not).
    /// </summary>
    public async Task<IReadOnlyDictionary<string, ChangeIndexSize>> ReadAsync(CancellationToken cancellationToken)
    {
        var database = redis.GetDatabase();
        var shards = await calls.RunAsync(ct => ShardLayout.ReadAsync(database, layout, ct), cancellationToken);
        var streams = catalog.All.SelectMany(shards.StreamsOf).ToArray();
        var entries = await calls.RunAsync(
            async ct =>
            {
                var cards = streams.Select(e => database.SortedSetLengthAsync(layout.ChangeIndexKey(e))).ToArray();
                return await Task.WhenAll(cards).WaitAsync(ct);
            },
            cancellationToken);

        long?[] bytes;
        try
        {
            bytes = await calls.RunAsync(
                async ct =>
                {
                    var usage = streams.Select(e => database.ExecuteAsync("MEMORY", "USAGE", layout.ChangeIndexKey(e))).ToArray();
                    var results = await Task.WhenAll(usage).WaitAsync(ct);
                    return results.Select(r => r.IsNull ? 0L : (long?)(long)r).ToArray();
                },
                cancellationToken);
        }
        catch (RedisServerException)
        {
            bytes = new long?[streams.Length];
        }

        return streams
            .Select((e, i) => (e.Name, Entries: entries[i], Bytes: bytes[i]))
            .GroupBy(x => x.Name, StringComparer.Ordinal)
            .ToDictionary(
                g => g.Key,
                g => new ChangeIndexSize(g.Sum(x => x.Entries), g.All(x => x.Bytes is not null) ? g.Sum(x => x.Bytes!.Value) : null),
                StringComparer.Ordinal);
    }
}

/// <summary>An entity's change index in Redis: its entries, and its bytes when the server reports them.</summary>
internal sealed record ChangeIndexSize(long Entries, long? Bytes);
