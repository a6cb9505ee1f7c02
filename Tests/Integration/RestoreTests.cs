using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Demo;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Restore;
using NexusArchive.Core.Verification;
using NexusArchive.Tests.Infrastructure;
using StackExchange.Redis;

namespace NexusArchive.Tests.Integration;

/// <summary>restore against real redis-server and PostgreSQL.</summary>
public sealed class RestoreTests
{
    [Fact]
    public async Task Restore_AllAfterFlushingRedis_VerifiesEqualAndNextArchiveUpsertsNothing()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var seeded = await h.Services.GetRequiredService<DemoDataSeeder>().SeedAsync(new DemoDataShape(Users: 4, SessionsPerUser: 2, MessagesPerSession: 8, SoftDeleteRatio: 0.2), CancellationToken.None);
        await h.RunAsync();
        var softDeleted = await h.ScalarAsync("SELECT count(*) FROM {t}.messages WHERE deleted_at IS NOT NULL");
        Assert.True(softDeleted > 0);

        await RedisKeys.DeletePrefixAsync(h.Redis, h.Prefix);
        var restore = await h.Services.GetRequiredService<RestoreService>().RestoreAsync(new RestoreRequest(All: true, BatchSize: 10), CancellationToken.None);
        var verify = await h.Services.GetRequiredService<VerifyService>().VerifyAsync(new VerifyRequest(), CancellationToken.None);
        var rerun = await h.RunAsync();

        Assert.Equal(seeded.Total, restore.Written);
        Assert.Equal(0, restore.Skipped);
        Assert.True(verify.Ok);
        Assert.Equal(seeded.Total, verify.Entities.Sum(e => e.Counts[VerifyCategory.Equal]));
        Assert.Equal(0, rerun.TotalUpserted);

