using System.Globalization;
using NexusArchive.Core.Entities;
using StackExchange.Redis;

namespace NexusArchive.Core.Source;

/// <summary>
/// Reads change indexes and record hashes from Redis; see docs/redis-layout.md. Every call counts the commands it sends
/// (scripts with the commands they run) on the <see cref="RedisCommandMeter"/>.
/// </summary>
internal sealed class RedisChangeSource(IConnectionMultiplexer redis, RedisLayout layout, RedisCommandMeter meter) : IChangeSource
{
    private IDatabase Database => redis.GetDatabase();

    /// <inheritdoc />
    public async Task<DateTimeOffset> GetServerTimeAsync(CancellationToken cancellationToken)
    {
        meter.Add(null, 1);
        var result = await Database.ExecuteAsync("TIME").WaitAsync(cancellationToken);
        var parts = (RedisResult[])result!;
        var seconds = long.Parse((string)parts[0]!, CultureInfo.InvariantCulture);
        var micros = long.Parse((string)parts[1]!, CultureInfo.InvariantCulture);
        return DateTimeOffset.FromUnixTimeMilliseconds((seconds * 1000) + (micros / 1000));
    }

    /// <inheritdoc />
    public async Task<ChangePage> ReadPageAsync(
        EntityDescriptor entity, ChangeCursor after, double maxScore, int limit, CancellationToken cancellationToken)
    {
        var key = layout.ChangeIndexKey(entity);
        var probe = after;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var raw = await ReadRawAsync(entity, key, probe, limit).WaitAsync(cancellationToken);
            if (raw.Count == 0)
            {
                return new ChangePage([], ReachedEnd: true);
            }

            var entries = new List<ChangeEntry>(raw.Count);
            var reachedUpperBound = false;
            foreach (var entry in raw)
            {
                if (after.CompareEntry(entry.Score, entry.Member) <= 0)
                {
                    continue; // at or before the cursor: the cursor member moved and the page restarted at its score
                }

                if (entry.Score > maxScore)
                {
                    reachedUpperBound = true;
                    break;
                }

                entries.Add(entry);
            }

            if (entries.Count > 0 || reachedUpperBound)
            {
                return new ChangePage(entries, ReachedEnd: reachedUpperBound || raw.Count < limit);
            }

            if (raw.Count < limit)
            {
                return new ChangePage([], ReachedEnd: true);
            }

            // A whole page at or before the cursor (many records share its score and the cursor member moved):
            // continue from the last entry we saw, which exists at its score, so its rank is exact next time.
            probe = raw[^1].After;
        }
    }

    private async Task<List<ChangeEntry>> ReadRawAsync(EntityDescriptor entity, RedisKey key, ChangeCursor cursor, int limit)
    {
        var inclusive = cursor.Inclusive;
        meter.Add(entity, inclusive ? 3 : 4); // the script call; ZCOUNT + ZRANGE, or ZSCORE + (ZRANK or ZCOUNT) + ZRANGE
        var score = double.IsNegativeInfinity(cursor.Score) ? "-inf" : cursor.Score.ToString("R", CultureInfo.InvariantCulture);
        var result = await Database.ScriptEvaluateAsync(
            EmbeddedScripts.PageIndex,
            [key],
            [score, inclusive ? RedisValue.EmptyString : (RedisValue)cursor.Member!, inclusive ? "1" : "0", limit]);
        var items = (RedisResult[])result!;
        var entries = new List<ChangeEntry>(items.Length / 2);
        for (var i = 0; i + 1 < items.Length; i += 2)
        {
            entries.Add(new ChangeEntry((byte[])items[i]!, ParseScore((string)items[i + 1]!)));
        }

        return entries;
    }

    /// <summary>Parses a score as Redis prints it, including <c>inf</c> / <c>-inf</c> written by other clients.</summary>
    internal static double ParseScore(string text) => text switch
    {
        "inf" or "+inf" => double.PositiveInfinity,
        "-inf" => double.NegativeInfinity,
        _ => double.Parse(text, CultureInfo.InvariantCulture),
    };

    /// <inheritdoc />
    public async Task<IReadOnlyList<SourceRecord>> FetchAsync(
        EntityDescriptor entity, IReadOnlyList<ChangeEntry> entries, CancellationToken cancellationToken)
    {
        // HGETALL as the raw reply (ExecuteRespAsync): each hash is copied once into one array of its own, instead of
        // a RedisValue and an array per field plus the HashEntry[] (issue 19: that was a fifth of the archiver's CPU).
        var database = Database;
        meter.Add(entity, entries.Count);
        var pending = new Task<RespResult>[entries.Count];
        for (var i = 0; i < entries.Count; i++)
        {
            pending[i] = database.ExecuteRespAsync("HGETALL", new RedisKeyOrValue[] { layout.RecordKey(entity, entries[i].Member) });
        }

        try
        {
            await Task.WhenAll(pending).WaitAsync(cancellationToken);
            var records = new SourceRecord[entries.Count];
            for (var i = 0; i < entries.Count; i++)
            {
                records[i] = ReadHash(entries[i], pending[i].Result);
            }

            return records;
        }
        finally
        {
            foreach (var reply in pending)
            {
                if (reply.IsCompletedSuccessfully)
                {
                    reply.Result.Dispose(); // hands the leased reply buffer back
                }
            }
        }
    }

    /// <summary>An <c>HGETALL</c> reply (a RESP2 array or a RESP3 map of name, value, …) as a record; empty when the hash is gone.</summary>
    internal static SourceRecord ReadHash(ChangeEntry entry, RespResult reply)
    {
        if (reply.IsNull)
        {
            return new SourceRecord(entry, [], []);
        }

        var reader = reply.Read();
        reader.DemandAggregate();

        // Two walks over the reply: the sizes, then the bytes into one array of exactly that size.
        var count = 0;
        var length = 0;
        var sizes = reader.Clone();
        while (sizes.TryMoveNext())
        {
            count++;
            length += sizes.IsNull ? 0 : sizes.ScalarLength();
        }

        if (count % 2 != 0)
        {
            throw new RedisException($"HGETALL replied with {count} elements; expected name and value pairs.");
        }

        var data = new byte[length];
        var bounds = new int[count / 2 * 3];
        var at = 0;
        for (var i = 0; reader.TryMoveNext(); i++)
        {
            // Element i is field i / 2's name (even) or value (odd): bounds are name start, value start, value end.
            bounds[(i / 2 * 3) + (i % 2)] = at;
            at += reader.IsNull ? 0 : reader.CopyTo(data.AsSpan(at));
            if (i % 2 == 1)
            {
                bounds[(i / 2 * 3) + 2] = at;
            }
        }

        return new SourceRecord(entry, data, bounds);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ChangeEntry>> ReadBeyondAsync(
        EntityDescriptor entity, double minScore, int limit, CancellationToken cancellationToken)
    {
        meter.Add(entity, 1);
        var items = await Database.SortedSetRangeByScoreWithScoresAsync(
            layout.ChangeIndexKey(entity), minScore, double.PositiveInfinity, Exclude.Start, Order.Ascending, 0, limit)
            .WaitAsync(cancellationToken);
        return [.. items.Select(i => new ChangeEntry((byte[])i.Element!, i.Score))];
    }

    /// <inheritdoc />
    public Task<long> CountAfterAsync(EntityDescriptor entity, double afterScore, CancellationToken cancellationToken)
    {
        meter.Add(entity, 1);
        return Database.SortedSetLengthAsync(layout.ChangeIndexKey(entity), afterScore, double.PositiveInfinity, Exclude.Start)
            .WaitAsync(cancellationToken);
    }

    /// <inheritdoc />
    public async Task<WriteCount?> GetWriteCountAsync(EntityDescriptor entity, CancellationToken cancellationToken)
    {
        meter.Add(entity, 2);
        var batch = Database.CreateBatch();
        var counter = batch.StringGetAsync(layout.WriteCounterKey(entity));
        var size = batch.SortedSetLengthAsync(layout.ChangeIndexKey(entity));
        batch.Execute();
        await Task.WhenAll(counter, size).WaitAsync(cancellationToken);
        return ToWriteCount(counter.Result, size.Result);
    }

    /// <summary>
    /// No counter and an empty index: nothing was ever written, by the writer or around it (count 0). No counter and
    /// entries: the writers keep no counter, so no pass can prove that nothing was written since (null).
    /// </summary>
    private static WriteCount? ToWriteCount(RedisValue counter, long size) =>
        counter.IsNull ? size == 0 ? new WriteCount(0, 0) : null : new WriteCount((long)counter, size);

    /// <inheritdoc />
    public async Task<IReadOnlyList<StreamBacklog>> GetBacklogsAsync(
        IReadOnlyList<(EntityDescriptor Stream, double After)> streams, double upTo, CancellationToken cancellationToken)
    {
        var batch = Database.CreateBatch();
        var reads = new List<(Task<RedisValue> Counter, Task<long> Size, Task<long> Late, Task<long> Due)>(streams.Count);
        foreach (var (stream, after) in streams)
        {
            meter.Add(stream, 4);
            var index = layout.ChangeIndexKey(stream);
            reads.Add((
                batch.StringGetAsync(layout.WriteCounterKey(stream)),
                batch.SortedSetLengthAsync(index),
                batch.SortedSetLengthAsync(layout.LateSetKey(stream)),
                batch.SortedSetLengthAsync(index, after, upTo, Exclude.Start)));
        }

        batch.Execute();
        await Task.WhenAll(reads.SelectMany(r => new Task[] { r.Counter, r.Size, r.Late, r.Due })).WaitAsync(cancellationToken);
        return [.. reads.Select(r => new StreamBacklog(ToWriteCount(r.Counter.Result, r.Size.Result), r.Late.Result, r.Due.Result))];
    }

    /// <inheritdoc />
    public Task MirrorCheckpointAsync(EntityDescriptor entity, double score, CancellationToken cancellationToken)
    {
        meter.Add(entity, 1);
        return Database.StringSetAsync(layout.CheckpointKey(entity), score.ToString("R", CultureInfo.InvariantCulture))
            .WaitAsync(cancellationToken);
    }

    /// <inheritdoc />
    public async Task RaiseLateHorizonAsync(EntityDescriptor entity, double score, CancellationToken cancellationToken)
    {
        var wanted = score.ToString("R", CultureInfo.InvariantCulture);
        var horizon = await Database.ScriptEvaluateAsync(EmbeddedScripts.LateHorizon, [layout.LateHorizonKey(entity)], [wanted])
            .WaitAsync(cancellationToken);

        // The script call and its GET, and a SET when it raised the horizon (it then returns the value asked for).
        meter.Add(entity, (string?)horizon == wanted ? 3 : 2);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ChangeEntry>> ReadLateAsync(EntityDescriptor entity, int limit, CancellationToken cancellationToken)
    {
        meter.Add(entity, 1);
        var items = await Database.SortedSetRangeByRankWithScoresAsync(layout.LateSetKey(entity), 0, limit - 1).WaitAsync(cancellationToken);
        return [.. items.Select(i => new ChangeEntry((byte[])i.Element!, i.Score))];
    }

    /// <inheritdoc />
    public async Task RemoveLateAsync(EntityDescriptor entity, IReadOnlyList<ChangeEntry> entries, CancellationToken cancellationToken)
    {
        if (entries.Count == 0)
        {
            return;
        }

        var args = new RedisValue[entries.Count * 2];
        for (var i = 0; i < entries.Count; i++)
        {
            args[2 * i] = entries[i].Member;
            args[(2 * i) + 1] = entries[i].Score.ToString("R", CultureInfo.InvariantCulture);
        }

        var removed = (long)await Database.ScriptEvaluateAsync(EmbeddedScripts.LateRemove, [layout.LateSetKey(entity)], args).WaitAsync(cancellationToken);
        meter.Add(entity, 1 + entries.Count + removed); // the script call, a ZSCORE per entry, a ZREM per removal
    }

    /// <inheritdoc />
    public Task<ShardLayout> GetShardLayoutAsync(CancellationToken cancellationToken)
    {
        meter.Add(null, 1);
        return ShardLayout.ReadAsync(Database, layout, cancellationToken);
    }

    /// <inheritdoc />
    public async Task<(long Moved, long Left)> DrainStreamAsync(EntityDescriptor stream, double archivedUpTo, int limit, CancellationToken cancellationToken)
    {
        var result = (RedisResult[])(await Database.ScriptEvaluateAsync(
            EmbeddedScripts.ShardDrain,
            [layout.ChangeIndexKey(stream), layout.LateSetKey(stream), layout.ShardLayoutKey],
            [layout.KeyPrefix, stream.Name, archivedUpTo.ToString("R", CultureInfo.InvariantCulture), limit, stream.Shard?.Count ?? 1])
            .WaitAsync(cancellationToken))!;
        var (moved, left) = ((long)result[0], (long)result[1]);
        meter.Add(stream, 4 + (2 * moved)); // the call, HGET, ZRANGEBYSCORE, ZCARD; a ZADD and a ZREM per entry (the end's checks are not counted)
        return (moved, left);
    }
}

