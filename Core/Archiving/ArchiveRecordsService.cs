using System.Text;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Resilience;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;
using StackExchange.Redis;

namespace NexusArchive.Core.Archiving;

/// <summary>One record to archive now.</summary>
public sealed record RecordRef(string Entity, string Id);

/// <summary>What happened to one named record.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RecordOutcome>))]
public enum RecordOutcome
{
    /// <summary>Committed to PostgreSQL by this call.</summary>
    Archived,

    /// <summary>PostgreSQL already holds this version or a newer one.</summary>
    Unchanged,

    /// <summary>No hash in Redis.</summary>
    NotFound,

    /// <summary>The record cannot be archived; a dead letter with its raw payload and the reason was recorded.</summary>
    DeadLettered,
}

/// <summary>The outcome for one named record.</summary>
public sealed record RecordResult(string Entity, string Id, RecordOutcome Outcome, string? Reason = null);

/// <summary>The outcome of one call, in the order the records were named.</summary>
public sealed record ArchiveRecordsReport(IReadOnlyList<RecordResult> Records, double DurationMs);

/// <summary>
/// Archives named records now (critical writes such as account changes; event-driven sync): reads exactly those hashes
/// from Redis, maps them with the pass's mapper and commits them with the pass's COPY → staging → MERGE writer before it
/// returns, regardless of the settle window and the checkpoint. Safe at any moment: it takes no lease and never moves the
/// checkpoint (a running pass is not disturbed and not waited for), the entity's advisory lock orders its commit with a
/// pass's page commits, and the MERGE only ever replaces an older <c>updated_at</c>, so neither can regress the other.
/// A record edited while the call runs is archived at the version read; the edit is archived by the next call or pass.
/// </summary>
public sealed class ArchiveRecordsService
{
    /// <summary>The most records one call may name.</summary>
    public const int MaxRecords = 500;

    private readonly EntityCatalog _entities;
    private readonly IConnectionMultiplexer _redis;
    private readonly PageWriter _writer;
    private readonly RecordMapper _mapper;
    private readonly IChangeSource _source;
    private readonly RedisLayout _layout;
    private readonly RedisCalls _redisCalls;
    private readonly PostgresCalls _postgresCalls;
    private readonly IOptions<ArchiveOptions> _options;
    private readonly TimeProvider _timeProvider;
    private readonly ArchiveMetrics _metrics;
    private readonly ILogger<ArchiveRecordsService> _logger;

