using System.Buffers;
using System.Text;
using System.Text.Json;
using StackExchange.Redis;

namespace NexusArchive.Core.Mapping;

/// <summary>
/// Encodes a Redis hash as JSON without losing a byte: an array of <c>[field, value]</c> pairs where each
/// element is a JSON string when it is valid UTF-8 without NUL characters, and <c>{"base64": "…"}</c> otherwise.
/// </summary>
internal static class RawPayload
{
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Serialises the hash.</summary>
    public static string Encode(IReadOnlyList<HashEntry> fields)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            foreach (var field in fields)
            {
                writer.WriteStartArray();
                WriteValue(writer, field.Name);
                WriteValue(writer, field.Value);
                writer.WriteEndArray();
            }

            writer.WriteEndArray();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Reads a payload written by <see cref="Encode"/> back into exact bytes.</summary>
    public static IReadOnlyList<KeyValuePair<byte[], byte[]>> Decode(string json)
    {
        using var document = JsonDocument.Parse(json);
        var result = new List<KeyValuePair<byte[], byte[]>>();
        foreach (var pair in document.RootElement.EnumerateArray())
        {
            result.Add(new(ReadValue(pair[0]), ReadValue(pair[1])));
        }

        return result;
    }

    /// <summary>Whether the bytes are text PostgreSQL can store: valid UTF-8 (as <see cref="TryGetText"/> decodes it) without NUL.</summary>
    public static bool IsText(ReadOnlySpan<byte> bytes) => !bytes.Contains((byte)0) && System.Text.Unicode.Utf8.IsValid(bytes);

    /// <summary>Decodes bytes as strict UTF-8; false when they are not valid UTF-8 or contain NUL.</summary>
    public static bool TryGetText(ReadOnlySpan<byte> bytes, out string text)
    {
        if (bytes.Contains((byte)0))
        {
            text = string.Empty;
            return false;
        }

        try
        {
            text = s_strictUtf8.GetString(bytes);
            return true;
        }
        catch (DecoderFallbackException)
        {
            text = string.Empty;
            return false;
        }
    }

    private static void WriteValue(Utf8JsonWriter writer, RedisValue value)
    {
        byte[] bytes = value.IsNull ? [] : (byte[])value!;
        if (TryGetText(bytes, out var text))
        {
            writer.WriteStringValue(text);
        }
        else
        {
            writer.WriteStartObject();
            writer.WriteBase64String("base64", bytes);
            writer.WriteEndObject();
        }
    }

    private static byte[] ReadValue(JsonElement element) =>
        element.ValueKind == JsonValueKind.String
            ? Encoding.UTF8.GetBytes(element.GetString()!)
            : element.GetProperty("base64").GetBytesFromBase64();
}
