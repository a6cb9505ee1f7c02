namespace NexusArchive.Core.Entities;

/// <summary>How a Redis hash field (always a string) becomes a PostgreSQL value.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<ColumnKind>))]
public enum ColumnKind
{
    /// <summary>UTF-8 text without NUL characters; PostgreSQL <c>text</c>.</summary>
    Text,

    /// <summary>Unix epoch milliseconds or ISO-8601; PostgreSQL <c>timestamptz</c>.</summary>
    Timestamp,

    /// <summary>A decimal integer; PostgreSQL <c>bigint</c>.</summary>
    Integer,

    /// <summary>A JSON object serialised as a string; PostgreSQL <c>jsonb</c>.</summary>
    JsonObject,
}