    internal ArchiveRecordsService(
        EntityCatalog entities,
        IConnectionMultiplexer redis,
        PageWriter writer,
        RecordMapper mapper,
        IChangeSource source,
        RedisLayout layout,
        RedisCalls redisCalls,
        PostgresCalls postgresCalls,
        IOptions<ArchiveOptions> options,
        TimeProvider timeProvider,
        ArchiveMetrics metrics,
        ILogger<ArchiveRecordsService> logger)
    {
        _entities = entities;
        _redis = redis;
        _writer = writer;
        _mapper = mapper;
        _source = source;
        _layout = layout;
        _redisCalls = redisCalls;
        _postgresCalls = postgresCalls;
        _options = options;
        _timeProvider = timeProvider;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>Archives the named records and says, per record, what happened.</summary>
    /// <exception cref="ArgumentException">No records, more than <see cref="MaxRecords"/>, an unknown entity or an empty id.</exception>
    public async Task<ArchiveRecordsReport> ArchiveAsync(IReadOnlyList<RecordRef> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count is 0 or > MaxRecords)
        {
            throw new ArgumentException($"Name between 1 and {MaxRecords} records per call (got {records.Count}).", nameof(records));
        }

        foreach (var record in records)
        {
            if (record is null || _entities.Find(record.Entity ?? string.Empty) is null)
            {
                throw new ArgumentException($"Unknown entity '{record?.Entity}'. Known entities: {string.Join(", ", _entities.All.Select(e => e.Name))}.", nameof(records));
            }

            if (string.IsNullOrEmpty(record.Id))
            {
                throw new ArgumentException($"A {record.Entity} record needs an id.", nameof(records));
            }
        }

        var started = _timeProvider.GetTimestamp();
        var latestAllowed = await _source.GetServerTimeAsync(cancellationToken) + _options.Value.FutureTolerance;
        var results = new Dictionary<(string, string), RecordResult>();
        var runId = Guid.NewGuid();
        foreach (var group in records.GroupBy(r => _entities.Find(r.Entity)!))
        {
            var entity = group.Key;
            var ids = group.Select(r => r.Id).Distinct(StringComparer.Ordinal).ToArray();
            var database = _redis.GetDatabase();
            var (hashes, scores) = await _redisCalls.RunAsync(
                async ct =>
                {
                    // One round trip when the entity is unsharded: the hashes, the shard layout and the unsharded index.
                    var hashes = ids.Select(id => database.HashGetAllAsync(_layout.RecordKey(entity, id))).ToArray();
                    var shards = ShardLayout.ReadAsync(database, _layout, ct);
                    var scores = ids.Select(id => database.SortedSetScoreAsync(_layout.ChangeIndexKey(entity), id)).ToArray();
                    await Task.WhenAll(hashes.Cast<Task>().Concat(scores).Append(shards)).WaitAsync(ct);

                    // Sharded (docs/scaling.md): the id's newest entry may sit in its shard, the unsharded stream or its
                    // shard of a layout being drained; one more round trip reads them all.
                    double?[] newest = shards.Result.HasOneStream(entity)
                        ? [.. scores.Select(s => s.Result)]
                        : await shards.Result.NewestScoresAsync(database, _layout, entity, ids).WaitAsync(ct);
                    return (hashes.Select(h => h.Result).ToArray(), newest);
                },
                cancellationToken);

            var rows = new List<MappedRow>();
            var deadLetters = new List<DeadLetter>();
            for (var i = 0; i < ids.Length; i++)
            {
                if (hashes[i].Length == 0)
                {
                    results[(entity.Name, ids[i])] = new RecordResult(entity.Name, ids[i], RecordOutcome.NotFound);
                    continue;
                }

                var entry = new ChangeEntry(Encoding.UTF8.GetBytes(ids[i]), scores[i] ?? 0);
                var (row, deadLetter) = _mapper.Map(entity, new SourceRecord(entry, hashes[i]), latestAllowed);
                if (row is not null)
                {
                    rows.Add(row);
                }
                else
                {
                    deadLetters.Add(deadLetter!);
                    results[(entity.Name, ids[i])] = new RecordResult(entity.Name, ids[i], RecordOutcome.DeadLettered, $"{deadLetter!.Category}: {deadLetter.Reason}");
                }
            }

            // Versions the archive already holds (or a newer one) are answered without a write.
            var due = (await _postgresCalls.RunAsync(ct => _writer.ExcludeArchivedAsync(entity, [.. rows.Select(VersionOf)], ct), cancellationToken))
                .Select(e => Encoding.UTF8.GetString(e.Member)).ToHashSet(StringComparer.Ordinal);
            var toWrite = rows.Where(r => due.Contains(r.Row.Id)).ToList();
            foreach (var row in rows.Where(r => !due.Contains(r.Row.Id)))
            {
                results[(entity.Name, row.Row.Id)] = new RecordResult(entity.Name, row.Row.Id, RecordOutcome.Unchanged);
            }

            if (toWrite.Count + deadLetters.Count == 0)
            {
                continue;
            }

            var written = await _postgresCalls.RunAsync(ct => _writer.WritePageAsync(entity, runId, toWrite, deadLetters, checkpoint: null, ct), cancellationToken);
            var rejected = written.Rejected.ToDictionary(d => Encoding.UTF8.GetString(d.Entry.Member), StringComparer.Ordinal);
            foreach (var row in toWrite)
            {
                var id = row.Row.Id;
                results[(entity.Name, id)] = rejected.TryGetValue(id, out var refused)
                    ? new RecordResult(entity.Name, id, RecordOutcome.DeadLettered, $"{refused.Category}: {refused.Reason}")
                    : new RecordResult(entity.Name, id, RecordOutcome.Archived);
            }

            _metrics.RecordPage(entity.Name, written.Upserted, written.DeadLettered, 0);
        }

        var ordered = records.Select(r => results[(_entities.Find(r.Entity)!.Name, r.Id)]).ToList();
        var report = new ArchiveRecordsReport(ordered, _timeProvider.GetElapsedTime(started).TotalMilliseconds);
        Log.RecordsArchived(_logger, ordered.Count, ordered.Count(r => r.Outcome == RecordOutcome.Archived), ordered.Count(r => r.Outcome == RecordOutcome.DeadLettered), report.DurationMs);
        return report;
    }

    /// <summary>The version a mapped row carries: its own <c>updatedAt</c> (the index score may be missing or stale).</summary>
    private static ChangeEntry VersionOf(MappedRow row) =>
        row.Row.UpdatedAt is { } at
            ? new ChangeEntry(row.Entry.Member, new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc)).ToUnixTimeMilliseconds())
            : row.Entry;
}
