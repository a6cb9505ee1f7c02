using System.Globalization;
using System.Text.Json;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Source;

namespace NexusArchive.Core.Mapping;

/// <summary>
/// Maps Redis hashes to archive rows by an entity's descriptor. Nothing is altered silently: a record that
/// cannot be stored exactly as written becomes a <see cref="DeadLetter"/> with a reason naming the field.
/// Unmapped fields go to the <c>extra</c> jsonb column.
/// </summary>
internal sealed class RecordMapper
{
    /// <summary>Maps one page of fetched records.</summary>
    /// <param name="entity">The entity descriptor.</param>
    /// <param name="records">Records as fetched; vanished ones are counted, not mapped.</param>
    /// <param name="latestAllowed">Timestamps after this instant (Redis now + tolerance) are rejected as far-future.</param>
    public MappedPage MapPage(EntityDescriptor entity, IReadOnlyList<SourceRecord> records, DateTimeOffset latestAllowed)
    {
        var rows = new List<MappedRow>(records.Count);
        var deadLetters = new List<DeadLetter>();
        var vanished = 0;
        foreach (var record in records)
        {
            if (record.Vanished)
            {
                vanished++;
                continue;
            }

            var outcome = Map(entity, record, latestAllowed);
            if (outcome.Row is not null)
            {
                rows.Add(outcome.Row);
            }
            else
            {
                deadLetters.Add(outcome.DeadLetter!);
            }
        }

        return new MappedPage(rows, deadLetters, vanished);
    }

    /// <summary>Maps one record to a row, or explains why it cannot be archived.</summary>
    public (MappedRow? Row, DeadLetter? DeadLetter) Map(EntityDescriptor entity, SourceRecord record, DateTimeOffset latestAllowed)
    {
        var columns = entity.Columns;
        var values = new object?[columns.Count + 1];
        var seen = new bool[columns.Count];
        Dictionary<string, string>? extra = null;

        if (!RawPayload.TryGetText(record.Entry.Member, out var memberId))
        {
            return Fail(record, DeadLetterReasons.InvalidText, "The index member (record id) is not valid UTF-8 text.");
        }

        foreach (var field in record.Fields)
        {
            // Hot path: match the name against the descriptor's UTF-8 field names and read values as spans,
            // so a mapped field costs one string (text) or none (timestamps, integers).
            ReadOnlyMemory<byte> nameBytes = field.Name;
            ReadOnlyMemory<byte> valueBytes = field.Value;
            var index = entity.IndexOfField(nameBytes.Span);
            if (index >= 0 && entity.Columns[index].Kind is ColumnKind.Timestamp or ColumnKind.Integer && IsAsciiInteger(valueBytes.Span))
            {
                var number = ConvertNumber(entity.Columns[index], valueBytes.Span, latestAllowed);
                if (!number.Ok)
                {
                    return Fail(record, number.Category!, number.Reason!);
                }

                seen[index] = true;
                values[index] = number.Value;
                continue;
            }

            string name;
            if (index >= 0)
            {
                name = entity.Columns[index].Field;
            }
            else if (!RawPayload.TryGetText(nameBytes.Span, out name))
            {
                return Fail(record, DeadLetterReasons.InvalidText, "A field name is not valid UTF-8 text or contains NUL.");
            }

            if (!RawPayload.TryGetText(valueBytes.Span, out var text))
            {
                return Fail(record, DeadLetterReasons.InvalidText, $"Field '{name}' is not valid UTF-8 text or contains a NUL character, which PostgreSQL text cannot store.");
            }

            if (index < 0)
            {
                (extra ??= new(StringComparer.Ordinal))[name] = text;
                continue;
            }

            var column = columns[index];
            seen[index] = true;
            var (ok, value, category, reason) = Convert(column, text, valueBytes.Span, latestAllowed);
            if (!ok)
            {
                return Fail(record, category!, reason!);
            }

            values[index] = value;
        }

        for (var i = 0; i < columns.Count; i++)
        {
            if (columns[i].Required && values[i] is null)
            {
                var why = seen[i] ? "is empty" : "is missing";
                return Fail(record, DeadLetterReasons.MissingField, $"Required field '{columns[i].Field}' {why}.");
            }
        }

        values[columns.Count] = extra is null ? null : JsonSerializer.Serialize(extra);
        var row = new ArchiveRow(entity, values);
        if (!string.Equals(row.Id, memberId, StringComparison.Ordinal))
        {
            return Fail(record, DeadLetterReasons.IdMismatch, "Field 'id' differs from the change-index member that points to this hash.");
        }

        return (new MappedRow(record, row), null);
    }

