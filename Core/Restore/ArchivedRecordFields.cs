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
    /// <summary>The fields of a row read with the descriptor's columns then <c>extra</c>, and its updatedAt in epoch ms.</summary>
    public static (List<KeyValuePair<string, RedisValue>> Fields, long UpdatedAtMs) From(EntityDescriptor entity, IReadOnlyList<object?> values)
    {
        ArgumentNullException.ThrowIfNull(entity);
        ArgumentNullException.ThrowIfNull(values);
        var fields = new List<KeyValuePair<string, RedisValue>>(values.Count + 4);
        long? updatedAtMs = null;
        for (var i = 0; i < entity.Columns.Count; i++)
        {
            var column = entity.Columns[i];
            if (values[i] is not { } value)
            {
                continue;
            }

            if (column.Field == "updatedAt")
            {
                updatedAtMs = new DateTimeOffset(((DateTime)value).ToUniversalTime()).ToUnixTimeMilliseconds();
            }

            fields.Add(new(column.Field, Format(value)));
        }

        if (values[entity.Columns.Count] is string extra)
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

        return (fields, updatedAtMs ?? throw new ArgumentException($"The {entity.Name} row has no updated_at.", nameof(values)));
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
