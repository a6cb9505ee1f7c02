using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Demo;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Verification;
using NexusArchive.Tests.Infrastructure;

namespace NexusArchive.Tests.Integration;

/// <summary>verify against real redis-server and PostgreSQL.</summary>
public sealed class VerifyTests
{
    [Fact]
    public async Task Verify_AfterArchivingDemoData_EveryRecordEqual()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var seeded = await h.Services.GetRequiredService<DemoDataSeeder>().SeedAsync(new DemoDataShape(Users: 4, SessionsPerUser: 2, MessagesPerSession: 6), CancellationToken.None);
        await h.RunAsync();

        var report = await h.Services.GetRequiredService<VerifyService>().VerifyAsync(new VerifyRequest(BatchSize: 7), CancellationToken.None);

        Assert.True(report.Ok);
        Assert.Equal(seeded.Total, report.Entities.Sum(e => e.Counts[VerifyCategory.Equal]));
        Assert.All(report.Entities, e => Assert.Equal(e.RedisRecords, e.Counts[VerifyCategory.Equal]));
        Assert.All(report.Entities, e => Assert.Equal(e.PostgresRows, e.RedisRecords));
    }

    [Fact]
    public async Task Verify_EachKindOfDivergence_LandsInItsOwnCategory()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        var old = now - 300_000;
        for (var i = 0; i < 10; i++)
        {
            await h.WriteMessageAsync($"m-{i}", old + (i * 1000));
        }

        await h.WriteMessageUncheckedAsync("m-bad", old, ("role", "robot")); // around the Lua writer, which refuses the role
        await h.RunAsync("message");

        await h.ScalarAsync("WITH d AS (DELETE FROM {t}.messages WHERE id = 'm-0' RETURNING 1) SELECT count(*) FROM d");              // gap
        await h.WriteMessageAsync("m-1", old + 1500, content: "edited behind the checkpoint");                                           // PostgreSQL older
        await h.ScalarAsync("WITH u AS (UPDATE {t}.messages SET updated_at = updated_at + interval '1 hour' WHERE id = 'm-2' RETURNING 1) SELECT count(*) FROM u"); // PostgreSQL newer
        await h.Redis.HashSetAsync(h.Layout.RecordKey(EntityCatalog.Message, "m-3"), "content", "written around the Lua writer");       // content differs
        await h.Redis.KeyDeleteAsync(h.Layout.RecordKey(EntityCatalog.Message, "m-4"));                                                // only in PostgreSQL
        await h.WriteMessageAsync("m-new", now);                                                                                        // pending (settle window)
        await h.Redis.HashSetAsync(h.Layout.RecordKey(EntityCatalog.Message, "m-legacy"), [
            new("id", "m-legacy"), new("sessionId", "s-1"), new("userId", "u-1"), new("role", "user"), new("createdAt", Ms(old)), new("updatedAt", Ms(old)),
        ]);                                                                                                                              // unindexed

        var report = await h.Services.GetRequiredService<VerifyService>().VerifyAsync(new VerifyRequest(["message"]), CancellationToken.None);

        var counts = report.Entities.Single().Counts;
        Assert.Equal(5, counts[VerifyCategory.Equal]);
        Assert.Equal(1, counts[VerifyCategory.Gap]);
        Assert.Equal(1, counts[VerifyCategory.PostgresOlder]);
        Assert.Equal(1, counts[VerifyCategory.PostgresNewer]);
        Assert.Equal(1, counts[VerifyCategory.ContentDiffers]);
        Assert.Equal(1, counts[VerifyCategory.OnlyInPostgres]);
        Assert.Equal(1, counts[VerifyCategory.Pending]);
        Assert.Equal(1, counts[VerifyCategory.Unindexed]);
        Assert.Equal(1, counts[VerifyCategory.DeadLettered]);
        Assert.Equal(["m-0"], report.Entities.Single().Samples[VerifyCategory.Gap]);
        Assert.False(report.Ok);
        Assert.Equal(2, report.Gaps);
        Assert.Equal(3, report.Differences);
    }

    [Fact]
    public async Task Verify_UserScope_CountsOnlyTheUsersRecordsAndMessagesPerSession()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var old = await h.RedisNowMsAsync() - 300_000;
        foreach (var (user, session, count) in new[] { ("u-1", "s-1", 3), ("u-1", "s-2", 2), ("u-2", "s-3", 4) })
        {
            await h.WriteAsync(EntityCatalog.Session, session, old, ("userId", user), ("createdAt", Ms(old)));
            for (var i = 0; i < count; i++)
            {
                await h.WriteMessageAsync($"{session}-m{i}", old + i, session: session, user: user);
            }
        }

        await h.WriteAsync(EntityCatalog.User, "u-1", old, ("email", "a@example.com"), ("createdAt", Ms(old)));
        await h.RunAsync();
        await h.ScalarAsync("WITH d AS (DELETE FROM {t}.messages WHERE id = 's-2-m0' RETURNING 1) SELECT count(*) FROM d");

        var report = await h.Services.GetRequiredService<VerifyService>().VerifyAsync(new VerifyRequest(UserId: "u-1"), CancellationToken.None);

        Assert.Equal(1, report.Entities.Single(e => e.Entity == "user").RedisRecords);
        Assert.Equal(2, report.Entities.Single(e => e.Entity == "session").Counts[VerifyCategory.Equal]);
        var messages = report.Entities.Single(e => e.Entity == "message");
        Assert.Equal(5, messages.RedisRecords);
        Assert.Equal(1, messages.Counts[VerifyCategory.Gap]);
        Assert.Equal(
            [new SessionMessageCount("s-1", 3, 3), new SessionMessageCount("s-2", 2, 1)],
            report.SessionMessageCounts);
    }

    [Fact]
    public async Task Verify_NeverArchived_EverythingIsPendingNotAGap()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await h.WriteMessageAsync("m-1", await h.RedisNowMsAsync() - 300_000);

        var report = await h.Services.GetRequiredService<VerifyService>().VerifyAsync(new VerifyRequest(["message"]), CancellationToken.None);

        Assert.Equal(1, report.Entities.Single().Counts[VerifyCategory.Pending]);
        Assert.True(report.Ok);
    }

    private static string Ms(long value) => value.ToString(CultureInfo.InvariantCulture);
}
