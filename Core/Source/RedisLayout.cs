using NexusArchive.Core.Entities;
using StackExchange.Redis;

namespace NexusArchive.Core.Source;

/// <summary>
/// The key names of the Redis layout contract (docs/redis-layout.md), for one key prefix.
/// </summary>
internal sealed class RedisLayout
{
    public RedisLayout(string keyPrefix)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(keyPrefix);
        KeyPrefix = keyPrefix;
    }

    public string KeyPrefix { get; }

    /// <summary><c>{prefix}:{entity}:</c>, the start of every record key of the entity.</summary>
    public string RecordKeyPrefix(EntityDescriptor entity) => $"{KeyPrefix}:{entity.Name}:";

    /// <summary>The record hash <c>{prefix}:{entity}:{id}</c>.</summary>
    public RedisKey RecordKey(EntityDescriptor entity, string id) => RecordKeyPrefix(entity) + id;

    /// <summary>The record hash for an index member given as raw bytes.</summary>
    public RedisKey RecordKey(EntityDescriptor entity, byte[] member) =>
        ((RedisKey)RecordKeyPrefix(entity)).Append(member);

    /// <summary>The change index <c>{prefix}:changes:{entity}</c>: member = id, score = updatedAt (epoch ms).</summary>
    public RedisKey ChangeIndexKey(EntityDescriptor entity) => $"{KeyPrefix}:changes:{Stream(entity)}";

    /// <summary>
    /// The write counter <c>{prefix}:writes:{entity}</c>: every write through the Lua writer increments it. With
    /// <c>Archive:QuietPasses</c>, a pass that finds it (and the index size and checkpoint) unchanged since this
    /// process's last successful pass knows the look-back overlap is unchanged too.
    /// </summary>
    public RedisKey WriteCounterKey(EntityDescriptor entity) => $"{KeyPrefix}:writes:{Stream(entity)}";

    /// <summary>
    /// The late horizon <c>{prefix}:archive:horizon:{entity}</c> (string, epoch ms): a pass raises it to the highest score
    /// it will read <em>before</em> it reads the change index, so a write the writer stamps at or below it may land behind
    /// the pass and is also recorded in <see cref="LateSetKey"/>. Only ever raised.
    /// </summary>
    public RedisKey LateHorizonKey(EntityDescriptor entity) => $"{KeyPrefix}:archive:horizon:{Stream(entity)}";

    /// <summary>
    /// The late set <c>{prefix}:late:{entity}</c> (zset, member = id, score = updatedAt): writes the writer stamped at or
    /// below the late horizon. Every pass drains it (archives each record, then removes the entries it archived unless they
    /// were written again meanwhile), so a late write is archived at any age without a time window.
    /// </summary>
    public RedisKey LateSetKey(EntityDescriptor entity) => $"{KeyPrefix}:late:{Stream(entity)}";

    /// <summary>
    /// The offload marker of one user (hash: session id → epoch ms when it left Redis). The app reads it to tell an
    /// offloaded session (read it from Supabase, or ask for it back) from one that never existed.
    /// </summary>
    public RedisKey OffloadMarkerKey(string userId) => $"{KeyPrefix}:offloaded:{userId}";

    /// <summary>The mirrored checkpoint <c>{prefix}:archive:checkpoint:{entity}</c>: every score at or below it is archived.</summary>
    public RedisKey CheckpointKey(EntityDescriptor entity) => $"{KeyPrefix}:archive:checkpoint:{Stream(entity)}";

    /// <summary>
    /// The shard layout <c>{prefix}:archive:shards</c> (hash): field <c>{entity}</c> = its shard count (absent = 1, the
    /// unsharded layout), field <c>{entity}:draining</c> = the count before the last reshard while that layout's indexes
    /// still hold entries. The Lua writer reads it on every write (docs/scaling.md).
    /// </summary>
    public RedisKey ShardLayoutKey => $"{KeyPrefix}:archive:shards";

    /// <summary>
    /// The last part of a change stream's keys: the entity's name, or for a shard the hash tag <c>{message.3of4}</c>
    /// (so that one shard's keys can share a Redis Cluster slot when the prefix carries no tag of its own).
    /// </summary>
    private static string Stream(EntityDescriptor entity) =>
        entity.Shard is { } shard ? $"{{{entity.Name}.{shard.Label}}}" : entity.Name;
}
