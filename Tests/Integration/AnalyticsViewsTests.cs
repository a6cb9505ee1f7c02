using System.Globalization;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Entities;
using NexusArchive.Tests.Infrastructure;

namespace NexusArchive.Tests.Integration;

/// <summary>
/// The analytics views of migration 0007 on a small known data set, written through the Lua writer and archived by a
/// real pass. Figures are checked one by one; the views run as the admin that owns the tables (RLS as Supabase's roles:
/// Tests/Security/SearchAndAnalyticsSecurityTests.cs).
/// </summary>
public sealed class AnalyticsViewsTests
{
    private static readonly DateTimeOffset s_day1 = new(2025, 3, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset s_day2 = s_day1.AddDays(1);

    /// <summary>
    /// u-1: sessions s-1 (day 1), s-2 (day 2, soft-deleted), s-4 (day 2, no messages); u-2: s-3 (day 1).
    /// Messages (id, session, user, created, tokens, model, deleted):
    /// s-1: m-1 d1 10:00 10 —; m-2 d1 10:01 100 gpt-4o; m-3 d1 23:59:59.999 5 — deleted; m-4 d2 00:00:00.000 50 gpt-4o.
    /// s-2: m-5 d2 08:01 (no tokenCount) —; m-6 d2 08:02 200 claude-3.  s-3: m-7 d1 12:01 7 —; m-8 d1 12:02 70 gpt-4o.
    /// </summary>
    internal static async Task SeedKnownDataSetAsync(ArchiveHarness h)
    {
        var t = await h.RedisNowMsAsync() - 60_000;
        static string Ms(DateTimeOffset at) => at.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);

        foreach (var user in new[] { "u-1", "u-2" })
        {
            await h.WriteAsync(EntityCatalog.User, user, t, ("email", $"{user}@example.test"), ("createdAt", Ms(s_day1)));
        }

        await h.WriteAsync(EntityCatalog.Session, "s-1", t, ("userId", "u-1"), ("title", "first"), ("model", "gpt-4o"), ("createdAt", Ms(s_day1.AddHours(9))));
        await h.WriteAsync(EntityCatalog.Session, "s-2", t, ("userId", "u-1"), ("title", "gone"), ("createdAt", Ms(s_day2.AddHours(8))), ("deletedAt", Ms(s_day2.AddHours(9))));
        await h.WriteAsync(EntityCatalog.Session, "s-3", t, ("userId", "u-2"), ("title", "other user"), ("createdAt", Ms(s_day1.AddHours(12))));
        await h.WriteAsync(EntityCatalog.Session, "s-4", t, ("userId", "u-1"), ("title", "empty"), ("createdAt", Ms(s_day2.AddHours(10))));

        var messages = new (string Id, string Session, string User, DateTimeOffset Created, int? Tokens, string? Model, bool Deleted)[]
        {
            ("m-1", "s-1", "u-1", s_day1.AddHours(10), 10, null, false),
            ("m-2", "s-1", "u-1", s_day1.AddHours(10).AddMinutes(1), 100, "gpt-4o", false),
            ("m-3", "s-1", "u-1", s_day2.AddMilliseconds(-1), 5, null, true),
            ("m-4", "s-1", "u-1", s_day2, 50, "gpt-4o", false),
            ("m-5", "s-2", "u-1", s_day2.AddHours(8).AddMinutes(1), null, null, false),
            ("m-6", "s-2", "u-1", s_day2.AddHours(8).AddMinutes(2), 200, "claude-3", false),
            ("m-7", "s-3", "u-2", s_day1.AddHours(12).AddMinutes(1), 7, null, false),
            ("m-8", "s-3", "u-2", s_day1.AddHours(12).AddMinutes(2), 70, "gpt-4o", false),
        };
        foreach (var m in messages)
        {
            var fields = new List<(string, string)> { ("sessionId", m.Session), ("userId", m.User), ("role", m.Model is null ? "user" : "assistant"), ("content", $"message {m.Id}"), ("createdAt", Ms(m.Created)) };
            if (m.Tokens is { } tokens)
            {
                fields.Add(("tokenCount", tokens.ToString(CultureInfo.InvariantCulture)));
            }

            if (m.Model is { } model)
            {
                fields.Add(("model", model));
            }

            if (m.Deleted)
            {
                fields.Add(("deletedAt", Ms(m.Created.AddHours(1))));
            }

            await h.WriteAsync(EntityCatalog.Message, m.Id, t, [.. fields]);
        }

        Assert.Equal(RunStatus.Succeeded, (await h.RunAsync()).Status);
    }

