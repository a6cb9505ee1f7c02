using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Source;
using NexusArchive.Tests.Infrastructure;

namespace NexusArchive.Tests.Faults;

/// <summary>What the archive should hold for one source record.</summary>
public enum ExpectedOutcome
{
    Row,
    DeadLetter,
    Vanished,
}

/// <summary>The record-by-record verdict of <see cref="ArchiveComparison"/>.</summary>
public sealed class ComparisonReport
{
    public int Checked { get; set; }

    public int Rows { get; set; }

    public int DeadLettered { get; set; }

    public int Vanished { get; set; }

    /// <summary>Source records that should be rows (or open dead letters) but are not in PostgreSQL.</summary>
    public int Missing { get; set; }

    /// <summary>Ids stored more than once, or rows whose id no source record (or not this one) explains.</summary>
    public int Duplicated { get; set; }

    /// <summary>Rows holding an older version than the source.</summary>
    public int Regressed { get; set; }

    /// <summary>Rows at the source's version whose content hash differs.</summary>
    public int Mismatched { get; set; }

    public List<string> Problems { get; } = [];

    public Dictionary<string, (ExpectedOutcome Outcome, string? Category)> Outcomes { get; } = new(StringComparer.Ordinal);

    public bool Equal => Missing == 0 && Duplicated == 0 && Regressed == 0 && Mismatched == 0;

    public override string ToString() =>
        $"records checked={Checked} (rows={Rows}, dead-lettered={DeadLettered}, vanished={Vanished}), lost={Missing}, duplicated={Duplicated}, regressed={Regressed}, mismatched={Mismatched}";
}

/// <summary>
/// The one comparison every fault test ends with: reads every change-index member and hash of the Redis source,
/// maps each with the production <see cref="RecordMapper"/> to what the archive must hold (a row, an open dead letter,
/// or nothing when the hash vanished), and compares PostgreSQL record by record — ids and a SHA-256 content hash of
/// every column value, normalised (timestamps as UTC ticks, jsonb canonicalised) — not only counts.
/// </summary>
public static class ArchiveComparison
{
    public static async Task<ComparisonReport> CompareAsync(ArchiveHarness harness, params EntityDescriptor[] entities)
    {
        var report = new ComparisonReport();
        var mapper = harness.Services.GetRequiredService<RecordMapper>();
        var latestAllowed = DateTimeOffset.FromUnixTimeMilliseconds(await harness.RedisNowMsAsync()) + TimeSpan.FromDays(1);
        foreach (var entity in entities.Length == 0 ? EntityCatalog.Default.All : entities)
        {
            await CompareEntityAsync(harness, mapper, entity, latestAllowed, report);
        }

        return report;
    }

    public static void AssertEqual(ComparisonReport report)
    {
        Assert.True(report.Equal, $"{report}\n{string.Join('\n', report.Problems.Take(20))}");
        Assert.True(report.Checked > 0, "nothing was compared");
    }

    private static async Task CompareEntityAsync(ArchiveHarness harness, RecordMapper mapper, EntityDescriptor entity, DateTimeOffset latestAllowed, ComparisonReport report)
    {
        // Every change stream of the entity (it may be sharded, or draining a reshard): an id's newest entry counts.
        var layout = await ShardLayout.ReadAsync(harness.Redis, harness.Layout, CancellationToken.None);
        var newest = new Dictionary<string, ChangeEntry>(StringComparer.Ordinal);
        foreach (var stream in layout.StreamsOf(entity))
        {
            foreach (var e in await harness.Redis.SortedSetRangeByRankWithScoresAsync(harness.Layout.ChangeIndexKey(stream)))
            {
                var entry = new ChangeEntry((byte[])e.Element!, e.Score);
                var id = Convert.ToHexString(entry.Member);
                if (!newest.TryGetValue(id, out var seen) || seen.Score < entry.Score)
                {
                    newest[id] = entry;
                }
            }
        }

        var entries = newest.Values.ToList();
        var expected = new Dictionary<string, (string Hash, DateTime UpdatedAt)>(StringComparer.Ordinal);
        var expectedDeadLetters = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var chunk in entries.Chunk(500))
        {
            var batch = harness.Redis.CreateBatch();
            var fetches = chunk.Select(e => batch.HashGetAllAsync(harness.Layout.RecordKey(entity, e.Member))).ToList();
            batch.Execute();
            var hashes = await Task.WhenAll(fetches);
            for (var i = 0; i < chunk.Length; i++)
            {
                report.Checked++;
                var record = new SourceRecord(chunk[i], hashes[i]);
                var key = Convert.ToHexString(chunk[i].Member);
                if (record.Vanished)
                {
                    report.Vanished++;
                    report.Outcomes[chunk[i].DisplayId] = (ExpectedOutcome.Vanished, null);
                    continue;
                }

                var (row, deadLetter) = mapper.Map(entity, record, latestAllowed);
                if (row is not null)
                {
                    expected[key] = (Hash(row.Row), row.Row.UpdatedAt!.Value);
                    report.Outcomes[chunk[i].DisplayId] = (ExpectedOutcome.Row, null);
                }
                else
                {
                    expectedDeadLetters[key] = deadLetter!.Category;
                    report.Outcomes[chunk[i].DisplayId] = (ExpectedOutcome.DeadLetter, deadLetter.Category);
                }
            }
        }

