using System.Globalization;
using NexusArchive.Core.Entities;
using StackExchange.Redis;

namespace NexusArchive.Core.Source;

/// <summary>How <see cref="RecordWriter"/> treats fields already in the hash.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<WriteMode>))]
internal enum WriteMode
{
    /// <summary>Set the given fields and keep the others (an app's edit).</summary>
    Merge,

    /// <summary>The hash becomes exactly the given fields (restore).</summary>
    Replace,
}

/// <summary>The outcome of one write.</summary>
/// <param name="Written">False when an <c>onlyIfNewer</c> write found an equal or newer version in Redis.</param>
/// <param name="Score">The record's change score after the call (epoch ms).</param>
internal readonly record struct WriteResult(bool Written, long Score);

/// <summary>
/// Writes a record the way the layout contract requires: one atomic Lua script (<c>write-record.lua</c>) checks the
/// write, then updates the hash, the change index and the write counter and records a late write in the late set,
/// optionally stamping <c>updatedAt</c> from the Redis server clock. A write the script refuses changes nothing and
/// throws a <see cref="RedisServerException"/> whose message starts with <c>ERR nexus: </c> and names the problem.
/// NexusChat's own servers call the same script with the same five keys; see docs/redis-layout.md.
/// </summary>
internal sealed class RecordWriter(RedisLayout layout)
{
    /// <summary>Writes one record.</summary>
    /// <param name="database">Where to write; pass an <see cref="IBatch"/> to pipeline many writes.</param>
    /// <param name="entity">The entity.</param>
    /// <param name="id">The record id (the index member and the hash's <c>id</c> field).</param>
    /// <param name="fields">Field values as the client writes them (strings); <c>id</c> and <c>updatedAt</c> are set by the script.</param>
    /// <param name="updatedAtMs">The version's updatedAt in epoch ms; null stamps it from the Redis server clock.</param>
    /// <param name="mode">Merge into or replace the existing hash.</param>
    /// <param name="onlyIfNewer">Skip the write when Redis already holds this version or a newer one.</param>
    /// <exception cref="RedisServerException">The script refused the write (<c>ERR nexus: …</c>); Redis is unchanged.</exception>
    public async Task<WriteResult> WriteAsync(
        IDatabaseAsync database,
        EntityDescriptor entity,
        string id,
        IEnumerable<KeyValuePair<string, RedisValue>> fields,
        long? updatedAtMs = null,
        WriteMode mode = WriteMode.Merge,
        bool onlyIfNewer = false)
    {
        var args = new List<RedisValue>
        {
            id,
            updatedAtMs?.ToString(CultureInfo.InvariantCulture) ?? "*",
            mode == WriteMode.Replace ? "replace" : "merge",
            onlyIfNewer ? "if-newer" : "always",
        };
        foreach (var (name, value) in fields)
        {
            if (name is "id" or "updatedAt" || value.IsNull)
            {
                continue;
            }

            args.Add(name);
            args.Add(value);
        }

        var result = (RedisResult[])(await database.ScriptEvaluateAsync(
            EmbeddedScripts.WriteRecord,
            Keys(entity, id),
            [.. args]))!;
        return new WriteResult(
            (long)result[0] == 1,
            (long)double.Parse((string)result[1]!, CultureInfo.InvariantCulture));
    }

    /// <summary>The five keys of one write, in the script's order (docs/redis-layout.md).</summary>
    public RedisKey[] Keys(EntityDescriptor entity, string id) =>
    [
        layout.RecordKey(entity, id),
        layout.ChangeIndexKey(entity),
        layout.WriteCounterKey(entity),
        layout.LateHorizonKey(entity),
        layout.LateSetKey(entity),
    ];
}
