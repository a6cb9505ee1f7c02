using System.Globalization;
using System.Text.Json;
using NexusArchive.Core.Entities;
using StackExchange.Redis;

namespace NexusArchive.Core.Restore;

/// <summary>
/// Turns an archive row back into the hash fields NexusChat writes: every non-null column under its camelCase field
/// name, timestamps as epoch-milliseconds strings (ISO-8601 with microseconds when the value has sub-millisecond
/// precision, so nothing is rounded), integers as decimal strings, jsonb as its text, and each <c>extra</c>
/// property as a field of its own. Null columns are left out, as a client that never set them would.
/// </summary>
internal static class ArchivedRecordFields
{
    /// <summary>The fields of an archive row, and its updatedAt in epoch ms.</summary>
    /// <exception cref="ArgumentException">The row has no <c>updated_at</c>.</exception>
    public static (List<KeyValuePair<string, RedisValue>> Fields, long UpdatedAtMs) From(ArchiveRow row)
    {
        var entity = row.Entity;
        var fields = new List<KeyValuePair<string, RedisValue>>(row.Count + 4);
        for (var i = 0; i < entity.Columns.Count; i++)
        {
            if (row[i] is { } value)
            {
                fields.Add(new(entity.Columns[i].Field, Format(value)));
            }
        }

        if (row.Extra is { } extra)
        {
            using var document = JsonDocument.Parse(extra);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (entity.FieldIndex.ContainsKey(property.Name))
                {
                    continue; // cannot happen for rows the archive wrote; never let extra shadow a mapped field
                }

                fields.Add(new(property.Name, property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString() : property.Value.GetRawText()));
            }
        }

        var updatedAt = row.UpdatedAt ?? throw new ArgumentException($"The {entity.Name} row has no updated_at.", nameof(row));
        return (fields, new DateTimeOffset(updatedAt.ToUniversalTime()).ToUnixTimeMilliseconds());
    }

    /// <summary>A column value as the client would have written it.</summary>
    public static string Format(object value) => value switch
    {
        DateTime dt when dt.Ticks % TimeSpan.TicksPerMillisecond == 0 =>
            new DateTimeOffset(dt.ToUniversalTime()).ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture),
        DateTime dt => dt.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture),
        long n => n.ToString(CultureInfo.InvariantCulture),
        string s => s,
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty,
    };
}
