using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Admin;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Backfill;
using NexusArchive.Core.Cost;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Offload;
using NexusArchive.Core.Restore;
using NexusArchive.Core.Source;
using NexusArchive.Core.Verification;
using NexusArchive.Tests.Infrastructure;
using StackExchange.Redis;

namespace NexusArchive.Tests.Integration;

/// <summary>
/// status, verify, restore, backfill, the records endpoint, erase, offload and cost with the message entity split into
/// shards (docs/scaling.md), against real redis-server and PostgreSQL. The layout is set before anything is written, as
/// an operator's reshard would, so the Lua writer puts each message in shard h(id) mod N.
/// </summary>
public sealed class ShardAwareToolsTests
{
    private static readonly long s_day = (long)TimeSpan.FromDays(1).TotalMilliseconds;

    [Fact]
    public async Task Status_FourShards_OneLinePerStream_LayoutDrainAndAStreamOutsideTheLayoutFlagged()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var (ids, now) = await ArchivedInFourShardsAsync(h);
        await h.WriteMessageAsync("m-late-a", now);
        await h.WriteMessageAsync("m-late-b", now);
        // A stream some pass once worked (a checkpoint row) that the layout no longer names, still holding an entry.
        await h.Redis.SortedSetAddAsync(h.Layout.ChangeIndexKey(Shard(1, 8)), "m-stray", now - 60_000);
        await h.ScalarAsync("WITH i AS (INSERT INTO {b}.checkpoints (entity) VALUES ('message.1of8') RETURNING 1) SELECT count(*) FROM i");

        var status = await Status(h);

        var message = status.Entities.Single(e => e.Entity == "message");
        Assert.Equal(new ShardStatus(4, null, 0), message.Shards);
        Assert.Equal(
            ["message", "message.0of4", "message.1of4", "message.2of4", "message.3of4", "message.1of8"],
            message.Streams!.Select(s => s.Stream));
        Assert.Equal(
            [StreamRole.Draining, StreamRole.Current, StreamRole.Current, StreamRole.Current, StreamRole.Current, StreamRole.NotInLayout],
            message.Streams!.Select(s => s.Role));
        var shards = message.Streams!.Where(s => s.Role == StreamRole.Current).ToList();
        Assert.Equal(12 + 2, shards.Sum(s => s.Entries));
        Assert.Equal(2 + 1, message.Backlog); // the two new writes, and the stray entry (its stream was never archived)
        Assert.All(shards.Where(s => s.Entries > 0), s => Assert.NotNull(s.CheckpointScore));
        Assert.Equal(shards.Min(s => s.CheckpointScore), message.CheckpointScore);
        Assert.Equal(1, message.Streams!.Single(s => s.Role == StreamRole.NotInLayout).Entries);
        Assert.True(message.LagMs > 0);

        // Unsharded entities look exactly as before: no shard or stream fields, in the object or in JSON.
        var user = status.Entities.Single(e => e.Entity == "user");
        Assert.Null(user.Shards);
        Assert.Null(user.Streams);
        var json = JsonSerializer.SerializeToElement(status, new JsonSerializerOptions(JsonSerializerDefaults.Web));
        var entities = json.GetProperty("entities").EnumerateArray().ToList();
        Assert.False(entities.Single(e => e.GetProperty("entity").GetString() == "user").TryGetProperty("streams", out _));
        Assert.Equal("NotInLayout", entities.Single(e => e.GetProperty("entity").GetString() == "message").GetProperty("streams")[5].GetProperty("role").GetString());

