using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Source;
using StackExchange.Redis;

namespace NexusArchive.Core.Demo;

/// <summary>Shape of a demo data set.</summary>
public sealed record DemoDataShape(
    int Users = 25,
    int SessionsPerUser = 3,
    int MessagesPerSession = 12,
    double AttachmentRatio = 0.1,
    double EditRatio = 0.05,
    double SoftDeleteRatio = 0.03,
    int Seed = 42,
    int ContentBytes = 200);

/// <summary>What the seeder wrote.</summary>
public sealed record DemoDataSummary(int Users, int Sessions, int Messages, int Attachments, int Edits, int SoftDeletes)
{
    public int Total => Users + Sessions + Messages + Attachments;
}

/// <summary>
/// Writes a realistic NexusChat data set through the Lua record writer: users with sessions with messages, some
/// attachments, some edits and soft deletes. Timestamps lie in the past (Redis clock) so the very next pass
/// archives everything; the seed makes the data set reproducible.
/// </summary>
public sealed class DemoDataSeeder
{
    private static readonly string[] s_roles = ["user", "assistant"];
    private static readonly string[] s_models = ["gpt-4o", "claude-3.5-sonnet", "llama-3.1-70b"];
    private static readonly string[] s_words =
        ["archive", "redis", "postgres", "session", "deploy", "question", "answer", "latency", "backup", "restore", "token", "model", "chat", "nexus", "hello"];

    private readonly IConnectionMultiplexer _redis;
    private readonly IChangeSource _source;
    private readonly RecordWriter _writer;
    private readonly RedisLayout _layout;
    private readonly ILogger<DemoDataSeeder> _logger;

    internal DemoDataSeeder(
        IConnectionMultiplexer redis,
        IChangeSource source,
        RecordWriter writer,
        RedisLayout layout,
        ILogger<DemoDataSeeder> logger)
    {
        _redis = redis;
        _source = source;
        _writer = writer;
        _layout = layout;
        _logger = logger;
    }

    /// <summary>True when the data set of this seed is already in Redis (its first user exists).</summary>
    public Task<bool> IsSeededAsync(DemoDataShape shape) =>
        _redis.GetDatabase().KeyExistsAsync(_layout.RecordKey(EntityCatalog.User, UserId(shape, 0)));

