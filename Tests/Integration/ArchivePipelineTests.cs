using System.Globalization;
using System.Text;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Source;
using NexusArchive.Tests.Infrastructure;
using StackExchange.Redis;

namespace NexusArchive.Tests.Integration;

/// <summary>The archive pipeline against real redis-server and PostgreSQL.</summary>
public sealed class ArchivePipelineTests
{
    [Fact]
    public async Task Run_TenThousandRecordsSharingOneScore_ArchivesEachExactlyOnceAcrossPages()
    {
        await using var h = await ArchiveHarness.CreateAsync(s => s["Archive:PageSize"] = "100");
        var score = await h.RedisNowMsAsync() - 60_000;
        await h.WriteMessagesAsync(10_000, i => $"m-{i:D5}", score);

        var run = await h.RunAsync("message");

        var stats = run.Entities.Single();
        Assert.Equal(RunStatus.Succeeded, run.Status);
        Assert.Equal(10_000, stats.Read);
        Assert.Equal(10_000, stats.Upserted);
        Assert.Equal(100, stats.Pages);
        Assert.Equal(10_000, await h.CountAsync("messages"));
        Assert.Equal(10_000, await h.ScalarAsync("SELECT count(DISTINCT id) FROM {t}.messages"));
    }

    [Fact]
    public async Task ReadPage_CursorMemberMovedWhileManyShareItsScore_ContinuesWithoutLossOrRepeat()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var source = (IChangeSource)h.Services.GetService(typeof(IChangeSource))!;
        var score = await h.RedisNowMsAsync() - 60_000;
        for (var i = 0; i < 250; i++)
        {
            await h.WriteMessageAsync($"m-{i:D3}", score);
        }

        var seen = new List<string>();
        var cursor = ChangeCursor.Start;
        var first = await source.ReadPageAsync(EntityCatalog.Message, cursor, double.MaxValue, 100, CancellationToken.None);
        seen.AddRange(first.Entries.Select(e => e.DisplayId));
        cursor = first.Entries[^1].After;

