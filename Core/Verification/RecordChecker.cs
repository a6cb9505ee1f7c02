using System.Text;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Resilience;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;
using Npgsql;
using StackExchange.Redis;

namespace NexusArchive.Core.Verification;

/// <summary>
/// When a record counts as due for one entity during one verification: its change-index entry lies at or before the
/// committed checkpoint of the stream whose index holds it (the entity's own, or one of its shards: docs/scaling.md)
/// and at or below Redis-now minus the settle window. Fixed at the start of an entity's check.
/// </summary>
/// <param name="Layout">The shard layout read at the start: which streams an id's entry may sit in.</param>
/// <param name="Checkpoints">The committed checkpoint of each stream of the entity, by <see cref="EntityDescriptor.FeedName"/>; absent or null = never archived, nothing of it is due.</param>
/// <param name="SettleBound">Redis-now minus <c>Archive:SettleWindow</c>, epoch ms.</param>
/// <param name="LatestAllowed">Redis-now plus <c>Archive:FutureTolerance</c>, for the mapper.</param>
internal sealed record DueRule(
    ShardLayout Layout, IReadOnlyDictionary<string, ChangeCursor?> Checkpoints, double SettleBound, DateTimeOffset LatestAllowed)
{
    /// <summary>The committed checkpoint of one stream; null = never archived.</summary>
    public ChangeCursor? CheckpointOf(EntityDescriptor stream) => Checkpoints.GetValueOrDefault(stream.FeedName);

    /// <summary>True when an index entry (score, member) of <paramref name="stream"/> is due.</summary>
    public bool IsDue(EntityDescriptor stream, double score, ReadOnlySpan<byte> member) =>
        CheckpointOf(stream) is { } c && c.CompareEntry(score, member) <= 0 && score <= SettleBound;
}

/// <summary>
/// Decides whether a Redis record takes part in a check (a scope), from its id and its raw fields (a field reader
/// that returns null when the field is absent).
/// </summary>
internal delegate bool RecordFilter(string id, Func<string, string?> field);

