using NexusArchive.Core.Entities;

namespace NexusArchive.Core.Source;

/// <summary>The Redis side of a pass: the change indexes, the record hashes and the Redis clock.</summary>
internal interface IChangeSource
{
    /// <summary>"Now" on the Redis server (<c>TIME</c>): the clock writers stamp with.</summary>
    Task<DateTimeOffset> GetServerTimeAsync(CancellationToken cancellationToken);

    /// <summary>Reads up to <paramref name="limit"/> entries after <paramref name="after"/> with score ≤ <paramref name="maxScore"/>.</summary>
    Task<ChangePage> ReadPageAsync(EntityDescriptor entity, ChangeCursor after, double maxScore, int limit, CancellationToken cancellationToken);

    /// <summary>Fetches the record hashes of the given entries in one pipelined round trip.</summary>
    Task<IReadOnlyList<SourceRecord>> FetchAsync(EntityDescriptor entity, IReadOnlyList<ChangeEntry> entries, CancellationToken cancellationToken);

    /// <summary>Entries whose score is above <paramref name="minScore"/>: records stamped implausibly far in the future.</summary>
    Task<IReadOnlyList<ChangeEntry>> ReadBeyondAsync(EntityDescriptor entity, double minScore, int limit, CancellationToken cancellationToken);

    /// <summary>Number of entries with a score above <paramref name="afterScore"/> (the backlog behind a checkpoint).</summary>
    Task<long> CountAfterAsync(EntityDescriptor entity, double afterScore, CancellationToken cancellationToken);

    /// <summary>
    /// The entity's write counter (<c>{prefix}:writes:{entity}</c>) and the size of its change index; (0, 0) when
    /// neither exists (nothing was ever written); null when the index has entries but no writer maintains the counter.
    /// </summary>
    Task<WriteCount?> GetWriteCountAsync(EntityDescriptor entity, CancellationToken cancellationToken);

    /// <summary>Publishes a committed checkpoint to <c>{prefix}:archive:checkpoint:{entity}</c>.</summary>
    Task MirrorCheckpointAsync(EntityDescriptor entity, double score, CancellationToken cancellationToken);

    /// <summary>Raises the entity's late horizon to <paramref name="score"/> (never lowers it); see <see cref="RedisLayout.LateHorizonKey"/>.</summary>
    Task RaiseLateHorizonAsync(EntityDescriptor entity, double score, CancellationToken cancellationToken);

    /// <summary>The oldest entries of the entity's late set (member = id, score = the late write's updatedAt), at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<ChangeEntry>> ReadLateAsync(EntityDescriptor entity, int limit, CancellationToken cancellationToken);

    /// <summary>Removes drained late entries, each only while it still carries the score read (a newer late write stays).</summary>
    Task RemoveLateAsync(EntityDescriptor entity, IReadOnlyList<ChangeEntry> entries, CancellationToken cancellationToken);

    /// <summary>Reads the shard layout (docs/scaling.md): which change streams each entity has now.</summary>
    Task<ShardLayout> GetShardLayoutAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Moves the entries of a stream the writers no longer write to, scored at or below <paramref name="archivedUpTo"/>,
    /// into the streams their ids belong to now (at most <paramref name="limit"/>). Returns how many moved and how many
    /// are left in the stream's index.
    /// </summary>
    Task<(long Moved, long Left)> DrainStreamAsync(EntityDescriptor stream, double archivedUpTo, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// For each stream, in one pipelined round trip of four commands a stream: its write count (as
    /// <see cref="GetWriteCountAsync"/>), the size of its late set, and how many index entries are due after its checkpoint
    /// (score in (<c>After</c>, <paramref name="upTo"/>]). What a fan-out plan needs to tell a stream with work from a quiet one.
    /// </summary>
    Task<IReadOnlyList<StreamBacklog>> GetBacklogsAsync(IReadOnlyList<(EntityDescriptor Stream, double After)> streams, double upTo, CancellationToken cancellationToken);
}

/// <summary>One change stream's write count, late-set size and due entries, read together (<see cref="IChangeSource.GetBacklogsAsync"/>).</summary>
/// <param name="Writes">The write counter and index size; null when the index has entries but no writer keeps the counter.</param>
/// <param name="Late">Entries in the late set (writes stamped at or below the late horizon, not drained yet).</param>
/// <param name="Due">Index entries after the checkpoint and at or below the pass's upper bound.</param>
internal readonly record struct StreamBacklog(WriteCount? Writes, long Late, long Due);

/// <summary>
/// An entity's write counter and change-index size, read together. The size is a second witness: a counter rolled back
/// (a failover to a lagging replica, a restore of Redis) that climbs back to an old value rarely brings the index along.
/// </summary>
internal readonly record struct WriteCount(long Writes, long IndexSize);
