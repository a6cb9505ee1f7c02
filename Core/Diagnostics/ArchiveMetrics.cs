using System.Diagnostics;
using System.Diagnostics.Metrics;
using NexusArchive.Core.Entities;

namespace NexusArchive.Core.Diagnostics;

/// <summary>
/// Metrics on the <c>NexusArchive</c> meter, collected by Application Insights or OpenTelemetry
/// (<c>AddMeter("NexusArchive")</c>). Every instrument carries an <c>entity</c> tag (the entity's name); the pass's
/// instruments (rows archived, dead letters, records vanished, lag, Redis commands) also carry a <c>shard</c> tag
/// (<c>3of4</c>) when the change stream they measure is a shard of the entity (docs/functions.md, "Fan-out over shards"),
/// and none for the unsharded stream, so a deployment without shards keeps the series it had.
/// </summary>
public sealed class ArchiveMetrics : IDisposable
{
    public const string MeterName = "NexusArchive";

    private readonly Meter _meter;
    private readonly Counter<long> _rowsArchived;
    private readonly Counter<long> _deadLetters;
    private readonly Counter<long> _vanished;
    private readonly Histogram<double> _lag;
    private readonly Histogram<double> _runDuration;
    private readonly Gauge<long> _verifyGaps;
    private readonly Gauge<long> _verifyDifferences;
    private readonly Counter<long> _offloadSessions;
    private readonly Counter<long> _offloadKeys;
    private readonly Counter<long> _offloadBytes;
    private readonly Counter<long> _redisCommands;

    public ArchiveMetrics(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(MeterName);
        _rowsArchived = _meter.CreateCounter<long>("nexus_archive.rows_archived", "{row}", "Rows inserted or replaced by a newer version.");
        _deadLetters = _meter.CreateCounter<long>("nexus_archive.dead_letters", "{record}", "Records written to the dead-letter table.");
        _vanished = _meter.CreateCounter<long>("nexus_archive.records_vanished", "{record}", "Index entries whose hash was gone.");
        _lag = _meter.CreateHistogram<double>("nexus_archive.lag", "ms", "Redis-now minus the committed checkpoint at the end of a pass.");
        _runDuration = _meter.CreateHistogram<double>("nexus_archive.run.duration", "ms", "Duration of archive passes.");
        _verifyGaps = _meter.CreateGauge<long>("nexus_archive.verify.gaps", "{record}", "Records due but missing from the archive at the last verify (alert when > 0).");
        _offloadSessions = _meter.CreateCounter<long>("nexus_archive.offload.sessions", "{session}", "Chat sessions removed from Redis by offload.");
        _offloadKeys = _meter.CreateCounter<long>("nexus_archive.offload.keys", "{key}", "Redis keys (records) removed by offload.");
        _offloadBytes = _meter.CreateCounter<long>("nexus_archive.offload.bytes_freed", "By", "Redis memory freed by offload (MEMORY USAGE, or an estimate).");
        _redisCommands = _meter.CreateCounter<long>("nexus_archive.redis.commands", "{command}", "Redis commands the archiver sent, counted as INFO commandstats counts them (a script call plus the commands it runs): what Upstash bills.");
        _verifyDifferences = _meter.CreateGauge<long>("nexus_archive.verify.differences", "{record}", "Records archived with other content than Redis holds at the last verify.");
    }

    public void RecordOffload(long sessions, long keys, long bytes)
    {
        _offloadSessions.Add(sessions);
        _offloadKeys.Add(keys);
        _offloadBytes.Add(bytes);
    }

    public void RecordPage(string entity, long upserted, long deadLettered, long vanished) => RecordPage(Tags(entity, null), upserted, deadLettered, vanished);

    /// <summary>A page of one change stream: tagged with its entity and, for a shard, the shard.</summary>
    internal void RecordPage(EntityDescriptor stream, long upserted, long deadLettered, long vanished) => RecordPage(Tags(stream), upserted, deadLettered, vanished);

    public void RecordRedisCommands(string entity, long commands) => _redisCommands.Add(commands, Tags(entity, null));

    /// <summary>Commands sent for one change stream, or for none (<see cref="Source.RedisCommandMeter.NoEntity"/>).</summary>
    internal void RecordRedisCommands(EntityDescriptor? stream, long commands) =>
        _redisCommands.Add(commands, stream is null ? Tags(Source.RedisCommandMeter.NoEntity, null) : Tags(stream));

    public void RecordLag(string entity, double lagMs) => _lag.Record(lagMs, Tags(entity, null));

    /// <summary>The lag of one change stream after its pass.</summary>
    internal void RecordLag(EntityDescriptor stream, double lagMs) => _lag.Record(lagMs, Tags(stream));

    public void RecordRun(string status, double durationMs) => _runDuration.Record(durationMs, new KeyValuePair<string, object?>("status", status));

    public void RecordVerify(string entity, long gaps, long differences)
    {
        var tag = new KeyValuePair<string, object?>("entity", entity);
        _verifyGaps.Record(gaps, tag);
        _verifyDifferences.Record(differences, tag);
    }

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();

    private void RecordPage(TagList tags, long upserted, long deadLettered, long vanished)
    {
        _rowsArchived.Add(upserted, tags);
        _deadLetters.Add(deadLettered, tags);
        _vanished.Add(vanished, tags);
    }

    private static TagList Tags(EntityDescriptor stream) => Tags(stream.Name, stream.Shard?.Label);

    private static TagList Tags(string entity, string? shard)
    {
        var tags = new TagList { { "entity", entity } };
        if (shard is not null)
        {
            tags.Add("shard", shard);
        }

        return tags;
    }
}