        // The cursor's record is edited (moves to a later score) and an earlier one is deleted from the index.
        await h.WriteMessageAsync("m-099", score + 5);
        await h.Redis.SortedSetRemoveAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message), "m-010");

        while (true)
        {
            var page = await source.ReadPageAsync(EntityCatalog.Message, cursor, double.MaxValue, 100, CancellationToken.None);
            seen.AddRange(page.Entries.Select(e => e.DisplayId));
            if (page.Entries.Count > 0)
            {
                cursor = page.Entries[^1].After;
            }

            if (page.ReachedEnd)
            {
                break;
            }
        }

        var expected = Enumerable.Range(0, 250).Select(i => $"m-{i:D3}").Append("m-099").ToList();
        Assert.Equal(expected, seen);
    }

    [Fact]
    public async Task Run_LateWriterBehindCheckpointInsideOverlap_IsArchived()
    {
        await using var h = await ArchiveHarness.CreateAsync(s => s["Archive:LookbackOverlap"] = "00:01:00");
        var now = await h.RedisNowMsAsync();
        await h.WriteMessageAsync("m-early", now - 20_000);
        await h.WriteMessageAsync("m-checkpoint", now - 10_000);
        await h.RunAsync("message");

        // A writer with a skewed clock stamps a record 15 s behind the committed checkpoint (inside the 60 s overlap).
        await h.WriteMessageAsync("m-late", now - 25_000);
        var run = await h.RunAsync("message");

        Assert.Equal(1, run.Entities.Single().Upserted);
        Assert.Equal(1, await h.ScalarAsync("SELECT count(*) FROM {t}.messages WHERE id = 'm-late'"));
    }

    [Fact]
    public async Task Run_QuietPasses_SkipTheOverlapUntilTheWriterCountsAWrite()
    {
        await using var h = await ArchiveHarness.CreateAsync(s =>
        {
            s["Archive:LookbackOverlap"] = "00:01:00";
            s["Archive:QuietPasses"] = "true";
        });
        var now = await h.RedisNowMsAsync();
        await h.WriteMessageAsync("m-early", now - 20_000);
        await h.WriteMessageAsync("m-checkpoint", now - 10_000);
        await h.RunAsync("message");
        var second = await h.RunAsync("message"); // nothing written since the first pass
        Assert.Equal((RunStatus.Succeeded, 0L), (second.Status, second.Entities.Single().Read));

        // A record that appears in the overlap without being counted changes the index size: the pass re-reads.
        await h.Redis.HashSetAsync(h.Layout.RecordKey(EntityCatalog.Message, "m-uncounted"),
            [new("id", "m-uncounted"), new("sessionId", "s-1"), new("userId", "u-1"), new("role", "user"), new("createdAt", now - 30_000), new("updatedAt", now - 30_000)]);
        await h.Redis.SortedSetAddAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message), "m-uncounted", now - 30_000);
        Assert.Equal(1, (await h.RunAsync("message")).Entities.Single().Upserted);

        // An edit that bypassed the writer's counter (not how NexusChat writes: the layout contract requires all three
        // keys) moved m-early within the overlap, still behind the checkpoint, so the index size did not change either:
        // a quiet pass does not re-read the overlap, and the edit stays unarchived for now...
        await h.Redis.HashSetAsync(h.Layout.RecordKey(EntityCatalog.Message, "m-early"), [new("content", "edited behind the counter's back"), new("updatedAt", now - 15_000)]);
        await h.Redis.SortedSetAddAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message), "m-early", now - 15_000);
        var quiet = await h.RunAsync("message");
        Assert.Equal(RunStatus.Succeeded, quiet.Status);
        Assert.Equal(0, quiet.Entities.Single().Read);

        // ...and the next write through the Lua writer — here a late one, 25 s behind the checkpoint — makes the next
        // pass re-read the whole overlap: both are archived.
        await h.WriteMessageAsync("m-late", now - 25_000);
        var run = await h.RunAsync("message");

        Assert.Equal(2, run.Entities.Single().Upserted);
        Assert.Equal(1, await h.ScalarAsync("SELECT count(*) FROM {t}.messages WHERE id = 'm-late'"));
        Assert.Equal(1, await h.ScalarAsync("SELECT count(*) FROM {t}.messages WHERE id = 'm-early' AND content = 'edited behind the counter''s back'"));
        // Read = the overlap's index entries + the late write drained from the late set (it was behind the checkpoint).
        Assert.Equal(1, run.Entities.Single().Late);
        Assert.Equal(run.Entities.Single().Read - 1, await h.Redis.SortedSetLengthAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message), now - 70_000, double.PositiveInfinity));
    }

    [Fact]
    public async Task Run_QuietMark_IsKeptWithTheCheckpoint_SoAFreshProcessSkipsTheOverlapToo()
    {
        await using var h = await ArchiveHarness.CreateAsync(s => s["Archive:LookbackOverlap"] = "00:01:00");
        var now = await h.RedisNowMsAsync();
        await h.WriteMessageAsync("m-1", now - 20_000);
        await h.WriteMessageAsync("m-2", now - 10_000);
        Assert.Equal(2, (await h.RunAsync("message")).Entities.Single().Upserted);

        // Another process (a cold Functions instance, the CLI): nothing written since, so it starts at the checkpoint.
        await using (var fresh = await h.SameArchiveAsync(h.Settings["ConnectionStrings:Postgres"]!))
        {
            var quiet = await fresh.RunAsync("message");
            Assert.Equal((RunStatus.Succeeded, 0L, 0L), (quiet.Status, quiet.Entities.Single().Read, quiet.Entities.Single().Late));
        }

        // A late write through the writer (behind the checkpoint) moves the counter: the next fresh process re-reads
        // the overlap and drains the late set.
        await h.WriteMessageAsync("m-late", now - 30_000);
        await using (var fresh = await h.SameArchiveAsync(h.Settings["ConnectionStrings:Postgres"]!))
        {
            var run = await fresh.RunAsync("message");
            Assert.Equal((1L, 1L), (run.Entities.Single().Upserted, run.Entities.Single().Late));
            Assert.True(run.Entities.Single().Read > 1, "the overlap was re-read");
        }

        // The mark lives in the checkpoint row, next to the checkpoint it belongs to.
        Assert.Equal(1L, await h.ScalarAsync("SELECT count(*) FROM {b}.checkpoints WHERE entity = 'message' AND quiet_writes IS NOT NULL AND (quiet_score, quiet_member) = (score, member)"));
    }

    [Fact]
    public async Task Run_StoppedBetweenPages_RollsBackThePageStagedAhead_AndTheNextPassFinishes()
    {
        // Archive:StageAhead (on by default) COPYs the next page on a second connection while a page commits. A pass
        // that stops between pages must give that transaction back: no connection left idle in a transaction.
        var application = "stage-ahead-" + Guid.NewGuid().ToString("N")[..8];
        await using var h = await ArchiveHarness.CreateAsync(s =>
        {
            s["ConnectionStrings:Postgres"] += $";Application Name={application}";
            s["Archive:PageSize"] = "50";
        });
        var now = await h.RedisNowMsAsync();
        await h.WriteMessagesAsync(8_000, i => $"m-{i:D4}", now - 100_000, stepMs: 1);

        // A budget that lets some pages commit, not 160 of them.
        var stopped = await h.Archive.RunAsync(new ArchiveRunRequest("test", ["message"], MaxDuration: TimeSpan.FromMilliseconds(300)), CancellationToken.None);

        Assert.Equal(RunStatus.Partial, stopped.Status);
        var archived = await h.CountAsync("messages");
        Assert.InRange(archived, 50, 7_950);
        Assert.Equal(0, archived % 50); // whole pages only
        Assert.Equal(0, await h.ScalarAsync("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state LIKE 'idle in transaction%'", application));
        var rest = await h.RunAsync("message");
        Assert.Equal(RunStatus.Succeeded, rest.Status);
        Assert.Equal(8_000, await h.CountAsync("messages"));
    }

    [Fact]
    public async Task Run_RecordsInsideSettleWindow_WaitForTheNextPass()
    {
        await using var h = await ArchiveHarness.CreateAsync(s => s["Archive:SettleWindow"] = "00:00:30");
        var now = await h.RedisNowMsAsync();
        await h.WriteMessageAsync("m-settled", now - 60_000);
        await h.WriteMessageAsync("m-fresh", now - 1_000);

        var run = await h.RunAsync("message");

        Assert.Equal(1, run.Entities.Single().Read);
        Assert.Equal(["m-settled"], (await h.QueryAsync("SELECT id FROM {t}.messages")).Select(r => (string)r["id"]!));
    }

    [Fact]
    public async Task Run_Twice_IsIdempotentAndWritesNothingTheSecondTime()
    {
        // Quiet passes off: the second pass re-reads the overlap, and the re-read must write nothing.
        await using var h = await ArchiveHarness.CreateAsync(s => s["Archive:QuietPasses"] = "false");
        var now = await h.RedisNowMsAsync();
        for (var i = 0; i < 30; i++)
        {
            await h.WriteMessageAsync($"m-{i}", now - 10_000 - i);
        }

        await h.RunAsync();
        var before = await h.QueryAsync("SELECT id, archived_at, updated_at FROM {t}.messages ORDER BY id");

        var second = await h.RunAsync();
        var after = await h.QueryAsync("SELECT id, archived_at, updated_at FROM {t}.messages ORDER BY id");

        var stats = second.Entities.Single(e => e.Entity == "message");
        Assert.Equal(0, stats.Upserted);
        Assert.Equal(30, stats.Unchanged); // re-read in the look-back overlap, written nowhere
        Assert.Equal(before.Count, after.Count);
        Assert.Equal(before.Select(r => (r["id"], r["archived_at"])), after.Select(r => (r["id"], r["archived_at"])));

    }

    [Fact]
    public async Task Run_NewerVersion_ReplacesRowAndOlderReplayNeverRegresses()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        await h.WriteMessageAsync("m-1", now - 30_000, content: "first");
        await h.RunAsync("message");
        await h.WriteMessageAsync("m-1", now - 20_000, content: "second");
        await h.RunAsync("message");

        Assert.Equal("second", (await h.QueryAsync("SELECT content FROM {t}.messages WHERE id = 'm-1'"))[0]["content"]);

        // An old version written back (e.g. a replayed client queue) reaches the archive again but loses to the newer row.
        await h.Writer.WriteAsync(h.Redis, EntityCatalog.Message, "m-1",
            [new("sessionId", "s-1"), new("userId", "u-1"), new("role", "user"), new("content", "stale"), new("createdAt", (now - 30_000).ToString(CultureInfo.InvariantCulture))],
            now - 25_000);
        var replay = await h.RunAsync("message");
        Assert.Equal(0, replay.Entities.Single().Upserted);
        Assert.Equal("second", (await h.QueryAsync("SELECT content FROM {t}.messages WHERE id = 'm-1'"))[0]["content"]);
    }

    [Fact]
    public async Task Run_SoftDeleteAndUnmappedFields_AreArchivedNotDropped()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        await h.WriteMessageAsync("m-1", now - 30_000, extra: [("deletedAt", (now - 30_000).ToString(CultureInfo.InvariantCulture)), ("reactions", "👍 3"), ("clientVersion", "5.2.1")]);
        await h.WriteAsync(EntityCatalog.User, "u-1", now - 30_000, ("email", "a@example.com"), ("createdAt", "2026-01-02T03:04:05.678Z"), ("plan", "pro"));

        await h.RunAsync();

        var message = (await h.QueryAsync("SELECT deleted_at, extra->>'reactions' AS reactions, extra->>'clientVersion' AS client FROM {t}.messages WHERE id = 'm-1'"))[0];
        Assert.NotNull(message["deleted_at"]);
        Assert.Equal("👍 3", message["reactions"]);
        Assert.Equal("5.2.1", message["client"]);
        var user = (await h.QueryAsync("SELECT created_at, extra->>'plan' AS plan FROM {t}.users WHERE id = 'u-1'"))[0];
        Assert.Equal(new DateTime(2026, 1, 2, 3, 4, 5, 678, DateTimeKind.Utc), ((DateTime)user["created_at"]!).ToUniversalTime());
        Assert.Equal("pro", user["plan"]);
    }

    [Fact]
    public async Task Run_IndexMemberWithoutHash_IsCountedVanishedNotArchivedNotDeleted()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        await h.WriteMessageAsync("m-kept", now - 20_000);
        await h.WriteMessageAsync("m-expired", now - 20_000);
        await h.RunAsync("message");
        await h.WriteMessageAsync("m-expired", now - 10_000, content: "edited then evicted");
        await h.Redis.KeyDeleteAsync(h.Layout.RecordKey(EntityCatalog.Message, "m-expired"));

        var run = await h.RunAsync("message");

        Assert.Equal(1, run.Entities.Single().Vanished);
        Assert.Equal(2, await h.CountAsync("messages")); // the archived copy stays: vanishing is not a delete
    }

    [Fact]
    public async Task Run_BadRecords_GoToDeadLettersWithRawBytesAndTheRestLands()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        var ts = (now - 20_000).ToString(CultureInfo.InvariantCulture);
        await h.WriteMessageAsync("m-good-1", now - 20_000);
        await h.WriteMessageUncheckedAsync("m-bad-time", now - 20_000, ("createdAt", "yesterday")); // the bad ones around the Lua writer, which refuses them
        await h.WriteMessageUncheckedAsync("m-bad-json", now - 20_000, ("metadata", "{not json"));
        await h.WriteMessageUncheckedAsync("m-bad-role", now - 20_000, ("role", "wizard"));
        await h.WriteMessageUncheckedAsync("m-nul", now - 20_000, ("content", "a\0b"));
        await h.WriteUncheckedAsync(EntityCatalog.Message, "m-no-session", now - 20_000, ("userId", "u-1"), ("role", "user"), ("createdAt", ts));
        byte[] invalidUtf8 = [0x68, 0xC3, 0x28, 0xFF];
        await h.Writer.WriteAsync(h.Redis, EntityCatalog.Message, "m-bytes",
            [new("sessionId", "s-1"), new("userId", "u-1"), new("role", "user"), new("createdAt", ts), new("content", invalidUtf8)], now - 20_000);
        await h.WriteMessageAsync("m-good-2", now - 20_000);

        var run = await h.RunAsync("message");

        var stats = run.Entities.Single();
        Assert.Equal(RunStatus.Succeeded, run.Status);
        Assert.Equal(2, stats.Upserted);
        Assert.Equal(6, stats.DeadLettered);
        Assert.Equal(["m-good-1", "m-good-2"], (await h.QueryAsync("SELECT id FROM {t}.messages ORDER BY id")).Select(r => (string)r["id"]!));
        var letters = (await h.QueryAsync("SELECT record_id, reason_category, reason, raw_fields::text AS raw FROM {b}.dead_letters ORDER BY record_id"))
            .ToDictionary(r => (string)r["record_id"]!);
        Assert.Equal("invalid_timestamp", letters["m-bad-time"]["reason_category"]);
        Assert.Equal("invalid_json", letters["m-bad-json"]["reason_category"]);
        Assert.Equal("invalid_value", letters["m-bad-role"]["reason_category"]);
        Assert.Equal("invalid_text", letters["m-nul"]["reason_category"]);
        Assert.Equal("missing_field", letters["m-no-session"]["reason_category"]);
        Assert.Contains("sessionId", (string)letters["m-no-session"]["reason"]!);
        Assert.Equal("invalid_text", letters["m-bytes"]["reason_category"]);

        var raw = NexusArchive.Core.Mapping.RawPayload.Decode((string)letters["m-bytes"]["raw"]!);
        Assert.Equal(invalidUtf8, raw.Single(p => Encoding.UTF8.GetString(p.Key) == "content").Value);
        var nul = NexusArchive.Core.Mapping.RawPayload.Decode((string)letters["m-nul"]["raw"]!);
        Assert.Equal("a\0b"u8.ToArray(), nul.Single(p => Encoding.UTF8.GetString(p.Key) == "content").Value);
    }

    [Fact]
    public async Task Run_FixedDeadLetteredRecord_ArchivesAndClosesItsDeadLetter()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        await h.WriteMessageUncheckedAsync("m-1", now - 30_000, ("metadata", "[1,2]")); // around the Lua writer, which refuses it
        await h.RunAsync("message");
        Assert.Equal(1, await h.ScalarAsync("SELECT count(*) FROM {b}.dead_letters WHERE status = 'open'"));

        await h.WriteMessageAsync("m-1", now - 20_000, extra: [("metadata", "{\"ok\":true}")]);
        await h.RunAsync("message");

        Assert.Equal(1, await h.CountAsync("messages"));
        Assert.Equal(0, await h.ScalarAsync("SELECT count(*) FROM {b}.dead_letters WHERE status = 'open'"));
        Assert.Equal(1, await h.ScalarAsync("SELECT count(*) FROM {b}.dead_letters WHERE status = 'resolved'"));
    }

    [Fact]
    public async Task Run_FarFutureRecord_IsDeadLetteredInsteadOfWaitingForever()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        await h.WriteMessageAsync("m-now", now - 20_000);
        await h.WriteMessageUncheckedAsync("m-future", now + (long)TimeSpan.FromDays(400).TotalMilliseconds); // around the Lua writer, which refuses it

        var run = await h.RunAsync("message");

        Assert.Equal(1, run.Entities.Single().Upserted);
        Assert.Equal(1, run.Entities.Single().DeadLettered);
        Assert.Equal("future_timestamp", (await h.QueryAsync("SELECT reason_category FROM {b}.dead_letters WHERE record_id = 'm-future'"))[0]["reason_category"]);
    }

    [Fact]
    public async Task Run_InfiniteScoreWrittenByAnotherClient_IsDeadLetteredAndNeverBlocksPaging()
    {
        await using var h = await ArchiveHarness.CreateAsync(s => s["Archive:PageSize"] = "2");
        var now = await h.RedisNowMsAsync();
        await h.WriteMessageAsync("m-1", now - 20_000);
        await h.WriteMessageAsync("m-2", now - 20_000);
        await h.WriteMessageAsync("m-inf", now - 20_000);
        await h.Redis.SortedSetAddAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message), "m-inf", double.PositiveInfinity);

        var run = await h.RunAsync("message");

        Assert.Equal(RunStatus.Succeeded, run.Status);
        Assert.Equal(2, run.Entities.Single().Upserted);
        Assert.Equal("future_timestamp", (await h.QueryAsync("SELECT reason_category FROM {b}.dead_letters WHERE record_id = 'm-inf'"))[0]["reason_category"]);
    }

    [Fact]
    public async Task Run_EntityWithOnlyFutureRecords_KeepsNoCheckpointAndReportsUnknownLag()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await h.WriteMessageUncheckedAsync("m-future", await h.RedisNowMsAsync() + (long)TimeSpan.FromDays(30).TotalMilliseconds); // around the Lua writer, which refuses it

        var first = await h.RunAsync("message");
        var second = await h.RunAsync("message");

        Assert.Equal(RunStatus.Succeeded, second.Status);
        Assert.Equal(1, first.Entities.Single().DeadLettered);
        Assert.Null(second.Entities.Single().CheckpointScore); // never a -Infinity checkpoint
        Assert.Equal(1, await h.ScalarAsync("SELECT count(*) FROM {b}.checkpoints WHERE entity = 'message' AND score IS NULL"));
        Assert.Equal("Succeeded", (await h.QueryAsync("SELECT status FROM {b}.runs WHERE run_id = $1", second.RunId))[0]["status"]);
    }

    [Fact]
    public async Task Writer_NonIntegerScore_IsRejected()
    {
        await using var h = await ArchiveHarness.CreateAsync(migrate: false);

        var ex = await Assert.ThrowsAsync<RedisServerException>(() =>
            h.Writer.WriteAsync(h.Redis, EntityCatalog.Message, "m-1", [new("role", "user")], updatedAtMs: long.MaxValue)); // 19 digits: beyond any plausible epoch ms

        Assert.Contains("epoch milliseconds", ex.Message);
    }

    [Fact]
    public async Task Run_OrphanMessageWithoutSession_IsArchivedAndNeverBlocks()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        await h.WriteMessageAsync("m-orphan", now - 20_000, session: "s-not-yet-written");

        var run = await h.RunAsync();

        Assert.Equal(RunStatus.Succeeded, run.Status);
        Assert.Equal(1, await h.CountAsync("messages"));
        Assert.Equal(0, await h.CountAsync("chat_sessions"));
    }

    [Fact]
    public async Task Run_CommittedPage_MirrorsCheckpointToRedis()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        await h.WriteMessageAsync("m-1", now - 20_000);

        await h.RunAsync("message");

        // The mirror trails the checkpoint by 1 ms: records sharing the checkpoint's score may still be pending.
        var mirrored = await h.Redis.StringGetAsync(h.Layout.CheckpointKey(EntityCatalog.Message));
        Assert.Equal(now - 20_000 - 1, (long)double.Parse((string)mirrored!, CultureInfo.InvariantCulture));
        Assert.Equal(now - 20_000, await h.ScalarAsync("SELECT score::bigint FROM {b}.checkpoints WHERE entity = 'message'"));
    }

    [Fact]
    public async Task Run_AllEntities_ArchivesInDependencyOrderWithRunHistory()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        var ts = (now - 20_000).ToString(CultureInfo.InvariantCulture);
        await h.WriteAsync(EntityCatalog.User, "u-1", now - 20_000, ("email", "a@example.com"), ("createdAt", ts));
        await h.WriteAsync(EntityCatalog.Session, "s-1", now - 20_000, ("userId", "u-1"), ("title", "t"), ("createdAt", ts));
        await h.WriteMessageAsync("m-1", now - 20_000);
        await h.WriteAsync(EntityCatalog.Attachment, "a-1", now - 20_000, ("messageId", "m-1"), ("userId", "u-1"), ("sizeBytes", "1234"), ("createdAt", ts));

        var run = await h.RunAsync();

        Assert.Equal(["user", "session", "message", "attachment"], run.Entities.Select(e => e.Entity));
        Assert.All(run.Entities, e => Assert.Equal(1, e.Upserted));
        Assert.Equal(1234L, (await h.QueryAsync("SELECT size_bytes FROM {t}.attachment_refs"))[0]["size_bytes"]);
        var history = (await h.QueryAsync(
            "SELECT status, trigger, entities->2->>'entity' AS entity, (entities->2->>'upserted')::int AS upserted FROM {b}.runs WHERE run_id = $1", run.RunId))[0];
        Assert.Equal("Succeeded", history["status"]);
        Assert.Equal("message", history["entity"]);
        Assert.Equal(1, history["upserted"]);
    }
}
