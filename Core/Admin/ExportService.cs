using System.Text.Json;
using Microsoft.Extensions.Logging;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Resilience;
using NexusArchive.Core.Verification;

namespace NexusArchive.Core.Admin;

/// <summary>What one export wrote: records per entity, how many of them soft-deleted, and its audit row.</summary>
public sealed class ExportReport
{
    public required string UserId { get; init; }

    public Dictionary<string, long> Records { get; } = new(StringComparer.Ordinal);

    public long SoftDeleted { get; set; }

    public double DurationMs { get; set; }

    public long AuditId { get; set; }

    public long Total => Records.Values.Sum();
}

/// <summary>
/// A data-subject access request answered in one call: everything archived for one user (the user, their sessions,
/// the messages and attachment references of those sessions and any other of theirs — soft-deleted rows included and
/// marked, offloaded sessions included), streamed as NDJSON one keyset page at a time, so memory stays one page
/// whatever the user's history. Each export is written to the audit trail (<c>{bookkeeping}.admin_audit</c>).
/// <para>Lines: a header <c>{"export":"nexus-archive","format":1,"userId":…,"exportedAt":…,"counts":{…}}</c>, then one
/// <c>{"entity":…,"id":…,"deleted":…,"record":{…}}</c> per row with the record's fields under their Redis names
/// (timestamps ISO-8601 UTC, integers as numbers, <c>metadata</c> and unknown fields (<c>extra</c>) as JSON), then a
/// footer <c>{"summary":{…},"softDeleted":…}</c>.</para>
/// </summary>
public sealed class ExportService
{
    private const int PageSize = 1000;

    private readonly EntityCatalog _entities;
    private readonly PostgresAccess _postgres;
    private readonly AdminAudit _audit;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<ExportService> _logger;

    internal ExportService(EntityCatalog entities, PostgresAccess postgres, AdminAudit audit, TimeProvider timeProvider, ILogger<ExportService> logger)
    {
        _entities = entities;
        _postgres = postgres;
        _audit = audit;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    /// <summary>Archived rows of the user per entity (what an export would write); all zero = nothing archived for them.</summary>
    /// <exception cref="ArgumentException">An empty user id.</exception>
    public async Task<Dictionary<string, long>> CountAsync(string userId, CancellationToken cancellationToken)
    {
        var scope = ArchiveScope.ForUser(userId);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var entity in _entities.All.Where(scope.Includes))
        {
            counts[entity.Name] = await _postgres.Calls.RunAsync(
                async ct =>
                {
                    await using var command = _postgres.DataSource.CreateCommand(
                        $"SELECT count(*) FROM {ArchivedRows.Table(entity, _postgres.Schemas)} WHERE {scope.SqlFilter(entity, _postgres.Schemas, "$1")}");
                    command.Parameters.Add(new() { Value = userId });
                    return (long)(await command.ExecuteScalarAsync(ct))!;
                },
                cancellationToken);
        }

        return counts;
    }

