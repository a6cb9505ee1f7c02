using System.Diagnostics.Metrics;

namespace NexusArchive.Core.Diagnostics;

/// <summary>
/// Metrics on the <c>NexusArchive</c> meter, collected by Application Insights or OpenTelemetry
/// (<c>AddMeter("NexusArchive")</c>). Every instrument carries an <c>entity</c> tag.
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

    public void RecordPage(string entity, long upserted, long deadLettered, long vanished)
    {
        var tag = new KeyValuePair<string, object?>("entity", entity);
        _rowsArchived.Add(upserted, tag);
        _deadLetters.Add(deadLettered, tag);
        _vanished.Add(vanished, tag);
    }

    public void RecordRedisCommands(string entity, long commands) => _redisCommands.Add(commands, new KeyValuePair<string, object?>("entity", entity));

    public void RecordLag(string entity, double lagMs) => _lag.Record(lagMs, new KeyValuePair<string, object?>("entity", entity));

    public void RecordRun(string status, double durationMs) => _runDuration.Record(durationMs, new KeyValuePair<string, object?>("status", status));

    public void RecordVerify(string entity, long gaps, long differences)
    {
        var tag = new KeyValuePair<string, object?>("entity", entity);
        _verifyGaps.Record(gaps, tag);
        _verifyDifferences.Record(differences, tag);
    }

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();
}
