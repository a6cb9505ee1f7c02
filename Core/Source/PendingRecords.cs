using NexusArchive.Core.Entities;
using NexusArchive.Core.Resilience;
using StackExchange.Redis;

namespace NexusArchive.Core.Source;

/// <summary>A record whose latest write is not archived yet, with its parent fields (null when absent).</summary>
internal readonly record struct PendingRecord(string Id, string? UserId, string? SessionId, string? MessageId);

/// <summary>
/// Reads which records of an entity wait to be archived — change-index members scored after a bound (the checkpoint,
/// the late horizon) and every member of the late set — and the parent fields that tell whose they are. Offload keeps
/// such records' sessions in Redis; erase removes a user's records with them.
/// </summary>
internal sealed class PendingRecords(IConnectionMultiplexer redis, RedisLayout layout, RedisCalls redisCalls)
{
    private const int ChunkSize = 1000;

    private static readonly RedisValue[] s_parentFields = ["userId", "sessionId", "messageId"];

    /// <summary>
    /// The ids of <paramref name="entity"/>'s records indexed after <paramref name="after"/> (at it too with
    /// <paramref name="includeAfter"/>) or in the late set, each once, index first. Null when more than
    /// <paramref name="limit"/> entries wait (counted before anything is read).
    /// </summary>
    public Task<string[]?> ReadIdsAsync(EntityDescriptor entity, double after, bool includeAfter, long limit, CancellationToken cancellationToken)
    {
        var database = redis.GetDatabase();
        var exclude = includeAfter ? Exclude.None : Exclude.Start;
        return redisCalls.RunAsync(
            async ct =>
            {
                if (limit < long.MaxValue)
                {
                    var count = await database.SortedSetLengthAsync(layout.ChangeIndexKey(entity), after, double.PositiveInfinity, exclude).WaitAsync(ct)
                        + await database.SortedSetLengthAsync(layout.LateSetKey(entity)).WaitAsync(ct);
                    if (count > limit)
                    {
                        return null;
                    }
                }

                var tail = await database.SortedSetRangeByScoreAsync(layout.ChangeIndexKey(entity), after, double.PositiveInfinity, exclude).WaitAsync(ct);
                var late = await database.SortedSetRangeByRankAsync(layout.LateSetKey(entity)).WaitAsync(ct);
                return (string[]?)[.. tail.Concat(late).Select(m => (string)m!).Distinct(StringComparer.Ordinal)];
            },
            cancellationToken);
    }

    /// <summary>The records named by <paramref name="ids"/> with their parent fields, read pipelined in chunks.</summary>
    public async Task<List<PendingRecord>> WithParentsAsync(EntityDescriptor entity, IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        var database = redis.GetDatabase();
        var records = new List<PendingRecord>(ids.Count);
        foreach (var chunk in ids.Chunk(ChunkSize))
        {
            var parents = await redisCalls.RunAsync(
                async ct =>
                {
                    var reads = chunk.Select(id => database.HashGetAsync(layout.RecordKey(entity, id), s_parentFields)).ToArray();
                    await Task.WhenAll(reads).WaitAsync(ct);
                    return reads.Select(r => r.Result).ToArray();
                },
                cancellationToken);
            for (var i = 0; i < chunk.Length; i++)
            {
                records.Add(new PendingRecord(chunk[i], (string?)parents[i][0], (string?)parents[i][1], (string?)parents[i][2]));
            }
        }

        return records;
    }
}