    /// <summary>Streams the user's export to <paramref name="output"/> (written and flushed asynchronously after every page) and audits it.</summary>
    /// <param name="userId">The user.</param>
    /// <param name="output">Where the NDJSON goes; not closed.</param>
    /// <param name="actor">Who asked, for the audit trail (<c>cli:…</c>, <c>http:…</c>); never a secret.</param>
    /// <param name="cancellationToken">Stops between pages; the audit row then says failed.</param>
    /// <exception cref="ArgumentException">An empty user id or actor.</exception>
    public async Task<ExportReport> ExportAsync(string userId, Stream output, string actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentException.ThrowIfNullOrWhiteSpace(actor);
        var scope = ArchiveScope.ForUser(userId);
        var started = _timeProvider.GetTimestamp();
        var report = new ExportReport { UserId = userId };
        try
        {
            var counts = await CountAsync(userId, cancellationToken);

            // Lines are built in a one-page buffer and copied to the output asynchronously (an HTTP response allows no
            // synchronous writes), so memory holds one page however long the user's history.
            using var page = new MemoryStream();
            await using var writer = new Utf8JsonWriter(page);
            WriteLine(writer, page, w =>
            {
                w.WriteString("export", "nexus-archive");
                w.WriteNumber("format", 1);
                w.WriteString("userId", userId);
                w.WriteString("exportedAt", _timeProvider.GetUtcNow());
                WriteCounts(w, "counts", counts);
            });
            await CopyPageAsync(page, output, cancellationToken);

            foreach (var entity in _entities.All.Where(scope.Includes))
            {
                report.Records[entity.Name] = 0;
                await foreach (var rows in ArchivedRows.PagesAsync(_postgres, entity, scope, PageSize, cancellationToken))
                {
                    foreach (var row in rows)
                    {
                        WriteLine(writer, page, w => WriteRecord(w, row));
                        report.Records[entity.Name]++;
                        report.SoftDeleted += row.IsDeleted ? 1 : 0;
                    }

                    await CopyPageAsync(page, output, cancellationToken);
                }
            }

            WriteLine(writer, page, w =>
            {
                WriteCounts(w, "summary", report.Records);
                w.WriteNumber("softDeleted", report.SoftDeleted);
            });
            await CopyPageAsync(page, output, cancellationToken);
        }
        catch (Exception ex)
        {
            await AuditAsync(report, actor, ex);
            throw;
        }

        report.DurationMs = _timeProvider.GetElapsedTime(started).TotalMilliseconds;
        report.AuditId = await AuditAsync(report, actor, null);
        Log.UserExported(_logger, userId, report.Total, report.AuditId);
        return report;
    }

    private async Task<long> AuditAsync(ExportReport report, string actor, Exception? error)
    {
        // The audit row is written even when the caller went away: the access happened (in part) either way.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        return await _postgres.Calls.RunAsync(
            ct => _audit.RecordAsync(actor, AdminActions.Export, report.UserId, error is null, new { records = report.Records, report.SoftDeleted }, error is null ? null : ErrorText.Describe(error), ct),
            timeout.Token);
    }

    /// <summary>One JSON object and its newline into the page buffer.</summary>
    private static void WriteLine(Utf8JsonWriter writer, MemoryStream page, Action<Utf8JsonWriter> body)
    {
        writer.WriteStartObject();
        body(writer);
        writer.WriteEndObject();
        writer.Flush();
        writer.Reset(page);
        page.WriteByte((byte)'\n');
    }

    private static async Task CopyPageAsync(MemoryStream page, Stream output, CancellationToken cancellationToken)
    {
        await output.WriteAsync(page.GetBuffer().AsMemory(0, (int)page.Length), cancellationToken);
        await output.FlushAsync(cancellationToken);
        page.SetLength(0);
    }

    private static void WriteCounts(Utf8JsonWriter writer, string name, Dictionary<string, long> counts)
    {
        writer.WriteStartObject(name);
        foreach (var (entity, count) in counts)
        {
            writer.WriteNumber(entity, count);
        }

        writer.WriteEndObject();
    }

    /// <summary>One archived row as it was in Redis: each column under its field name, unknown fields (extra) merged in.</summary>
    private static void WriteRecord(Utf8JsonWriter writer, ArchiveRow row)
    {
        var entity = row.Entity;
        writer.WriteString("entity", entity.Name);
        writer.WriteString("id", row.Id);
        writer.WriteBoolean("deleted", row.IsDeleted);
        writer.WriteStartObject("record");
        for (var i = 0; i < entity.Columns.Count; i++)
        {
            var column = entity.Columns[i];
            switch (row[i])
            {
                case null:
                    writer.WriteNull(column.Field);
                    break;
                case DateTime timestamp:
                    writer.WriteString(column.Field, DateTime.SpecifyKind(timestamp, DateTimeKind.Utc));
                    break;
                case long number:
                    writer.WriteNumber(column.Field, number);
                    break;
                case string text when column.Kind == ColumnKind.JsonObject:
                    writer.WritePropertyName(column.Field);
                    writer.WriteRawValue(text, skipInputValidation: false);
                    break;
                case string text:
                    writer.WriteString(column.Field, text);
                    break;
                default:
                    writer.WriteString(column.Field, Convert.ToString(row[i], System.Globalization.CultureInfo.InvariantCulture));
                    break;
            }
        }

        if (row.Extra is { } extra)
        {
            writer.WritePropertyName("extra");
            writer.WriteRawValue(extra, skipInputValidation: false);
        }

        writer.WriteEndObject();
    }
}