    /// <summary>Seeds the data set; existing records with the same ids are only replaced by newer versions.</summary>
    public async Task<DemoDataSummary> SeedAsync(DemoDataShape shape, CancellationToken cancellationToken)
    {
        var database = _redis.GetDatabase();
        var random = new Random(shape.Seed);
        var nowMs = (await _source.GetServerTimeAsync(cancellationToken)).ToUnixTimeMilliseconds();
        var startMs = nowMs - (long)TimeSpan.FromDays(30).TotalMilliseconds;
        var endMs = nowMs - (long)TimeSpan.FromMinutes(1).TotalMilliseconds;
        var pending = new List<Task>(4096);
        int sessions = 0, messages = 0, attachments = 0, edits = 0, softDeletes = 0;

        async Task Write(EntityDescriptor entity, string id, Dictionary<string, string> fields, long updatedAt)
        {
            pending.Add(_writer.WriteAsync(
                database, entity, id, fields.Select(f => new KeyValuePair<string, RedisValue>(f.Key, f.Value)), updatedAt, WriteMode.Merge, onlyIfNewer: true));
            if (pending.Count >= 4000)
            {
                await Task.WhenAll(pending).WaitAsync(cancellationToken);
                pending.Clear();
            }
        }

        string Ms(long ms) => ms.ToString(CultureInfo.InvariantCulture);
        long Between(long from, long to) => from + (long)(random.NextDouble() * Math.Max(1, to - from));

        for (var u = 0; u < shape.Users; u++)
        {
            var userId = UserId(shape, u);
            var userCreated = Between(startMs, startMs + ((endMs - startMs) / 4));
            await Write(EntityCatalog.User, userId, new()
            {
                ["email"] = $"user{u}@example.com",
                ["displayName"] = $"Demo User {u}",
                ["avatarUrl"] = $"https://cdn.example.com/avatars/{u}.png",
                ["createdAt"] = Ms(userCreated),
                ["locale"] = u % 2 == 0 ? "en-GB" : "de-DE", // not in the contract: lands in extra
            }, userCreated);

            for (var s = 0; s < shape.SessionsPerUser; s++)
            {
                var sessionId = $"s-{shape.Seed}-{u:D5}-{s:D3}";
                var sessionCreated = Between(userCreated, endMs - 60_000);
                sessions++;
                var model = s_models[random.Next(s_models.Length)];
                await Write(EntityCatalog.Session, sessionId, new()
                {
                    ["userId"] = userId,
                    ["title"] = $"Conversation about {s_words[random.Next(s_words.Length)]}",
                    ["model"] = model,
                    ["createdAt"] = Ms(sessionCreated),
                }, sessionCreated);

                var messageTime = sessionCreated;
                for (var m = 0; m < shape.MessagesPerSession; m++)
                {
                    var messageId = $"m-{shape.Seed}-{u:D5}-{s:D3}-{m:D4}";
                    messageTime = Math.Min(endMs - 1000, messageTime + random.Next(1_000, 120_000));
                    messages++;
                    var role = s_roles[m % 2];
                    var fields = new Dictionary<string, string>
                    {
                        ["sessionId"] = sessionId,
                        ["userId"] = userId,
                        ["role"] = role,
                        ["content"] = Sentence(random, shape.ContentBytes),
                        ["model"] = role == "assistant" ? model : string.Empty,
                        ["tokenCount"] = random.Next(5, 800).ToString(CultureInfo.InvariantCulture),
                        ["metadata"] = JsonSerializer.Serialize(new { client = "web", latencyMs = random.Next(50, 3000) }),
                        ["createdAt"] = Ms(messageTime),
                    };
                    await Write(EntityCatalog.Message, messageId, fields, messageTime);

                    if (random.NextDouble() < shape.EditRatio)
                    {
                        edits++;
                        var edited = new Dictionary<string, string>(fields) { ["content"] = Sentence(random, shape.ContentBytes) + " (edited)" };
                        await Write(EntityCatalog.Message, messageId, edited, Between(messageTime + 1, endMs));
                    }
                    else if (random.NextDouble() < shape.SoftDeleteRatio)
                    {
                        softDeletes++;
                        var deletedAt = Between(messageTime + 1, endMs);
                        var deleted = new Dictionary<string, string>(fields) { ["deletedAt"] = Ms(deletedAt) };
                        await Write(EntityCatalog.Message, messageId, deleted, deletedAt);
                    }

                    if (random.NextDouble() < shape.AttachmentRatio)
                    {
                        attachments++;
                        await Write(EntityCatalog.Attachment, $"a-{messageId[2..]}", new()
                        {
                            ["messageId"] = messageId,
                            ["sessionId"] = sessionId,
                            ["userId"] = userId,
                            ["fileName"] = $"report-{m}.pdf",
                            ["mimeType"] = "application/pdf",
                            ["sizeBytes"] = random.Next(1_000, 5_000_000).ToString(CultureInfo.InvariantCulture),
                            ["storageUrl"] = $"https://storage.example.com/nexus/{messageId}/report-{m}.pdf",
                            ["createdAt"] = Ms(messageTime),
                        }, messageTime);
                    }
                }
            }
        }

        await Task.WhenAll(pending).WaitAsync(cancellationToken);
        var summary = new DemoDataSummary(shape.Users, sessions, messages, attachments, edits, softDeletes);
        Log.DemoSeeded(_logger, summary.Users, summary.Sessions, summary.Messages, summary.Attachments, summary.Edits, summary.SoftDeletes);
        return summary;
    }

    private static string UserId(DemoDataShape shape, int index) => $"u-{shape.Seed}-{index:D5}";

    private static string Sentence(Random random, int approximateBytes)
    {
        var builder = new System.Text.StringBuilder(approximateBytes + 16);
        while (builder.Length < approximateBytes)
        {
            if (builder.Length > 0)
            {
                builder.Append(' ');
            }

            builder.Append(s_words[random.Next(s_words.Length)]);
        }

        return builder.ToString();
    }
}
