using System.Globalization;
using NexusArchive.Core.Entities;
using StackExchange.Redis;

namespace NexusArchive.Core.Source;

/// <summary>The shard counts of one entity: the writers' current count, and the count being drained after a reshard.</summary>
internal readonly record struct EntityShards(int Count, int? Draining);

/// <summary>
/// The shard layout as read from <c>{prefix}:archive:shards</c> at one moment (docs/scaling.md). Without the key every
/// entity has one shard: today's layout, with one change stream per entity.
/// </summary>
internal sealed class ShardLayout
{
    /// <summary>Every entity unsharded.</summary>
    public static readonly ShardLayout Unsharded = new(new Dictionary<string, EntityShards>(StringComparer.Ordinal), []);

    private readonly IReadOnlyDictionary<string, EntityShards> _entities;
    private readonly HashSet<string> _counted;

    /// <param name="entities">Each entity the layout names, with its counts.</param>
    /// <param name="counted">The entities whose count field exists (an entity may appear with a draining field only).</param>
    private ShardLayout(IReadOnlyDictionary<string, EntityShards> entities, IEnumerable<string> counted)
    {
        _entities = entities;
        _counted = [.. counted];
    }

    /// <summary>True when the entity has only its unsharded stream: no shards, none being drained.</summary>
    public bool HasOneStream(EntityDescriptor entity) => Of(entity.Whole) is { Count: 1, Draining: not > 1 };

    /// <summary>True when the layout names the entity's count.</summary>
    public bool Has(EntityDescriptor entity) => _counted.Contains(entity.Name);

    /// <summary>The entity's counts (1 and no drain when the layout does not name it).</summary>
    public EntityShards Of(EntityDescriptor entity) => _entities.GetValueOrDefault(entity.Name, new EntityShards(1, null));

    /// <summary>
    /// Every change stream of the entity a pass works: the unsharded stream (always: writers that predate sharding,
    /// and the drain after 1 → N, write there), the current shards, and the shards of the layout being drained.
    /// </summary>
    public IReadOnlyList<EntityDescriptor> StreamsOf(EntityDescriptor entity)
    {
        var whole = entity.Whole;
        var (count, draining) = Of(whole);
        var streams = new List<EntityDescriptor> { whole };
        foreach (var n in (int?[])[count, draining])
        {
            if (n is > 1 && !streams.Any(s => s.Shard?.Count == n))
            {
                streams.AddRange(Enumerable.Range(0, n.Value).Select(i => whole.ForShard(i, n.Value, draining: n != count)));
            }
        }

        return streams;
    }

    /// <summary>The stream a write of <paramref name="id"/> goes to now (what the Lua writer computes).</summary>
    public EntityDescriptor StreamOf(EntityDescriptor entity, string id)
    {
        var count = Of(entity.Whole).Count;
        return count == 1 ? entity.Whole : entity.Whole.ForShard(ChangeShard.IndexOf(id, count), count);
    }

    /// <summary>
    /// The streams of the layout whose index may hold an entry of <paramref name="id"/>, the one writes go to now first:
    /// that stream, the unsharded stream, and the id's shard of the layout being drained. An id sits only in its own
    /// shard of each count (the writer and the drain both hash it), so these are the only places to look. Unsharded:
    /// the entity's one stream.
    /// </summary>
    public IReadOnlyList<EntityDescriptor> StreamsHolding(EntityDescriptor entity, ReadOnlySpan<byte> id)
    {
        var whole = entity.Whole;
        if (HasOneStream(whole))
        {
            return [whole];
        }

        var (count, draining) = Of(whole);

        var streams = new List<EntityDescriptor>(3);
        if (count > 1)
        {
            streams.Add(whole.ForShard(ChangeShard.IndexOf(id, count), count));
        }

        streams.Add(whole);
        if (draining is { } d && d > 1 && d != count)
        {
            streams.Add(whole.ForShard(ChangeShard.IndexOf(id, d), d, draining: true));
        }

        return streams;
    }

    /// <inheritdoc cref="StreamsHolding(EntityDescriptor, ReadOnlySpan{byte})"/>
    public IReadOnlyList<EntityDescriptor> StreamsHolding(EntityDescriptor entity, string id) =>
        StreamsHolding(entity, System.Text.Encoding.UTF8.GetBytes(id));

    /// <summary>
    /// The newest change-index score of each id across the streams that may hold it (<see cref="StreamsHolding(EntityDescriptor, string)"/>):
    /// its latest write, wherever a reshard has left the entry; null = in no index. The ZSCOREs go out together (one
    /// round trip).
    /// </summary>
    public async Task<double?[]> NewestScoresAsync(IDatabaseAsync database, RedisLayout keys, EntityDescriptor entity, IReadOnlyList<string> ids)
    {
        var found = await Task.WhenAll(ids.Select(id => Task.WhenAll(
            StreamsHolding(entity, id).Select(s => database.SortedSetScoreAsync(keys.ChangeIndexKey(s), id)))));
        return [.. found.Select(scores => scores.Max())];
    }

    /// <summary>True when the stream is one the writers no longer write to (it only drains).</summary>
    public bool IsDraining(EntityDescriptor stream) => (stream.Shard?.Count ?? 1) != Of(stream.Whole).Count;

    /// <summary>Reads the layout (one <c>HGETALL</c>).</summary>
    public static async Task<ShardLayout> ReadAsync(IDatabaseAsync database, RedisLayout layout, CancellationToken cancellationToken)
    {
        var fields = await database.HashGetAllAsync(layout.ShardLayoutKey).WaitAsync(cancellationToken);
        return Parse(fields.Select(f => ((string)f.Name!, (string?)f.Value)));
    }

    /// <summary>Parses the hash's fields; a value that is not a count in 1–<see cref="ChangeShard.MaxCount"/> is refused.</summary>
    public static ShardLayout Parse(IEnumerable<(string Field, string? Value)> fields)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (field, value) in fields)
        {
            if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n is < 1 or > ChangeShard.MaxCount)
            {
                throw new InvalidDataException(
                    $"The shard layout field '{field}' holds '{value}', not a shard count from 1 to {ChangeShard.MaxCount}; fix it with `nexus-archive reshard` (docs/scaling.md).");
            }

            counts[field] = n;
        }

        var entities = new Dictionary<string, EntityShards>(StringComparer.Ordinal);
        var counted = counts.Keys.Where(k => !k.EndsWith(DrainingSuffix, StringComparison.Ordinal)).ToList();
        foreach (var (field, count) in counts.Where(c => !c.Key.EndsWith(DrainingSuffix, StringComparison.Ordinal)))
        {
            entities[field] = new EntityShards(count, counts.TryGetValue(field + DrainingSuffix, out var d) ? d : null);
        }

        foreach (var (field, draining) in counts.Where(c => c.Key.EndsWith(DrainingSuffix, StringComparison.Ordinal)))
        {
            entities.TryAdd(field[..^DrainingSuffix.Length], new EntityShards(1, draining));
        }

        return new ShardLayout(entities, counted);
    }

    /// <summary>The suffix of the field that holds the count being drained.</summary>
    public const string DrainingSuffix = ":draining";
}
