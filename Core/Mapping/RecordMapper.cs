using System.Globalization;
using System.Text;
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
        var idBytes = ReadOnlyMemory<byte>.Empty;

        if (!RawPayload.IsText(record.Entry.Member))
        {
            return Fail(record, DeadLetterReasons.InvalidText, "The index member (record id) is not valid UTF-8 text.");
        }

        for (var f = 0; f < record.FieldCount; f++)
        {
            // Hot path: match the name against the descriptor's UTF-8 field names and keep values as the bytes Redis
            // sent: text is checked (valid UTF-8, no NUL) and COPY writes the same bytes; timestamps and integers are
            // parsed from them. Only the id, unmapped fields and rare spellings (ISO timestamps) become strings.
            var nameBytes = record.Name(f);
            var valueBytes = record.Value(f);
            var index = entity.IndexOfField(nameBytes);
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
            else if (!RawPayload.TryGetText(nameBytes, out name))
            {
                return Fail(record, DeadLetterReasons.InvalidText, "A field name is not valid UTF-8 text or contains NUL.");
            }

            if (!RawPayload.IsText(valueBytes.Span))
            {
                return Fail(record, DeadLetterReasons.InvalidText, $"Field '{name}' is not valid UTF-8 text or contains a NUL character, which PostgreSQL text cannot store.");
            }

            if (index < 0)
            {
                (extra ??= new(StringComparer.Ordinal))[name] = Encoding.UTF8.GetString(valueBytes.Span);
                continue;
            }

            var column = columns[index];
            seen[index] = true;
            var (ok, value, category, reason) = Convert(column, index, valueBytes, latestAllowed);
            if (!ok)
            {
                return Fail(record, category!, reason!);
            }

            values[index] = value;
            if (index == 0)
            {
                idBytes = valueBytes;
            }
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
        if (!record.Entry.Member.AsSpan().SequenceEqual(idBytes.Span))
        {
            return Fail(record, DeadLetterReasons.IdMismatch, "Field 'id' differs from the change-index member that points to this hash.");
        }

        return (new MappedRow(record, row), null);
    }

    /// <summary>A text, timestamp, integer or JSON field's value (valid UTF-8 without NUL) converted for its column.</summary>
    private static (bool Ok, object? Value, string? Category, string? Reason) Convert(ColumnDescriptor column, int ordinal, ReadOnlyMemory<byte> utf8, DateTimeOffset latestAllowed)
    {
        var bytes = utf8.Span;

        // An empty string in a typed field means "no value" (JavaScript clients write "" for null).
        if (bytes.Length == 0 && column.Kind != ColumnKind.Text)
        {
            return (true, null, null, null);
        }

        switch (column.Kind)
        {
            case ColumnKind.Text:
                if (column.AllowedValues is { } allowed && !IsOneOf(bytes, allowed))
                {
                    return (false, null, DeadLetterReasons.InvalidValue, $"Field '{column.Field}' must be one of {string.Join("|", allowed)}.");
                }

                if (column.Required && bytes.Length == 0)
                {
                    return (true, null, null, null);
                }

                // The id is read as a string (page dedupe, dead letters); other text stays as its bytes until COPY.
                return (true, ordinal == 0 ? Encoding.UTF8.GetString(bytes) : new Utf8Text(utf8), null, null);

            case ColumnKind.Timestamp:
                if (!TimestampParser.TryParse(Encoding.UTF8.GetString(bytes), out var timestamp))
                {
                    return (false, null, DeadLetterReasons.InvalidTimestamp, $"Field '{column.Field}' is neither epoch milliseconds nor an ISO-8601 timestamp.");
                }

                return CheckTimestampRange(column, timestamp, Encoding.UTF8.GetString(bytes), latestAllowed);

            case ColumnKind.Integer:
                if (!long.TryParse(Encoding.UTF8.GetString(bytes), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number))
                {
                    return (false, null, DeadLetterReasons.InvalidInteger, $"Field '{column.Field}' is not a 64-bit integer.");
                }

                return (true, number, null, null);

            case ColumnKind.JsonObject:
                return ValidateJsonObject(column, utf8);

            default:
                throw new InvalidOperationException($"Unknown column kind {column.Kind}.");
        }
    }

    /// <summary>Whether <paramref name="utf8"/> spells one of <paramref name="allowed"/> exactly (ordinal).</summary>
    private static bool IsOneOf(ReadOnlySpan<byte> utf8, IReadOnlyList<string> allowed)
    {
        foreach (var value in allowed)
        {
            if (Ascii.IsValid(value) ? Ascii.Equals(utf8, value) : utf8.SequenceEqual(Encoding.UTF8.GetBytes(value)))
            {
                return true;
            }
        }

        return false;
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

    private static (bool Ok, object? Value, string? Category, string? Reason) ValidateJsonObject(ColumnDescriptor column, ReadOnlyMemory<byte> utf8)
    {
        // Validate without building a document: one forward pass of the reader over the UTF-8 bytes.
        try
        {
            var reader = new Utf8JsonReader(utf8.Span, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
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

        if (ContainsEscapedNul(utf8.Span))
        {
            return (false, null, DeadLetterReasons.InvalidJson, $"Field '{column.Field}' contains \\u0000, which PostgreSQL jsonb cannot store.");
        }

        return (true, new Utf8Text(utf8), null, null);
    }

    /// <summary>Whether the text contains <c>\u0000</c> (the <c>u</c> in either case), as jsonb refuses it.</summary>
    private static bool ContainsEscapedNul(ReadOnlySpan<byte> utf8)
    {
        int at;
        while ((at = utf8.IndexOf((byte)'\\')) >= 0)
        {
            utf8 = utf8[(at + 1)..];
            if (utf8.Length >= 5 && (utf8[0] | 0x20) == 'u' && utf8[1..5].SequenceEqual("0000"u8))
            {
                return true;
            }
        }

        return false;
    }

    private static (MappedRow?, DeadLetter?) Fail(SourceRecord record, string category, string reason) =>
        (null, new DeadLetter(record.Entry, category, reason, RawPayload.Encode(record.Fields)));
}