    /// <summary>Each row as one space-separated line (NULL as '-', times as UTC ISO 8601).</summary>
    internal static string[] Lines(IEnumerable<object?[]> rows) =>
        [.. rows.Select(r => string.Join(' ', r.Select(v => v switch
        {
            null => "-",
            DateTime d => d.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff", CultureInfo.InvariantCulture),
            bool b => b ? "true" : "false",
            _ => Convert.ToString(v, CultureInfo.InvariantCulture),
        })))];

    private static async Task<string[]> LinesAsync(ArchiveHarness h, string sql) =>
        Lines((await h.QueryAsync(sql)).Select(r => r.Values.ToArray()));

    [Fact]
    public async Task UserDailyUsage_CountsMessagesSessionsAndTokensPerUtcDay()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await SeedKnownDataSetAsync(h);

        var lines = await LinesAsync(h, "SELECT user_id, day::text, messages, sessions_started, tokens FROM {t}.user_daily_usage ORDER BY user_id, day");

        // m-3 at 23:59:59.999 belongs to day 1 and m-4 at 00:00:00.000 to day 2 (UTC); the soft-deleted m-3 counts; m-5
        // without a token count adds 0; s-4 counts as started although it has no messages.
        Assert.Equal(
        [
            "u-1 2025-03-01 3 1 115",
            "u-1 2025-03-02 3 2 250",
            "u-2 2025-03-01 2 1 77",
        ], lines);
    }

    [Fact]
    public async Task ModelDailyUsage_CountsMessagesAndTokensPerModelAndDay()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await SeedKnownDataSetAsync(h);

        var lines = await LinesAsync(h, "SELECT model, day::text, messages, tokens FROM {t}.model_daily_usage ORDER BY model NULLS FIRST, day");

        Assert.Equal(
        [
            "- 2025-03-01 3 22",
            "- 2025-03-02 1 0",
            "claude-3 2025-03-02 1 200",
            "gpt-4o 2025-03-01 2 170",
            "gpt-4o 2025-03-02 1 50",
        ], lines);
    }

    [Fact]
    public async Task SessionSummary_OneRowPerSession_WithFirstLastCountsTokensAndDeleted()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await SeedKnownDataSetAsync(h);

        var lines = await LinesAsync(h,
            "SELECT session_id, user_id, first_message_at, last_message_at, messages, deleted_messages, tokens, deleted FROM {t}.session_summary ORDER BY session_id");

        Assert.Equal(
        [
            "s-1 u-1 2025-03-01T10:00:00.000 2025-03-02T00:00:00.000 4 1 165 false",
            "s-2 u-1 2025-03-02T08:01:00.000 2025-03-02T08:02:00.000 2 0 200 true",
            "s-3 u-2 2025-03-01T12:01:00.000 2025-03-01T12:02:00.000 2 0 77 false",
            "s-4 u-1 - - 0 0 0 false",
        ], lines);
    }

    [Fact]
    public async Task Views_FollowLaterEdits_AfterTheNextPass()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await SeedKnownDataSetAsync(h);

        // m-8 is edited in Redis (more tokens); the next pass archives the new version and the views follow.
        var t = await h.RedisNowMsAsync() - 10_000;
        var created = s_day1.AddHours(12).AddMinutes(2).ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        await h.WriteAsync(EntityCatalog.Message, "m-8", t, ("sessionId", "s-3"), ("userId", "u-2"), ("role", "assistant"), ("content", "longer answer"), ("model", "gpt-4o"), ("tokenCount", "700"), ("createdAt", created));
        Assert.Equal(RunStatus.Succeeded, (await h.RunAsync()).Status);

        Assert.Equal(["u-2 2025-03-01 2 1 707"], await LinesAsync(h, "SELECT user_id, day::text, messages, sessions_started, tokens FROM {t}.user_daily_usage WHERE user_id = 'u-2'"));
        Assert.Equal(["s-3 2 707"], await LinesAsync(h, "SELECT session_id, messages, tokens FROM {t}.session_summary WHERE session_id = 's-3'"));
    }
}