        // The index score is the archived updated_at, and soft-deleted state came back.
        var row = (await h.QueryAsync("SELECT id, (extract(epoch FROM updated_at) * 1000)::bigint AS ms FROM {t}.messages WHERE deleted_at IS NOT NULL LIMIT 1"))[0];
        var id = (string)row["id"]!;
        Assert.Equal((double)(long)row["ms"]!, await h.Redis.SortedSetScoreAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message), id));
        Assert.False((await h.Redis.HashGetAsync(h.Layout.RecordKey(EntityCatalog.Message, id), "deletedAt")).IsNullOrEmpty);
    }

    [Fact]
    public async Task Restore_User_NeverOverwritesANewerRecordInRedis()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var old = await h.RedisNowMsAsync() - 300_000;
        await h.WriteAsync(EntityCatalog.User, "u-1", old, ("email", "a@example.com"), ("createdAt", Ms(old)));
        await h.WriteAsync(EntityCatalog.Session, "s-1", old, ("userId", "u-1"), ("createdAt", Ms(old)));
        await h.WriteMessageAsync("m-1", old, content: "archived", session: "s-1", user: "u-1");
        await h.WriteMessageAsync("m-2", old, content: "archived", session: "s-1", user: "u-1");
        await h.RunAsync();
        await h.WriteMessageAsync("m-1", old + 10_000, content: "newer in Redis", session: "s-1", user: "u-1");
        await h.Redis.KeyDeleteAsync(h.Layout.RecordKey(EntityCatalog.Message, "m-2"));
        await h.Redis.SortedSetRemoveAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message), "m-2");

        var report = await h.Services.GetRequiredService<RestoreService>().RestoreAsync(new RestoreRequest(UserId: "u-1"), CancellationToken.None);

        var messages = report.Entities.Single(e => e.Entity == "message");
        Assert.Equal(1, messages.Written);  // m-2 came back
        Assert.Equal(1, messages.Skipped);  // m-1 is newer in Redis
        Assert.Equal(2, report.Entities.Where(e => e.Entity is "user" or "session").Sum(e => e.Skipped));
        Assert.Equal("newer in Redis", (string?)await h.Redis.HashGetAsync(h.Layout.RecordKey(EntityCatalog.Message, "m-1"), "content"));
        Assert.Equal("archived", (string?)await h.Redis.HashGetAsync(h.Layout.RecordKey(EntityCatalog.Message, "m-2"), "content"));
    }

    [Fact]
    public async Task Restore_ARowTheWriterRefuses_IsReportedWithItsReasonAndTheRestGoesOn()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var old = await h.RedisNowMsAsync() - 300_000;
        await h.WriteAsync(EntityCatalog.User, "u-1", old, ("email", "a@example.com"), ("createdAt", Ms(old)));
        await h.WriteAsync(EntityCatalog.Session, "s-1", old, ("userId", "u-1"), ("createdAt", Ms(old)));
        await h.WriteMessageAsync("m-1", old, content: "fine", session: "s-1", user: "u-1");
        await h.WriteMessageAsync("m-2", old, content: "archived before the writer checked createdAt", session: "s-1", user: "u-1");
        await h.RunAsync();
        // A row archived long ago, before the writer refused implausible timestamps.
        await h.ScalarAsync("WITH u AS (UPDATE {t}.messages SET created_at = '1970-01-21T18:57:11Z' WHERE id = 'm-2' RETURNING 1) SELECT count(*) FROM u");
        await RedisKeys.DeletePrefixAsync(h.Redis, h.Prefix);

        var report = await h.Services.GetRequiredService<RestoreService>().RestoreAsync(new RestoreRequest(UserId: "u-1"), CancellationToken.None);

        var messages = report.Entities.Single(e => e.Entity == "message");
        Assert.Equal(1, messages.Written);
        Assert.Equal(1, messages.Refused);
        var refusal = Assert.Single(messages.Refusals);
        Assert.Equal("m-2", refusal.Id);
        Assert.Contains("createdAt", refusal.Reason, StringComparison.Ordinal);
        Assert.Equal(1, report.Refused);
        Assert.Equal(2, report.Entities.Where(e => e.Entity is "user" or "session").Sum(e => e.Written));
        Assert.Equal("fine", (string?)await h.Redis.HashGetAsync(h.Layout.RecordKey(EntityCatalog.Message, "m-1"), "content"));
        Assert.False(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Message, "m-2")));
        Assert.Null(await h.Redis.SortedSetScoreAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message), "m-2"));
    }

    [Fact]
    public async Task Restore_SessionDryRun_ReportsButWritesNothing()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var old = await h.RedisNowMsAsync() - 300_000;
        await h.WriteAsync(EntityCatalog.Session, "s-1", old, ("userId", "u-1"), ("createdAt", Ms(old)));
        await h.WriteMessageAsync("m-1", old, session: "s-1");
        await h.WriteMessageAsync("m-other", old, session: "s-2");
        await h.RunAsync();
        await RedisKeys.DeletePrefixAsync(h.Redis, h.Prefix);

        var report = await h.Services.GetRequiredService<RestoreService>().RestoreAsync(new RestoreRequest(SessionId: "s-1", DryRun: true), CancellationToken.None);

        Assert.Equal(2, report.Written); // the session and its one message; s-2's message is out of scope
        Assert.DoesNotContain(report.Entities, e => e.Entity == "user");
        Assert.False(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Message, "m-1")));
    }

    [Fact]
    public async Task Restore_NotExactlyOneScope_Throws()
    {
        await using var h = await ArchiveHarness.CreateAsync(migrate: false);
        var service = h.Services.GetRequiredService<RestoreService>();
        await Assert.ThrowsAsync<ArgumentException>(() => service.RestoreAsync(new RestoreRequest(), CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => service.RestoreAsync(new RestoreRequest(UserId: "u", All: true), CancellationToken.None));
    }

    private static string Ms(long value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Test-only key helpers. The Redis server is shared by parallel tests: only the test's own prefix is touched.</summary>
internal static class RedisKeys
{
    /// <summary>Deletes every key under <c>{prefix}:</c> (SCAN + pipelined UNLINK; never FLUSHALL/FLUSHDB).</summary>
    public static async Task DeletePrefixAsync(IDatabase redis, string prefix)
    {
        RedisValue cursor = 0;
        do
        {
            var scan = (RedisResult[])(await redis.ExecuteAsync("SCAN", cursor, "MATCH", prefix + ":*", "COUNT", 5000))!;
            cursor = (RedisValue)scan[0];
            var keys = (RedisKey[])scan[1]!;
            if (keys.Length > 0)
            {
                await redis.KeyDeleteAsync(keys);
            }
        }
        while (cursor != 0);
    }

    /// <summary>Writes record hashes directly (no index entry), pipelined: data from before the change indexes existed.</summary>
    public static async Task WriteLegacyHashesAsync(IDatabase redis, IEnumerable<(RedisKey Key, HashEntry[] Fields)> records)
    {
        var pending = new List<Task>(5000);
        foreach (var (key, fields) in records)
        {
            pending.Add(redis.HashSetAsync(key, fields));
            if (pending.Count == 5000)
            {
                await Task.WhenAll(pending);
                pending.Clear();
            }
        }

        await Task.WhenAll(pending);
    }
}
