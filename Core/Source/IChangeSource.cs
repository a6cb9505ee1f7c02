using NexusArchive.Core.Entities;

namespace NexusArchive.Core.Source;

/// <summary>The Redis side of a pass: the change indexes, the record hashes and the Redis clock.</summary>
public interface IChangeSource
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
    /// The entity's write counter (<c>{prefix}:writes:{entity}</c>), or null when no writer maintains it (writers that
    /// call the Lua writer without its third key): then every pass re-reads the look-back overlap.
    /// </summary>
    Task<long?> GetWriteCountAsync(EntityDescriptor entity, CancellationToken cancellationToken);

    /// <summary>Publishes a committed checkpoint to <c>{prefix}:archive:checkpoint:{entity}</c>.</summary>
    Task MirrorCheckpointAsync(EntityDescriptor entity, double score, CancellationToken cancellationToken);
}
