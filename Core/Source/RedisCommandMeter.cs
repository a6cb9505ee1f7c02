using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Entities;

namespace NexusArchive.Core.Source;

/// <summary>
/// Counts the Redis commands the archiver sends, per entity, as Redis itself counts them in <c>INFO commandstats</c>
/// (and as Upstash bills them): each command of a pipeline once, a script call once plus every command the script runs.
/// A pass reads its entity's total before and after (<see cref="Archiving.EntityRunStats.RedisCommands"/>); the
/// <c>nexus_archive.redis.commands</c> metric carries the same counts. Commands of other services on the same entity
/// during a pass (the records endpoint) fall into that pass's count: they are the archiver's too.
/// </summary>
internal sealed class RedisCommandMeter(ArchiveMetrics metrics)
{
    /// <summary>The key for commands that belong to no entity (the Redis clock).</summary>
    public const string NoEntity = "";

    private readonly ConcurrentDictionary<string, StrongBox<long>> _totals = new(StringComparer.Ordinal);

    /// <summary>Adds <paramref name="commands"/> sent for <paramref name="entity"/>.</summary>
    public void Add(EntityDescriptor? entity, long commands)
    {
        var stream = entity?.FeedName ?? NoEntity;
        Interlocked.Add(ref _totals.GetOrAdd(stream, static _ => new StrongBox<long>()).Value, commands);
        metrics.RecordRedisCommands(entity, commands);
    }

    /// <summary>
    /// Commands sent for one change stream (<see cref="EntityDescriptor.FeedName"/>: the entity, or one of its shards)
    /// or for <see cref="NoEntity"/> since the process started.
    /// </summary>
    public long Total(string stream) => _totals.TryGetValue(stream, out var total) ? Interlocked.Read(ref total.Value) : 0;
}
