using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using NexusArchive.Core.Entities;

namespace NexusArchive.Core.Verification;

/// <summary>
/// The canonical form of a record's mapped values and its content hash. Both sides of a comparison pass through
/// here: the Redis side as <see cref="Mapping.RecordMapper"/> maps it, the PostgreSQL side as the row is read, so
/// representation differences that carry no meaning (jsonb's key order and whitespace, number spelling, timestamp
/// precision beyond PostgreSQL's microseconds) never count as a difference.
/// </summary>
internal static class CanonicalRecord
{
    private static readonly long s_unixEpochTicks = DateTime.UnixEpoch.Ticks;

    /// <summary>SHA-256 over the row's canonical values: one per column of its entity, then <c>extra</c>.</summary>
    public static byte[] Hash(ArchiveRow row)
    {
        var columns = row.Entity.Columns;
        var buffer = new ArrayBufferWriter<byte>(256);
        for (var i = 0; i < row.Count; i++)
        {
            var kind = i < columns.Count ? columns[i].Kind : ColumnKind.JsonObject; // extra is jsonb
            var text = Canonical(kind, row[i]);
            if (text is null)
            {
                buffer.Write([(byte)0]);
                continue;
            }

            // Tag + length prefix: no two different value lists share an encoding.
            var bytes = Encoding.UTF8.GetBytes(text);
            var header = buffer.GetSpan(5);
            header[0] = 1;
            BinaryPrimitives.WriteInt32BigEndian(header[1..], bytes.Length);
            buffer.Advance(5);
            buffer.Write(bytes);
        }

        return SHA256.HashData(buffer.WrittenSpan);
    }

    /// <summary>The canonical text of one value (null stays null).</summary>
    public static string? Canonical(ColumnKind kind, object? value) => value switch
    {
        null => null,
        DateTime dt => Microseconds(dt).ToString(CultureInfo.InvariantCulture),
        DateTimeOffset dto => Microseconds(dto.UtcDateTime).ToString(CultureInfo.InvariantCulture),
        long n => n.ToString(CultureInfo.InvariantCulture),
        int n => n.ToString(CultureInfo.InvariantCulture),
        string s when kind == ColumnKind.JsonObject => CanonicalJson(s),
        string s => s,
        _ => throw new ArgumentException($"Unexpected value type {value.GetType().Name} for a {kind} column.", nameof(value)),
    };

    /// <summary>Microseconds since the Unix epoch, truncated the way Npgsql sends a <see cref="DateTime"/> to timestamptz.</summary>
    public static long Microseconds(DateTime utc) => (utc.ToUniversalTime().Ticks - s_unixEpochTicks) / 10;

    /// <summary>
    /// JSON with object keys sorted ordinally (the last of duplicate keys wins, as in jsonb), no whitespace, strings
    /// re-escaped and numbers normalised (<c>1.50</c>, <c>1.5</c> and <c>15e-1</c> are one number). Text that is not
    /// JSON is returned unchanged.
    /// </summary>
    public static string CanonicalJson(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var buffer = new ArrayBufferWriter<byte>(json.Length + 16);
            using (var writer = new Utf8JsonWriter(buffer))
            {
                Write(writer, document.RootElement);
            }

            return Encoding.UTF8.GetString(buffer.WrittenSpan);
        }
        catch (JsonException)
        {
            return json;
        }
    }

    private static void Write(Utf8JsonWriter writer, JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var properties = new SortedDictionary<string, JsonElement>(StringComparer.Ordinal);
                foreach (var property in element.EnumerateObject())
                {
                    properties[property.Name] = property.Value;
                }

                writer.WriteStartObject();
                foreach (var (name, value) in properties)
                {
                    writer.WritePropertyName(name);
                    Write(writer, value);
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
            case JsonValueKind.String:
                writer.WriteStringValue(element.GetString());
                break;
            case JsonValueKind.Number:
                var raw = element.GetRawText();
                writer.WriteRawValue(
                    decimal.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var number)
                        ? (number / 1.0000000000000000000000000000m).ToString(CultureInfo.InvariantCulture) // drops trailing zeros
                        : raw,
                    skipInputValidation: true);
                break;
            default:
                element.WriteTo(writer); // true, false, null
                break;
        }
    }
}
