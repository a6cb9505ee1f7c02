using NexusArchive.Core.Entities;
using NexusArchive.Core.Resilience;
using StackExchange.Redis;

namespace NexusArchive.Core.Source;

/// <summary>
/// One step of <c>SCAN</c> over an entity's record keys (<c>{prefix}:{entity}:*</c>), through the <c>nexus-redis</c>
/// pipeline (SCAN is a read, so a retry is harmless). Verify and backfill walk the keyspace with it; backfill saves the
/// cursor between steps to resume. Keys in the archive's own namespaces (<c>changes:</c>, <c>archive:</c>) are never
/// returned, should an entity ever be named that way.
/// </summary>
internal sealed class RecordKeyScanner(IConnectionMultiplexer redis, RedisLayout layout, RedisCalls calls)
{
    /// <summary>Runs one SCAN step from <paramref name="cursor"/>; the returned cursor is 0 when the walk is complete.</summary>
    public Task<(RedisValue Next, RedisKey[] Keys)> ScanAsync(EntityDescriptor entity, RedisValue cursor, int count, CancellationToken cancellationToken) =>
        calls.RunAsync(
            async ct =>
            {
                var reserved = new[] { $"{layout.KeyPrefix}:changes:", $"{layout.KeyPrefix}:archive:" };
                var scan = (RedisResult[])(await redis.GetDatabase()
                    .ExecuteAsync("SCAN", cursor, "MATCH", layout.RecordKeyPrefix(entity) + "*", "COUNT", count).WaitAsync(ct))!;
                var keys = ((RedisKey[])scan[1]!).Where(k => !reserved.Any(r => ((string)k!).StartsWith(r, StringComparison.Ordinal))).ToArray();
                return ((RedisValue)scan[0], keys);
            },
            cancellationToken);
}
