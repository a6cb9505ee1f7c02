using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Resilience;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;

namespace NexusArchive.Core.DeadLetters;

/// <summary>One row of the dead-letter table, as <c>dead-letters list</c> shows it.</summary>
public sealed record DeadLetterEntry(
    long DeadLetterId,
    string Entity,
    string RecordId,
    string Category,
    string Reason,
    int Attempts,
    DateTimeOffset FirstSeenAt,
    DateTimeOffset LastSeenAt,
    string Status);

/// <summary>Which dead letters a command applies to.</summary>
/// <param name="Entity">Only this entity (<c>user</c>, <c>session</c>, <c>message</c>, <c>attachment</c>); null = all.</param>
/// <param name="RecordIds">Only these record ids; null or empty = every one matching <paramref name="Entity"/>.</param>
/// <param name="IncludeClosed">Also resolved and discarded ones (listing only; replay and discard act on open ones).</param>
public sealed record DeadLetterFilter(string? Entity = null, IReadOnlyList<string>? RecordIds = null, bool IncludeClosed = false);

/// <summary>How a replay of one dead letter ended.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<ReplayOutcome>))]
public enum ReplayOutcome
{
    /// <summary>The current record archived cleanly; the dead letter is resolved.</summary>
    Resolved,

    /// <summary>The current record is still bad; the dead letter stays open with the new reason.</summary>
    StillFailing,

    /// <summary>The record's hash no longer exists in Redis; the dead letter stays open (discard it if that is expected).</summary>
    Gone,

    /// <summary>An archive pass holds the entity; try again after it.</summary>
    Busy,
}

/// <summary>The result of replaying one dead letter.</summary>
public sealed record ReplayResult(long DeadLetterId, string Entity, string RecordId, ReplayOutcome Outcome, string? Detail);

/// <summary>
/// Operates the dead-letter table: list, replay (re-read the current Redis record and run it through the mapper and
/// the sink's page path), discard. Counts of open dead letters appear in <c>status</c>.
/// </summary>
public sealed class DeadLetterService
{
    private readonly EntityCatalog _entities;
    private readonly DeadLetterStore _store;
    private readonly PostgresCalls _postgres;
    private readonly IChangeSource _source;
    private readonly IArchiveSink _sink;
    private readonly RecordMapper _mapper;
    private readonly IOptions<ArchiveOptions> _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<DeadLetterService> _logger;

    internal DeadLetterService(
        EntityCatalog entities,
        DeadLetterStore store,
        PostgresCalls postgres,
        IChangeSource source,
        IArchiveSink sink,
        RecordMapper mapper,
        IOptions<ArchiveOptions> options,
        TimeProvider timeProvider,
        ILogger<DeadLetterService> logger)
    {
        _entities = entities;
        _store = store;
        _postgres = postgres;
        _source = source;
        _sink = sink;
        _mapper = mapper;
        _options = options;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    /// <summary>Dead letters matching the filter, oldest first (at most <paramref name="limit"/>).</summary>
    public async Task<IReadOnlyList<DeadLetterEntry>> ListAsync(DeadLetterFilter filter, int limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var rows = await QueryAsync(filter, limit, cancellationToken);
        return [.. rows.Select(r => r.Entry)];
    }

    /// <summary>
    /// Replays every open dead letter matching the filter: takes the entity's lease (as a pass would), re-reads the
    /// record's current hash, maps it, and writes it through <see cref="IArchiveSink.WritePageAsync"/> without moving
    /// the checkpoint. A clean write resolves the dead letter; a still-bad record refreshes it.
    /// </summary>
    public async Task<IReadOnlyList<ReplayResult>> ReplayAsync(DeadLetterFilter filter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var open = await QueryAsync(filter with { IncludeClosed = false }, int.MaxValue, cancellationToken);
        var results = new List<ReplayResult>();
        foreach (var group in open.GroupBy(r => r.Entry.Entity, StringComparer.Ordinal))
        {
            var entity = _entities.Find(group.Key);
            if (entity is null)
            {
                results.AddRange(group.Select(r => Result(r, ReplayOutcome.StillFailing, $"unknown entity '{group.Key}'")));
                continue;
            }

            results.AddRange(await ReplayEntityAsync(entity, [.. group], cancellationToken));
        }

        return results;
    }

    /// <summary>Marks every open dead letter matching the filter as discarded; returns how many.</summary>
    public async Task<int> DiscardAsync(DeadLetterFilter filter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var count = await _postgres.RunAsync(ct => _store.DiscardAsync(filter.Entity, filter.RecordIds, ct), cancellationToken);
        Log.DeadLettersDiscarded(_logger, count);
        return count;
    }

    private async Task<List<ReplayResult>> ReplayEntityAsync(EntityDescriptor entity, List<StoredDeadLetter> rows, CancellationToken cancellationToken)
    {
        var runId = Guid.CreateVersion7(_timeProvider.GetUtcNow());
        ChangeCursor? checkpoint;
        try
        {
            checkpoint = (await _sink.AcquireAsync(entity, runId, cancellationToken)).Checkpoint;
        }
        catch (EntityBusyException)
        {
            return [.. rows.Select(r => Result(r, ReplayOutcome.Busy, "an archive pass holds the entity; replay after it"))];
        }

        var results = new List<ReplayResult>();
        try
        {
            var latestAllowed = await _source.GetServerTimeAsync(cancellationToken) + _options.Value.FutureTolerance;
            foreach (var row in rows)
            {
                var entry = new ChangeEntry(row.Member, row.Score);
                var record = (await _source.FetchAsync(entity, [entry], cancellationToken))[0];
                if (record.Vanished)
                {
                    results.Add(Result(row, ReplayOutcome.Gone, $"the hash {row.RedisKey} no longer exists in Redis"));
                    continue;
                }

                var (mapped, deadLetter) = _mapper.Map(entity, record, latestAllowed);

                // The checkpoint passed is the committed one: the sink never moves it backwards, and a replay must not move it forwards.
                var written = await _sink.WritePageAsync(
                    entity,
                    runId,
                    mapped is null ? [] : [mapped],
                    deadLetter is null ? [] : [deadLetter],
                    checkpoint ?? ChangeCursor.Start,
                    cancellationToken);
                results.Add(written.DeadLettered == 0
                    ? Result(row, ReplayOutcome.Resolved, written.Upserted > 0 ? "archived" : "already archived at this version or newer")
                    : Result(row, ReplayOutcome.StillFailing, deadLetter is null ? "PostgreSQL rejected the row again" : $"{deadLetter.Category}: {deadLetter.Reason}"));
            }
        }
        finally
        {
            await _sink.ReleaseAsync(entity, runId, quiet: null, CancellationToken.None); // an admin command clears the quiet mark
        }

        foreach (var result in results)
        {
            Log.DeadLetterReplayed(_logger, result.DeadLetterId, result.Entity, result.RecordId, result.Outcome.ToString());
        }

        return results;
    }

    private static ReplayResult Result(StoredDeadLetter row, ReplayOutcome outcome, string? detail) =>
        new(row.Entry.DeadLetterId, row.Entry.Entity, row.Entry.RecordId, outcome, detail);

    private Task<List<StoredDeadLetter>> QueryAsync(DeadLetterFilter filter, int limit, CancellationToken cancellationToken) =>
        _postgres.RunAsync(ct => _store.ListAsync(filter.Entity, filter.RecordIds, filter.IncludeClosed, limit, ct), cancellationToken);
}
