using System.Globalization;
using NexusArchive.Core.Entities;
using NpgsqlTypes;
using StackExchange.Redis;

namespace NexusArchive.Bench;

/// <summary>
/// The benchmark's synthetic data: deterministic messages of about 600 bytes (users and sessions in realistic
/// proportion), produced identically as Redis fields (for the pass) and as row values (for the baselines).
/// With <paramref name="variedText"/> every message has its own text (<see cref="SearchText"/>), as full-text search
/// needs to cost what it costs on real chats; otherwise all share one repeated sentence. Message i is created
/// <paramref name="stepMs"/> after message i − 1 (2 ms by default: a million messages in about half an hour; the views
/// benchmark spreads them over weeks so its daily views have days to group).
/// </summary>
internal sealed class BenchData(long baseMs, bool variedText = false, long stepMs = 2)
{
    public const int MessagesPerSession = 20;
    public const int SessionsPerUser = 20;
    private static readonly string s_content = string.Concat(Enumerable.Repeat("NexusChat archived message body text. ", 13));

    public static readonly NpgsqlDbType[] MessageTypes =
    [
        NpgsqlDbType.Text, NpgsqlDbType.Text, NpgsqlDbType.Text, NpgsqlDbType.Text, NpgsqlDbType.Text, NpgsqlDbType.Text,
        NpgsqlDbType.Bigint, NpgsqlDbType.Jsonb, NpgsqlDbType.TimestampTz, NpgsqlDbType.TimestampTz, NpgsqlDbType.TimestampTz, NpgsqlDbType.Jsonb,
    ];

    public static string MessageColumns => string.Join(", ", EntityCatalog.Message.Columns.Select(c => c.Column).Append("extra"));

    public static string MessageId(long i) => $"m-{i:D10}";

    public long CreatedMs(long i) => baseMs + (i * stepMs);

    public (string Id, long UpdatedMs, KeyValuePair<string, RedisValue>[] Fields) MessageFields(long i, int version = 0)
    {
        var created = CreatedMs(i);
        var updated = version == 0 ? created : created + version;
        return (MessageId(i), updated,
        [
            new("sessionId", $"s-{i / MessagesPerSession:D8}"),
            new("userId", $"u-{i / (MessagesPerSession * SessionsPerUser):D7}"),
            new("role", i % 2 == 0 ? "user" : "assistant"),
            new("content", Content(i, version)),
            new("model", "gpt-4o"),
            new("tokenCount", (i % 900).ToString(CultureInfo.InvariantCulture)),
            new("metadata", "{\"client\":\"web\",\"latencyMs\":123}"),
            new("createdAt", created.ToString(CultureInfo.InvariantCulture)),
        ]);
    }

    /// <summary>The row the archive holds for message <paramref name="i"/> (same values the mapper produces).</summary>
    public object?[] MessageRow(long i, int version = 0)
    {
        var created = DateTimeOffset.FromUnixTimeMilliseconds(CreatedMs(i)).UtcDateTime;
        var updated = version == 0 ? created : created.AddMilliseconds(version);
        return
        [
            MessageId(i), $"s-{i / MessagesPerSession:D8}", $"u-{i / (MessagesPerSession * SessionsPerUser):D7}",
            i % 2 == 0 ? "user" : "assistant", Content(i, version), "gpt-4o",
            i % 900, "{\"client\":\"web\",\"latencyMs\":123}", created, updated, null, null,
        ];
    }

    private string Content(long i, int version) =>
        variedText ? SearchText.Message(i, version) : version == 0 ? s_content : s_content + " (edited)";
}