        // Archive rows, keyed like the source (hex of the UTF-8 id = the member bytes).
        var columns = string.Join(", ", entity.Columns.Select(c => c.Column).Append("extra"));
        var actual = new Dictionary<string, (string Hash, DateTime UpdatedAt)>(StringComparer.Ordinal);
        await using (var command = harness.DataSource.CreateCommand($"SELECT {columns} FROM {harness.TargetSchema}.{entity.Table}"))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                var values = new object?[reader.FieldCount];
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
                }

                var row = new ArchiveRow(entity, values);
                var key = Convert.ToHexString(Encoding.UTF8.GetBytes(row.Id));
                if (!actual.TryAdd(key, (Hash(row), row.UpdatedAt!.Value)))
                {
                    report.Duplicated++;
                    report.Problems.Add($"{entity.Name} {row.Id}: stored twice");
                }
            }
        }

        foreach (var (key, want) in expected)
        {
            var id = Encoding.UTF8.GetString(Convert.FromHexString(key));
            if (!actual.TryGetValue(key, out var have))
            {
                report.Missing++;
                report.Problems.Add($"{entity.Name} {Shorten(id)}: missing");
            }
            else if (have.UpdatedAt < want.UpdatedAt)
            {
                report.Regressed++;
                report.Problems.Add($"{entity.Name} {Shorten(id)}: archived {have.UpdatedAt:O} < source {want.UpdatedAt:O}");
            }
            else if (have.Hash != want.Hash)
            {
                report.Mismatched++;
                report.Problems.Add($"{entity.Name} {Shorten(id)}: content hash differs at {want.UpdatedAt:O}");
            }
            else
            {
                report.Rows++;
            }
        }

        foreach (var key in actual.Keys.Where(k => !expected.ContainsKey(k)))
        {
            // A row whose source record is now bad or gone is allowed only if an earlier good version was archived;
            // the fault tests never write such records, so any such row is unexplained.
            report.Duplicated++;
            report.Problems.Add($"{entity.Name} {Shorten(Encoding.UTF8.GetString(Convert.FromHexString(key)))}: row without a matching good source record");
        }

        var open = new Dictionary<string, string>(StringComparer.Ordinal);
        await using (var command = harness.DataSource.CreateCommand(
            $"SELECT member, reason_category FROM {harness.BookkeepingSchema}.dead_letters WHERE status = 'open' AND entity = $1"))
        {
            command.Parameters.Add(new() { Value = entity.Name });
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                open[Convert.ToHexString((byte[])reader[0])] = reader.GetString(1);
            }
        }

        foreach (var (key, category) in expectedDeadLetters)
        {
            if (open.TryGetValue(key, out var have) && have == category)
            {
                report.DeadLettered++;
            }
            else
            {
                report.Missing++;
                report.Problems.Add($"{entity.Name} {Shorten(Encoding.UTF8.GetString(Convert.FromHexString(key)))}: expected an open dead letter '{category}', found '{have ?? "none"}'");
            }
        }
    }

    private static string Shorten(string id) => id.Length > 40 ? id[..40] + "…" : id;

    /// <summary>SHA-256 over every column value, normalised so the mapper's values and PostgreSQL's compare equal.</summary>
    private static string Hash(ArchiveRow row)
    {
        var text = new StringBuilder();
        for (var i = 0; i < row.Count; i++)
        {
            var kind = i < row.Entity.Columns.Count ? row.Entity.Columns[i].Kind : ColumnKind.JsonObject;
            text.Append(Normalise(kind, row[i])).Append('\u001F');
        }

        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    private static string Normalise(ColumnKind kind, object? value) => value switch
    {
        null => "\u2400",
        DateTime dt => dt.ToUniversalTime().Ticks.ToString(CultureInfo.InvariantCulture),
        DateTimeOffset dto => dto.UtcTicks.ToString(CultureInfo.InvariantCulture),
        long or int => Convert.ToInt64(value, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture),
        string s when kind == ColumnKind.JsonObject => Canonical(s),
        string s => s,
        _ => value.ToString() ?? string.Empty,
    };

    private static string Canonical(string json)
    {
        using var document = JsonDocument.Parse(json);
        var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            Write(writer, document.RootElement);
        }

        return Encoding.UTF8.GetString(buffer.ToArray());

        static void Write(Utf8JsonWriter writer, JsonElement element)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    writer.WriteStartObject();
                    foreach (var property in element.EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal))
                    {
                        writer.WritePropertyName(property.Name);
                        Write(writer, property.Value);
                    }

                    writer.WriteEndObject();
                    break;
                case JsonValueKind.Array:
                    writer.WriteStartArray();
                    foreach (var item in element.EnumerateArray())
                    {
                        Write(writer, item);
                    }

                    writer.WriteEndArray();
                    break;
                case JsonValueKind.Number:
                    writer.WriteRawValue(decimal.TryParse(element.GetRawText(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d)
                        ? d.ToString(CultureInfo.InvariantCulture)
                        : element.GetRawText());
                    break;
                default:
                    element.WriteTo(writer);
                    break;
            }
        }
    }
}