/// <summary>
/// The one classification of Redis records against the archive, shared by the full verify (<see cref="VerifyService"/>)
/// and the incremental verify (<see cref="IncrementalVerifyService"/>): for a chunk of record ids, pipelined
/// <c>HGETALL</c> + <c>ZSCORE</c>, the record mapped by the archive's own <see cref="RecordMapper"/>, one PostgreSQL round
/// trip that looks the chunk's ids up with <c>WHERE id = ANY($1)</c> together with their open dead letters, and each
/// record classified by <see cref="VerifyClassifier"/> over content hashes (<see cref="CanonicalRecord"/>).
/// </summary>
internal sealed class RecordChecker(
    IConnectionMultiplexer redis,
    NpgsqlDataSource dataSource,
    CheckpointStore checkpoints,
    DeadLetterStore deadLetters,
    RedisCalls redisCalls,
    PostgresCalls postgresCalls,
    RecordMapper mapper,
    RedisLayout layout,
    SchemaNames schemas,
    IOptions<ArchiveOptions> options)
{
    /// <summary>
    /// Reads the shard layout and the committed checkpoint of each of the entity's streams, and fixes the due rule at
    /// <paramref name="redisNow"/>.
    /// </summary>
    public async Task<DueRule> ReadDueRuleAsync(EntityDescriptor entity, DateTimeOffset redisNow, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var shards = await redisCalls.RunAsync(ct => ShardLayout.ReadAsync(redis.GetDatabase(), layout, ct), cancellationToken);
        var cursors = new Dictionary<string, ChangeCursor?>(StringComparer.Ordinal);
        foreach (var stream in shards.StreamsOf(entity))
        {
            cursors[stream.FeedName] = await postgresCalls.RunAsync(ct => checkpoints.ReadAsync(stream, ct), cancellationToken); // null = never archived: nothing is due yet
        }

        return new DueRule(shards, cursors, (redisNow - settings.SettleWindow).ToUnixTimeMilliseconds(), redisNow + settings.FutureTolerance);
    }

    /// <summary>The change-index members (record id bytes) of record keys of <paramref name="entity"/>, as SCAN returns them.</summary>
    public byte[][] MembersOf(EntityDescriptor entity, RedisKey[] keys)
    {
        var prefixLength = Encoding.UTF8.GetByteCount(layout.RecordKeyPrefix(entity));
        return [.. keys.Select(k => ((byte[])k!)[prefixLength..])];
    }

    /// <summary>
    /// Classifies the records named by <paramref name="members"/> into <paramref name="result"/> (keeping up to
    /// <paramref name="samples"/> example ids per category). Ids whose hash is gone or is not a hash, and records
    /// <paramref name="filter"/> refuses, are skipped. <paramref name="classified"/>, when given, hears each record's
    /// category (offload decides per session from them). Returns how many records were classified.
    /// </summary>
    public async Task<int> CheckAsync(
        EntityDescriptor entity,
        IReadOnlyList<byte[]> members,
        DueRule due,
        EntityVerifyResult result,
        int samples,
        RecordFilter? filter,
        CancellationToken cancellationToken,
        Action<string, VerifyCategory>? classified = null)
    {
        if (members.Count == 0)
        {
            return 0;
        }

        var database = redis.GetDatabase();
        // Each id's entry may sit in more than one stream of a sharded entity (its shard, the unsharded stream, its shard
        // of the layout being drained): a ZSCORE in each; unsharded, the one index.
        var streams = members.Select(m => due.Layout.StreamsHolding(entity, m)).ToArray();
        var (hashes, scores, isHash) = await redisCalls.RunAsync(
            async ct =>
            {
                var hashes = members.Select(m => database.HashGetAllAsync(layout.RecordKey(entity, m))).ToArray();
                var scores = members.Select((m, i) => streams[i].Select(s => database.SortedSetScoreAsync(layout.ChangeIndexKey(s), m)).ToArray()).ToArray();
                var isHash = await RedisBatch.WhenAllToleratingWrongTypeAsync(hashes, ct);
                await Task.WhenAll(scores.SelectMany(s => s)).WaitAsync(ct);
                return (hashes, scores, isHash);
            },
            cancellationToken);

        var chunk = new List<(string Id, byte[] Member, double? Score, bool Due, ArchiveRow? Mapped)>(members.Count);
        for (var i = 0; i < members.Count; i++)
        {
            var fields = isHash[i] ? hashes[i].Result : [];
            if (fields.Length == 0)
            {
                continue; // not a hash, or deleted since it was listed
            }

            var id = Encoding.UTF8.GetString(members[i]);
            string? Field(string name) => fields.FirstOrDefault(f => f.Name == name).Value is { IsNull: false } v ? (string?)v : null;
            if (filter is not null && !filter(id, Field))
            {
                continue;
            }

            // The newest entry is the record's latest write: due when the stream holding it has archived it.
            var score = scores[i].Max(s => s.Result);
            var isDue = score is { } newest && streams[i].Where((s, k) => scores[i][k].Result == newest).Any(s => due.IsDue(s, newest, members[i]));
            var (row, _) = mapper.Map(entity, new SourceRecord(new ChangeEntry(members[i], score ?? 0), fields), due.LatestAllowed);
            chunk.Add((id, members[i], score, isDue, row?.Row));
        }

        if (chunk.Count == 0)
        {
            return 0;
        }

        result.RedisRecords += chunk.Count;
        var (rows, deadLettered) = await postgresCalls.RunAsync(
            ct => LookUpAsync(entity, chunk.Select(c => c.Id).ToArray(), chunk.Select(c => c.Member).ToArray(), ct), cancellationToken);
        foreach (var (id, member, score, isDue, mapped) in chunk)
        {
            ArchiveRow? archived = rows.TryGetValue(id, out var row) ? row : null;
            var facts = new RecordFacts(
                InPostgres: archived is not null,
                RedisHash: mapped is { } m ? CanonicalRecord.Hash(m) : null,
                PostgresHash: archived is { } a ? CanonicalRecord.Hash(a) : null,
                RedisUpdatedUs: mapped?.UpdatedAt is { } r ? CanonicalRecord.Microseconds(r) : null,
                PostgresUpdatedUs: archived?.UpdatedAt is { } p ? CanonicalRecord.Microseconds(p) : null,
                Indexed: score is not null,
                Due: isDue,
                DeadLettered: deadLettered.Contains(member));
            var category = VerifyClassifier.Classify(facts);
            result.Add(category, id, samples);
            classified?.Invoke(id, category);
        }

        return chunk.Count;
    }

    private async Task<(Dictionary<string, ArchiveRow> Rows, HashSet<byte[]> DeadLettered)> LookUpAsync(
        EntityDescriptor entity, string[] ids, byte[][] members, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand($"SELECT {ArchivedRows.ColumnList(entity)} FROM {ArchivedRows.Table(entity, schemas)} WHERE id = ANY($1)")
                {
                    Parameters = { new() { Value = ids } },
                },
                deadLetters.DeadLetteredAmongCommand(entity, members),
            },
        };
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        var rows = new Dictionary<string, ArchiveRow>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            var row = ArchivedRows.Read(reader, entity);
            rows[row.Id] = row;
        }

        await reader.NextResultAsync(cancellationToken);
        return (rows, await DeadLetterStore.ReadMembersAsync(reader, cancellationToken));
    }
}