        // Reshard 4 → 2: the four old shards drain. Status counts what is left; a pass moves it.
        await ShardAsync(h, 2, draining: 4);
        var draining = (await Status(h)).Entities.Single(e => e.Entity == "message");
        Assert.Equal(new ShardStatus(2, 4, 14), draining.Shards);
        Assert.Equal(4, draining.Streams!.Count(s => s.Role == StreamRole.Draining && s.Shard?.EndsWith("of4", StringComparison.Ordinal) == true));
        await Task.Delay(1100); // the settle window: the two new writes become archivable, and so drainable
        await h.RunAsync("message");
        var drained = (await Status(h)).Entities.Single(e => e.Entity == "message");
        Assert.Equal(new ShardStatus(2, null, 0), drained.Shards);
        Assert.Equal(14, drained.Streams!.Where(s => s.Role == StreamRole.Current).Sum(s => s.Entries));
    }

    [Fact]
    public async Task Verify_FourShards_EveryStreamChecked_DueByTheCheckpointOfTheStreamHoldingTheEntry()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var (ids, now) = await ArchivedInFourShardsAsync(h);
        // Two archived records made wrong in the archive, in two different shards; one new write not archived yet.
        var (a, b) = TwoInDifferentShards(ids, 4);
        await h.ScalarAsync($"WITH u AS (UPDATE {{t}}.messages SET content = 'tampered' WHERE id = '{a}' RETURNING 1) SELECT count(*) FROM u");
        await h.ScalarAsync($"WITH d AS (DELETE FROM {{t}}.messages WHERE id = '{b}' RETURNING 1) SELECT count(*) FROM d");
        await h.WriteMessageAsync("m-new", now + 5_000);

        var full = (await Verify(h)).Entities.Single(e => e.Entity == "message");
        Assert.Equal(10, full.Counts[VerifyCategory.Equal]);
        Assert.Equal([a], full.Samples[VerifyCategory.ContentDiffers]);
        Assert.Equal([b], full.Samples[VerifyCategory.Gap]);
        Assert.Equal(["m-new"], full.Samples[VerifyCategory.Pending]);

        var incremental = await h.Services.GetRequiredService<IncrementalVerifyService>()
            .RunAsync(new IncrementalVerifyRequest("test", ["message"]), CancellationToken.None);
        var changes = incremental.Entities.Single();
        Assert.Equal(["0of4", "1of4", "2of4", "3of4"], changes.ShardChanges!.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(12, changes.ShardChanges.Values.Sum(s => s.Entries)); // every archived entry, in whichever shard it sits
        Assert.Equal(12, changes.Changes.Entries);
        Assert.True(changes.Changes.CaughtUp);
        Assert.Contains(a, changes.Samples[VerifyCategory.ContentDiffers]);
        Assert.Contains(b, changes.Samples[VerifyCategory.Gap]);
        var next = await h.Services.GetRequiredService<IncrementalVerifyService>()
            .RunAsync(new IncrementalVerifyRequest("test", ["message"]), CancellationToken.None);
        Assert.Equal(0, next.Entities.Single().Changes.Entries); // each shard resumes at its own point

        // Reshard 4 → 2 before any pass drains: the entries still sit in the old shards and are due by their checkpoints;
        // an edit now lands in a new shard no pass has archived: pending, whatever the old entry says.
        await ShardAsync(h, 2, draining: 4);
        var edited = ids.First(id => id != a && id != b);
        await h.WriteMessageAsync(edited, now - 30_000, content: "edited after the reshard");
        var draining = (await Verify(h)).Entities.Single(e => e.Entity == "message");
        Assert.Equal(9, draining.Counts[VerifyCategory.Equal]);
        Assert.Contains(edited, draining.Samples[VerifyCategory.Pending]);
        Assert.Equal([a], draining.Samples[VerifyCategory.ContentDiffers]);
        Assert.Equal([b], draining.Samples[VerifyCategory.Gap]);
    }

    [Fact]
    public async Task Restore_FourShards_WritesEachIdIntoItsShard_DryRunReadsTheShards()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await ShardAsync(h, 4);
        var now = await h.RedisNowMsAsync();
        var ids = Ids(12);
        foreach (var id in ids)
        {
            await h.WriteMessageAsync(id, now - 60_000, session: "s-1", user: "u-1");
        }

        await h.WriteAsync(EntityCatalog.Session, "s-1", now - 60_000, ("userId", "u-1"), ("createdAt", Ms(now - 60_000)));
        await h.RunAsync();
        var restore = h.Services.GetRequiredService<RestoreService>();
        Assert.Equal(0, (await restore.RestoreAsync(new RestoreRequest(SessionId: "s-1", DryRun: true), CancellationToken.None)).Written);

        // Redis loses the messages and their index entries (the layout survives).
        foreach (var id in ids)
        {
            await h.Redis.KeyDeleteAsync(h.Layout.RecordKey(EntityCatalog.Message, id));
        }

        foreach (var stream in await StreamsAsync(h))
        {
            await h.Redis.KeyDeleteAsync(h.Layout.ChangeIndexKey(stream));
        }

        Assert.Equal(12, (await restore.RestoreAsync(new RestoreRequest(SessionId: "s-1", DryRun: true), CancellationToken.None)).Written);
        var report = await restore.RestoreAsync(new RestoreRequest(SessionId: "s-1"), CancellationToken.None);

        Assert.Equal(12, report.Written);
        var layout = await ShardLayout.ReadAsync(h.Redis, h.Layout, CancellationToken.None);
        foreach (var id in ids)
        {
            Assert.Equal(now - 60_000, await h.Redis.SortedSetScoreAsync(h.Layout.ChangeIndexKey(layout.StreamOf(EntityCatalog.Message, id)), id));
            Assert.Null(await h.Redis.SortedSetScoreAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message), id));
        }

        Assert.Equal(0, (await restore.RestoreAsync(new RestoreRequest(SessionId: "s-1", DryRun: true), CancellationToken.None)).Written);
        Assert.True((await Verify(h)).Ok);

        // 4 → 2, not drained yet: the entries sit in the old shards, and a dry run still finds them there.
        await ShardAsync(h, 2, draining: 4);
        Assert.Equal(0, (await restore.RestoreAsync(new RestoreRequest(SessionId: "s-1", DryRun: true), CancellationToken.None)).Written);
    }

    [Fact]
    public async Task Backfill_FourShards_IndexesInTheIdsShard_OnlyWhatNoStreamHolds_RewindsThoseShardsCheckpoints()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await ShardAsync(h, 4);
        var now = await h.RedisNowMsAsync();
        foreach (var id in Ids(8))
        {
            await h.WriteMessageAsync(id, now - 60_000);
        }

        await h.RunAsync("message");
        var before = await CheckpointsAsync(h);
        Assert.Equal(4, before.Count(c => c.Key.StartsWith("message.", StringComparison.Ordinal) && c.Value is not null));

        // Hashes written around the writer, older than every checkpoint: eight without any index entry, one indexed in
        // the unsharded stream (an old writer), one in its shard of a layout being drained.
        var legacy = Enumerable.Range(0, 10).Select(i => $"legacy-{i}").ToList();
        foreach (var id in legacy)
        {
            await h.Redis.HashSetAsync(h.Layout.RecordKey(EntityCatalog.Message, id),
            [
                new("id", id), new("sessionId", "s-1"), new("userId", "u-1"), new("role", "user"), new("content", "old"),
                new("createdAt", Ms(now - 3_600_000)), new("updatedAt", Ms(now - 3_600_000)),
            ]);
        }

        await h.Redis.SortedSetAddAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message), legacy[8], now - 3_600_000);
        await ShardAsync(h, 4, draining: 8);
        await h.Redis.SortedSetAddAsync(h.Layout.ChangeIndexKey(Shard(ChangeShard.IndexOf(legacy[9], 8), 8, draining: true)), legacy[9], now - 3_600_000);

        var report = (await h.Services.GetRequiredService<BackfillService>()
            .RunAsync(new BackfillRequest(["message"]), null, CancellationToken.None)).Entities.Single();

        Assert.Equal(8, report.Indexed);
        Assert.Equal(10, report.AlreadyIndexed); // the 8 written through the writer, and the 2 indexed elsewhere
        Assert.Equal(now - 3_600_000 - 1, report.CheckpointRewoundTo);
        var layout = await ShardLayout.ReadAsync(h.Redis, h.Layout, CancellationToken.None);
        foreach (var id in legacy.Take(8))
        {
            Assert.Equal(now - 3_600_000, await h.Redis.SortedSetScoreAsync(h.Layout.ChangeIndexKey(layout.StreamOf(EntityCatalog.Message, id)), id));
        }

        Assert.Null(await h.Redis.SortedSetScoreAsync(h.Layout.ChangeIndexKey(layout.StreamOf(EntityCatalog.Message, legacy[8])), legacy[8]));
        var after = await CheckpointsAsync(h);
        var rewound = legacy.Take(8).Select(id => layout.StreamOf(EntityCatalog.Message, id).FeedName).ToHashSet();
        foreach (var (stream, score) in after.Where(c => c.Key.StartsWith("message.", StringComparison.Ordinal) && c.Key.EndsWith("of4", StringComparison.Ordinal)))
        {
            Assert.Equal(rewound.Contains(stream) ? now - 3_600_000 - 1 : before[stream], score);
        }

        await h.RunAsync("message");
        Assert.Equal(8 + 10, await h.CountAsync("messages"));
        Assert.True((await Verify(h)).Ok);
    }

    [Fact]
    public async Task ArchiveRecords_FourShards_FindsTheEntryInTheIdsShard_OrInTheStreamItStillSitsIn()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await ShardAsync(h, 4);
        var now = await h.RedisNowMsAsync();
        var ids = Ids(6);
        foreach (var id in ids)
        {
            await h.WriteMessageAsync(id, now);
        }

        // Bad records around the writer, each indexed in one stream: its shard, the unsharded stream, its old shard.
        foreach (var (id, stream, score) in new[]
        {
            ("bad-in-shard", Shard(ChangeShard.IndexOf("bad-in-shard", 4), 4), now - 1_000),
            ("bad-in-whole", EntityCatalog.Message, now - 2_000),
            ("bad-in-old", Shard(ChangeShard.IndexOf("bad-in-old", 8), 8, draining: true), now - 3_000),
        })
        {
            await h.Redis.HashSetAsync(h.Layout.RecordKey(EntityCatalog.Message, id),
                [new("id", id), new("sessionId", "s-1"), new("userId", "u-1"), new("role", "wizard"), new("createdAt", Ms(score)), new("updatedAt", Ms(score))]);
            await h.Redis.SortedSetAddAsync(h.Layout.ChangeIndexKey(stream), id, score);
        }

        await ShardAsync(h, 4, draining: 8);

        var report = await h.Services.GetRequiredService<ArchiveRecordsService>().ArchiveAsync(
            [.. ids.Select(id => new RecordRef("message", id)), new("message", "bad-in-shard"), new("message", "bad-in-whole"), new("message", "bad-in-old")],
            CancellationToken.None);

        Assert.All(report.Records.Take(6), r => Assert.Equal(RecordOutcome.Archived, r.Outcome));
        Assert.All(report.Records.Skip(6), r => Assert.Equal(RecordOutcome.DeadLettered, r.Outcome));
        var scores = (await h.QueryAsync("SELECT record_id, score::bigint AS score FROM {b}.dead_letters"))
            .ToDictionary(r => (string)r["record_id"]!, r => (long)r["score"]!);
        Assert.Equal(now - 1_000, scores["bad-in-shard"]);
        Assert.Equal(now - 2_000, scores["bad-in-whole"]);
        Assert.Equal(now - 3_000, scores["bad-in-old"]);
        Assert.Equal(6, await h.CountAsync("messages"));
    }

    [Fact]
    public async Task Erase_FourShardsDrainingToTwo_TakesEveryStreamsLease_RemovesTheUsersEntriesFromEveryStream()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await ShardAsync(h, 4);
        var now = await h.RedisNowMsAsync();
        foreach (var user in new[] { "u-1", "u-2" })
        {
            await h.WriteAsync(EntityCatalog.User, user, now - 60_000, ("email", $"{user}@example.com"), ("createdAt", Ms(now - 60_000)));
            await h.WriteAsync(EntityCatalog.Session, $"{user}-s0", now - 60_000, ("userId", user), ("createdAt", Ms(now - 60_000)));
            foreach (var m in Enumerable.Range(0, 8))
            {
                await h.WriteMessageAsync($"{user}-s0-m{m}", now - 60_000, session: $"{user}-s0", user: user);
            }
        }

        await h.RunAsync();
        await ShardAsync(h, 2, draining: 4);
        await h.WriteMessageAsync("u-1-s0-new", now, session: "u-1-s0", user: "u-1");   // not archived, in a new shard
        await h.WriteMessageAsync("u-1-s0-m3", now, content: "edited", session: "u-1-s0", user: "u-1"); // in old and new shard
        var streams = await StreamsAsync(h);
        Assert.Equal(1 + 2 + 4, streams.Count);

        var report = await h.Services.GetRequiredService<EraseService>().EraseAsync(new EraseRequest("u-1", DryRun: false, "test:erase"), CancellationToken.None);

        Assert.Equal(8, report.PostgresRows["message"]);
        Assert.Equal(0, await h.ScalarAsync("SELECT count(*) FROM {t}.messages WHERE user_id = 'u-1'"));
        foreach (var stream in streams)
        {
            var members = (await h.Redis.SortedSetRangeByRankAsync(h.Layout.ChangeIndexKey(stream)))
                .Concat(await h.Redis.SortedSetRangeByRankAsync(h.Layout.LateSetKey(stream))).Select(m => (string)m!).ToList();
            Assert.DoesNotContain(members, m => m.StartsWith("u-1", StringComparison.Ordinal));
        }

        Assert.False(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Message, "u-1-s0-new")));
        Assert.Equal(8, await h.ScalarAsync("SELECT count(*) FROM {t}.messages WHERE user_id = 'u-2'"));
        // Every stream's lease was taken (its row exists) and given back.
        var rows = await h.QueryAsync("SELECT entity, lease_owner FROM {b}.checkpoints WHERE entity LIKE 'message%'");
        Assert.Equal(streams.Select(s => s.FeedName).Order(StringComparer.Ordinal), rows.Select(r => (string)r["entity"]!).Order(StringComparer.Ordinal));
        Assert.All(rows, r => Assert.Null(r["lease_owner"]));

        await Task.Delay(1100);
        await h.RunAsync();
        Assert.Equal(0, await h.ScalarAsync("SELECT count(*) FROM {t}.messages WHERE user_id = 'u-1'"));
    }

    [Fact]
    public async Task Offload_FourShardsDrainingToTwo_RemovesTheSessionsEntriesFromEveryStream_PendingInAShardKeepsItsSession_AReshardInTheWindowRemovesNothing()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await ShardAsync(h, 4);
        var now = await h.RedisNowMsAsync();
        foreach (var session in new[] { "s-old", "s-busy", "s-race" })
        {
            await OffloadTests.SeedSessionAsync(h, session, "u-1", now - 40 * s_day, messages: 6, attachment: false);
        }

        await h.RunAsync();
        await ShardAsync(h, 2, draining: 4);
        await h.RunAsync("message"); // raises the new shards' late horizons and drains the old shards into them
        await h.WriteMessageAsync("s-busy-m9", now, session: "s-busy", user: "u-1"); // not archived yet, in a new shard
        var streams = await StreamsAsync(h);

        var offload = OffloadTests.Offload(h);
        var report = await offload.OffloadAsync(new OffloadRequest(Limit: 2), CancellationToken.None);

        Assert.Equal(OffloadStatus.Succeeded, report.Status);
        Assert.Equal("s-old", Assert.Single(report.Offloaded).SessionId);
        Assert.Equal(OffloadSkipReasons.PendingChange, Assert.Single(report.Skipped).Reason);
        foreach (var stream in streams)
        {
            var members = (await h.Redis.SortedSetRangeByRankAsync(h.Layout.ChangeIndexKey(stream))).Select(m => (string)m!).ToList();
            Assert.DoesNotContain(members, m => m.StartsWith("s-old", StringComparison.Ordinal));
            if (stream.Shard?.Count == 2)
            {
                Assert.Contains(members, m => m.StartsWith("s-race", StringComparison.Ordinal) || m.StartsWith("s-busy", StringComparison.Ordinal));
            }
        }

        Assert.False(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Message, "s-old-m0")));
        Assert.True(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Message, "s-busy-m0")));

        // A reshard between the check and the removal: writes may now go to streams the script was not given.
        offload.BeforeRemoveForTests = _ => ShardAsync(h, 8, draining: 2);
        var raced = await offload.OffloadAsync(new OffloadRequest(), CancellationToken.None);
        Assert.Equal(0, raced.SessionsOffloaded);
        Assert.Contains(raced.Skipped, s => s.SessionId == "s-race" && s.Reason == OffloadSkipReasons.ChangedDuringOffload && s.Detail == "resharded message");
        Assert.True(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Message, "s-race-m0")));
    }

    [Fact]
    public async Task Cost_FourShards_ChangeIndexEntriesSumEveryStream()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await h.WriteMessageAsync("m-before", await h.RedisNowMsAsync() - 60_000); // the unsharded stream
        await ShardAsync(h, 4);
        foreach (var id in Ids(12))
        {
            await h.WriteMessageAsync(id, await h.RedisNowMsAsync() - 60_000);
        }

        var cost = await h.Services.GetRequiredService<CostService>().GetAsync(null, CancellationToken.None);

        var message = cost.Entities.Single(e => e.Entity == "message");
        Assert.Equal(13, message.ChangeIndexEntries);
        Assert.True(message.ChangeIndexBytes > 0);
    }

    /// <summary>Sets the message entity's shard layout, as <c>nexus-archive reshard</c> would.</summary>
    private static async Task ShardAsync(ArchiveHarness h, int count, int? draining = null)
    {
        await h.Redis.HashSetAsync(h.Layout.ShardLayoutKey, "message", count);
        if (draining is { } d)
        {
            await h.Redis.HashSetAsync(h.Layout.ShardLayoutKey, "message:draining", d);
        }
        else
        {
            await h.Redis.HashDeleteAsync(h.Layout.ShardLayoutKey, "message:draining");
        }
    }

    private static EntityDescriptor Shard(int index, int count, bool draining = false) => EntityCatalog.Message.ForShard(index, count, draining);

    private static async Task<IReadOnlyList<EntityDescriptor>> StreamsAsync(ArchiveHarness h) =>
        (await ShardLayout.ReadAsync(h.Redis, h.Layout, CancellationToken.None)).StreamsOf(EntityCatalog.Message);

    /// <summary>Message ids that fall into every one of 4 shards (and of 2).</summary>
    /// <summary>Shards message 4 ways, writes <see cref="Ids"/>(12) a minute back and archives them; returns the ids and Redis-now.</summary>
    private static async Task<(List<string> Ids, long Now)> ArchivedInFourShardsAsync(ArchiveHarness h)
    {
        await ShardAsync(h, 4);
        var now = await h.RedisNowMsAsync();
        var ids = Ids(12);
        foreach (var id in ids)
        {
            await h.WriteMessageAsync(id, now - 60_000);
        }

        await h.RunAsync();
        return (ids, now);
    }

    private static List<string> Ids(int count)
    {
        var ids = Enumerable.Range(0, count).Select(i => $"m-{i:D3}").ToList();
        Assert.Equal(4, ids.Select(id => ChangeShard.IndexOf(id, 4)).Distinct().Count());
        return ids;
    }

    private static (string A, string B) TwoInDifferentShards(List<string> ids, int count)
    {
        var a = ids[0];
        return (a, ids.First(id => ChangeShard.IndexOf(id, count) != ChangeShard.IndexOf(a, count)));
    }

    private static async Task<Dictionary<string, double?>> CheckpointsAsync(ArchiveHarness h) =>
        (await h.QueryAsync("SELECT entity, score FROM {b}.checkpoints")).ToDictionary(r => (string)r["entity"]!, r => (double?)r["score"]);

    private static Task<ArchiveStatus> Status(ArchiveHarness h) => h.Services.GetRequiredService<StatusService>().GetAsync(CancellationToken.None);

    private static Task<VerifyReport> Verify(ArchiveHarness h) =>
        h.Services.GetRequiredService<VerifyService>().VerifyAsync(new VerifyRequest(), CancellationToken.None);

    private static string Ms(long ms) => ms.ToString(CultureInfo.InvariantCulture);
}