    private static (bool Ok, object? Value, string? Category, string? Reason) Convert(ColumnDescriptor column, string text, ReadOnlySpan<byte> utf8, DateTimeOffset latestAllowed)
    {
        // An empty string in a typed field means "no value" (JavaScript clients write "" for null).
        if (text.Length == 0 && column.Kind != ColumnKind.Text)
        {
            return (true, null, null, null);
        }

        switch (column.Kind)
        {
            case ColumnKind.Text:
                if (column.AllowedValues is { } allowed && !allowed.Contains(text, StringComparer.Ordinal))
                {
                    return (false, null, DeadLetterReasons.InvalidValue, $"Field '{column.Field}' must be one of {string.Join("|", allowed)}.");
                }

                if (column.Required && text.Length == 0)
                {
                    return (true, null, null, null);
                }

                return (true, text, null, null);

            case ColumnKind.Timestamp:
                if (!TimestampParser.TryParse(text, out var timestamp))
                {
                    return (false, null, DeadLetterReasons.InvalidTimestamp, $"Field '{column.Field}' is neither epoch milliseconds nor an ISO-8601 timestamp.");
                }

                return CheckTimestampRange(column, timestamp, text, latestAllowed);

            case ColumnKind.Integer:
                if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number))
                {
                    return (false, null, DeadLetterReasons.InvalidInteger, $"Field '{column.Field}' is not a 64-bit integer.");
                }

                return (true, number, null, null);

            case ColumnKind.JsonObject:
                return ValidateJsonObject(column, text, utf8);

            default:
                throw new InvalidOperationException($"Unknown column kind {column.Kind}.");
        }
    }

    private static bool IsAsciiInteger(ReadOnlySpan<byte> value)
    {
        var digits = value.Length > 0 && value[0] == (byte)'-' ? value[1..] : value;
        return digits.Length is > 0 and <= 19 && !digits.ContainsAnyExceptInRange((byte)'0', (byte)'9');
    }

    /// <summary>Timestamps as epoch milliseconds and integers, parsed straight from the UTF-8 bytes.</summary>
    private static (bool Ok, object? Value, string? Category, string? Reason) ConvertNumber(ColumnDescriptor column, ReadOnlySpan<byte> utf8, DateTimeOffset latestAllowed)
    {
        if (!System.Buffers.Text.Utf8Parser.TryParse(utf8, out long number, out var consumed) || consumed != utf8.Length)
        {
            return column.Kind == ColumnKind.Integer
                ? (false, null, DeadLetterReasons.InvalidInteger, $"Field '{column.Field}' is not a 64-bit integer.")
                : (false, null, DeadLetterReasons.InvalidTimestamp, $"Field '{column.Field}' is neither epoch milliseconds nor an ISO-8601 timestamp.");
        }

        if (column.Kind == ColumnKind.Integer)
        {
            return (true, number, null, null);
        }

        if (!TimestampParser.TryFromEpochMilliseconds(number, out var timestamp))
        {
            return (false, null, DeadLetterReasons.InvalidTimestamp, $"Field '{column.Field}' is neither epoch milliseconds nor an ISO-8601 timestamp.");
        }

        return CheckTimestampRange(column, timestamp, number, latestAllowed);
    }

    /// <summary>The writer's bounds, held again for records written around it: not before 2000, not beyond the tolerance.</summary>
    private static (bool Ok, object? Value, string? Category, string? Reason) CheckTimestampRange<T>(
        ColumnDescriptor column, DateTimeOffset timestamp, T written, DateTimeOffset latestAllowed)
    {
        if (timestamp < TimestampParser.Earliest)
        {
            // Epoch seconds or "0" read as milliseconds land in January 1970: refused by the writer, so dead-lettered here.
            return (false, null, DeadLetterReasons.InvalidTimestamp,
                $"Field '{column.Field}' is {written}, before {TimestampParser.Earliest:yyyy-MM-dd}: it looks like epoch seconds or zero; send epoch milliseconds.");
        }

        if (timestamp > latestAllowed)
        {
            return (false, null, DeadLetterReasons.FutureTimestamp, $"Field '{column.Field}' lies beyond {latestAllowed:O} (Redis clock plus the future tolerance).");
        }

        return (true, timestamp.UtcDateTime, null, null);
    }

    private static (bool Ok, object? Value, string? Category, string? Reason) ValidateJsonObject(ColumnDescriptor column, string text, ReadOnlySpan<byte> utf8)
    {
        // Validate without building a document: one forward pass of the reader over the UTF-8 bytes.
        try
        {
            var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return (false, null, DeadLetterReasons.InvalidJson, $"Field '{column.Field}' must be a JSON object.");
            }

            reader.Skip();
            if (reader.Read())
            {
                return (false, null, DeadLetterReasons.InvalidJson, $"Field '{column.Field}' has content after its JSON object.");
            }
        }
        catch (JsonException)
        {
            return (false, null, DeadLetterReasons.InvalidJson, $"Field '{column.Field}' is not valid JSON.");
        }

        if (text.Contains("\\u0000", StringComparison.OrdinalIgnoreCase))
        {
            return (false, null, DeadLetterReasons.InvalidJson, $"Field '{column.Field}' contains \\u0000, which PostgreSQL jsonb cannot store.");
        }

        return (true, text, null, null);
    }

    private static (MappedRow?, DeadLetter?) Fail(SourceRecord record, string category, string reason) =>
        (null, new DeadLetter(record.Entry, category, reason, RawPayload.Encode(record.Fields)));
}
