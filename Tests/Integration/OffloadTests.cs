using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Offload;
using NexusArchive.Core.Restore;
using NexusArchive.Core.Verification;
using NexusArchive.Tests.Infrastructure;
using StackExchange.Redis;

namespace NexusArchive.Tests.Integration;

/// <summary>Cold storage (offload) against real redis-server and PostgreSQL.</summary>
public sealed class OffloadTests
{
    private static readonly long s_day = (long)TimeSpan.FromDays(1).TotalMilliseconds;

    [Fact]
    public async Task Offload_OldSessionLeavesRedisWhole_NewOneStays_MarkerSaysWhere_RestoreRoundTrips()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        await h.WriteAsync(EntityCatalog.User, "u-1", now - 90 * s_day, ("email", "a@example.com"), ("createdAt", Ms(now - 90 * s_day)));
        await SeedSessionAsync(h, "s-old", "u-1", now - 40 * s_day, messages: 3, attachment: true);
        await SeedSessionAsync(h, "s-new", "u-1", now - 60_000, messages: 2, attachment: false);
        await h.RunAsync();
        var before = await SnapshotAsync(h, "s-old");

        var report = await Offload(h).OffloadAsync(new OffloadRequest(), CancellationToken.None);

        Assert.Equal(OffloadStatus.Succeeded, report.Status);
        Assert.Equal(1, report.Candidates);
        Assert.Equal(1, report.SessionsOffloaded);
        Assert.Equal(5, report.RecordsRemoved); // session + 3 messages + 1 attachment
        Assert.True(report.BytesFreed > 0);
        Assert.Equal("memory-usage", report.BytesMethod);
        foreach (var (entity, id) in SessionKeys("s-old", 3, attachment: true))
        {
            Assert.False(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(entity, id)), $"{entity.Name} {id} is still in Redis");
            Assert.Null(await h.Redis.SortedSetScoreAsync(h.Layout.ChangeIndexKey(entity), id));
        }

        Assert.True(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Session, "s-new")));
        Assert.True(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.User, "u-1"))); // users never leave by age
        Assert.True((await h.Redis.HashGetAsync(h.Layout.OffloadMarkerKey("u-1"), "s-old")).HasValue);
        Assert.False((await h.Redis.HashGetAsync(h.Layout.OffloadMarkerKey("u-1"), "s-new")).HasValue);
        Assert.Equal("offloaded", (string)(await h.QueryAsync("SELECT state FROM {b}.offloaded_sessions WHERE session_id = 's-old'"))[0]["state"]!);
        Assert.Equal(5, await h.ScalarAsync("SELECT records_removed FROM {b}.offload_runs WHERE NOT dry_run"));

        // verify: offloaded rows are their own, expected category.
        var verify = await h.Services.GetRequiredService<VerifyService>().VerifyAsync(new VerifyRequest(), CancellationToken.None);
        Assert.True(verify.Ok);
        Assert.Equal(3, verify.Entities.Single(e => e.Entity == "message").Counts[VerifyCategory.Offloaded]);
        Assert.Equal(1, verify.Entities.Single(e => e.Entity == "session").Counts[VerifyCategory.Offloaded]);
        Assert.Equal(0, verify.Entities.Sum(e => e.Counts[VerifyCategory.OnlyInPostgres]));

        // A second run finds nothing new to do.
        var again = await Offload(h).OffloadAsync(new OffloadRequest(), CancellationToken.None);
        Assert.Equal(0, again.Candidates);

        // Bring it back: byte-exact, marker and ledger cleared, verify equal, the next pass upserts nothing.
        var restore = await h.Services.GetRequiredService<RestoreService>().RestoreAsync(new RestoreRequest(SessionId: "s-old"), CancellationToken.None);
        Assert.Equal(5, restore.Written);
        Assert.Equal(1, restore.OffloadedRestored);
        Assert.Equal(before, await SnapshotAsync(h, "s-old"));
        Assert.False((await h.Redis.HashGetAsync(h.Layout.OffloadMarkerKey("u-1"), "s-old")).HasValue);
        Assert.Equal(0, await h.ScalarAsync("SELECT count(*) FROM {b}.offloaded_sessions"));
        var after = await h.Services.GetRequiredService<VerifyService>().VerifyAsync(new VerifyRequest(SessionId: "s-old"), CancellationToken.None);
        Assert.True(after.Ok);
        Assert.Equal(5, after.Entities.Sum(e => e.Counts[VerifyCategory.Equal]));
        Assert.Equal(0, (await h.RunAsync()).TotalUpserted);

        // An edit of the restored session is archived as usual.
        await h.WriteMessageAsync("s-old-m0", now + 1, content: "edited after restore", session: "s-old", user: "u-1");
        await Task.Delay(1100); // the settle window
        await h.RunAsync();
        Assert.Equal("edited after restore", (string)(await h.QueryAsync("SELECT content FROM {t}.messages WHERE id = 's-old-m0'"))[0]["content"]!);
    }

    [Fact]
    public async Task Offload_SessionsNotExactlyArchived_StayInRedisWithTheirReason()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        var old = now - 40 * s_day;
        foreach (var id in new[] { "s-ok", "s-edited", "s-dead", "s-differs" })
        {
            await SeedSessionAsync(h, id, "u-1", old, messages: 2, attachment: false);
        }

        await h.RunAsync();
        // A record of the session that cannot be archived: dead-lettered with its raw fields (sessionId among them).
        await h.WriteMessageUncheckedAsync("s-dead-bad", now - 3_000, ("sessionId", "s-dead"), ("role", "wizard"));
        await h.RunAsync();
        // Content changed around the writer, same updatedAt: the archived copy is not what Redis holds.
        await h.Redis.HashSetAsync(h.Layout.RecordKey(EntityCatalog.Message, "s-differs-m0"), "content", "changed around the writer");
        // The edit is archived by now; make another one that is not.
        await EditAsync(h, "s-edited-m1", "newest, not archived");

        var dryRun = await Offload(h).OffloadAsync(new OffloadRequest(DryRun: true), CancellationToken.None);
        var report = await Offload(h).OffloadAsync(new OffloadRequest(), CancellationToken.None);

        foreach (var run in new[] { dryRun, report })
        {
            Assert.Equal(1, run.SessionsOffloaded);
            Assert.Equal("s-ok", Assert.Single(run.Offloaded).SessionId);
            var reasons = run.Skipped.ToDictionary(s => s.SessionId, s => s.Reason);
            Assert.Equal(OffloadSkipReasons.PendingChange, reasons["s-edited"]);
            Assert.Equal(OffloadSkipReasons.DeadLetter, reasons["s-dead"]);
            Assert.Equal(OffloadSkipReasons.Differs, reasons["s-differs"]);
        }

        Assert.True(dryRun.BytesFreed > 0);
        Assert.Equal(1, await h.ScalarAsync("SELECT count(*) FROM {b}.offloaded_sessions WHERE state = 'offloaded'"));
        foreach (var id in new[] { "s-edited", "s-dead", "s-differs" })
        {
            Assert.True(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Session, id)));
            Assert.True(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Message, id + "-m0")));
        }
    }

    [Fact]
    public async Task Offload_AWriteInTheRaceWindow_KeepsTheSessionWholeWithTheWrite()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        await SeedSessionAsync(h, "s-edit", "u-1", now - 40 * s_day, messages: 3, attachment: true);
        await SeedSessionAsync(h, "s-new-message", "u-1", now - 40 * s_day, messages: 2, attachment: false);
        await SeedSessionAsync(h, "s-around", "u-1", now - 40 * s_day, messages: 2, attachment: false);
        await h.RunAsync();
        var offload = Offload(h);
        offload.BeforeRemoveForTests = async sessions =>
        {
            Assert.Equal(["s-around", "s-edit", "s-new-message"], sessions);
            // Between the check and the removal: an edit of a checked record, a new message in another session (both
            // through the writer, so not archived yet), and an edit around the writer that moves updatedAt.
            await EditAsync(h, "s-edit-m1", "won the race");
            await h.WriteMessageAsync("s-new-message-m9", await h.RedisNowMsAsync(), "new in the window", "s-new-message", "u-1");
            await h.Redis.HashSetAsync(h.Layout.RecordKey(EntityCatalog.Message, "s-around-m1"), [new("content", "around"), new("updatedAt", now.ToString(CultureInfo.InvariantCulture))]);
        };

        var report = await offload.OffloadAsync(new OffloadRequest(), CancellationToken.None);

        Assert.Equal(0, report.SessionsOffloaded);
        Assert.Equal(3, report.SkippedByReason[OffloadSkipReasons.ChangedDuringOffload]);
        Assert.Contains(report.Skipped, s => s.SessionId == "s-edit" && s.Detail == "busy message s-edit-m1");
        Assert.Contains(report.Skipped, s => s.SessionId == "s-new-message" && s.Detail == "busy message s-new-message-m9");
        Assert.Contains(report.Skipped, s => s.SessionId == "s-around" && s.Detail == "changed s-around-m1");
        Assert.Equal("won the race", (string?)await h.Redis.HashGetAsync(h.Layout.RecordKey(EntityCatalog.Message, "s-edit-m1"), "content"));
        foreach (var (entity, id) in SessionKeys("s-edit", 3, attachment: true).Concat(SessionKeys("s-new-message", 2, attachment: false)).Concat(SessionKeys("s-around", 2, attachment: false)))
        {
            Assert.True(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(entity, id)), $"{entity.Name} {id} left Redis");
        }

        Assert.Equal(0, await h.Redis.HashLengthAsync(h.Layout.OffloadMarkerKey("u-1")));
        Assert.Equal(0, await h.ScalarAsync("SELECT count(*) FROM {b}.offloaded_sessions"));
    }

    [Fact]
    public async Task Offload_HammeredByAWriterManyTimes_NeverLosesAnAcknowledgedWrite()
    {
        await using var h = await ArchiveHarness.CreateAsync(s => s["Archive:SettleWindow"] = "00:00:00");
        var now = await h.RedisNowMsAsync();
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        const int Rounds = 40;
        for (var round = 0; round < Rounds; round++)
        {
            var session = $"s-{round}";
            await SeedSessionAsync(h, session, "u-1", now - 40 * s_day, messages: 2, attachment: false);
            await h.RunAsync();
            using var stop = new CancellationTokenSource();
            var lastAcknowledged = 0;
            var writer = Task.Run(async () =>
            {
                await Task.Delay(Random.Shared.Next(0, 40));
                for (var k = 1; !stop.IsCancellationRequested; k++)
                {
                    try
                    {
                        await EditAsync(h, $"{session}-m0", $"v{k}");
                        lastAcknowledged = k;
                    }
                    catch (RedisServerException ex) when (ex.Message.StartsWith("ERR nexus:", StringComparison.Ordinal))
                    {
                        return; // refused, the caller sees it: the record left Redis before this write (the app must restore first)
                    }
                }
            });

            var report = await Offload(h).OffloadAsync(new OffloadRequest(), CancellationToken.None);
            await stop.CancelAsync();
            await writer;
            var outcome = report.SessionsOffloaded == 1 ? "offloaded" : report.Skipped.Single(s => s.SessionId == session).Reason;
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;

            await h.RunAsync();
            var archived = (string)(await h.QueryAsync("SELECT content FROM {t}.messages WHERE id = $1", $"{session}-m0"))[0]["content"]!;
            if (report.SessionsOffloaded == 1)
            {
                // Removed: no write was acknowledged before the removal (the script would have refused to remove), so
                // the archive holds the original, and nothing of the session is left in Redis.
                Assert.Equal(0, lastAcknowledged);
                Assert.Equal("hello", archived);
                Assert.False(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Message, $"{session}-m0")));
            }
            else
            {
                // Kept: the last acknowledged write is in Redis and, after the next pass, in the archive.
                var expected = lastAcknowledged == 0 ? "hello" : $"v{lastAcknowledged}";
                Assert.Equal(expected, (string?)await h.Redis.HashGetAsync(h.Layout.RecordKey(EntityCatalog.Message, $"{session}-m0"), "content"));
                Assert.Equal(expected, archived);
                Assert.True(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Session, session)));
            }
        }

        Assert.Equal(Rounds, outcomes.Values.Sum());
        Console.WriteLine("offload race outcomes over " + Rounds + " rounds: " + string.Join(", ", outcomes.Select(o => $"{o.Key} {o.Value}")));
    }

    [Fact]
    public async Task Verify_AnOffloadedSessionMissingFromTheArchive_IsAGap()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        await SeedSessionAsync(h, "s-old", "u-1", now - 40 * s_day, messages: 3, attachment: false);
        await h.RunAsync();
        await Offload(h).OffloadAsync(new OffloadRequest(), CancellationToken.None);
        await h.ScalarAsync("WITH d AS (DELETE FROM {t}.messages WHERE id = 's-old-m1' RETURNING 1) SELECT count(*) FROM d");

        var verify = await h.Services.GetRequiredService<VerifyService>().VerifyAsync(new VerifyRequest(), CancellationToken.None);

        Assert.False(verify.Ok);
        var messages = verify.Entities.Single(e => e.Entity == "message");
        Assert.Equal(1, messages.Counts[VerifyCategory.OffloadedMissing]);
        Assert.Equal(1, messages.Gaps);
        Assert.Contains("session s-old (2 of 3 archived)", messages.Samples[VerifyCategory.OffloadedMissing]);

        // Everything of it gone from the archive: a restore brings nothing back and must not erase the evidence.
        await h.ScalarAsync("WITH d AS (DELETE FROM {t}.chat_sessions WHERE id = 's-old' RETURNING 1) SELECT count(*) FROM d");
        var restore = await h.Services.GetRequiredService<RestoreService>().RestoreAsync(new RestoreRequest(SessionId: "s-old"), CancellationToken.None);
        Assert.Equal(0, restore.OffloadedRestored);
        Assert.True((await h.Redis.HashGetAsync(h.Layout.OffloadMarkerKey("u-1"), "s-old")).HasValue);
        Assert.Equal(1, await h.ScalarAsync("SELECT count(*) FROM {b}.offloaded_sessions WHERE session_id = 's-old'"));
    }

    [Fact]
    public async Task Offload_BeforeAnyArchivePass_IsRefusedNamingTheKey()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        await SeedSessionAsync(h, "s-old", "u-1", now - 40 * s_day, messages: 1, attachment: false);

        var report = await Offload(h).OffloadAsync(new OffloadRequest(), CancellationToken.None);

        Assert.Equal(OffloadStatus.Refused, report.Status);
        Assert.Contains("archive:horizon:session", report.RefusedBecause, StringComparison.Ordinal);
        Assert.True(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Session, "s-old")));
    }

    [Fact]
    public async Task RestoreAll_KeepsOffloadedSessionsOffloaded_AndWritesTheirMarkersAgain()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        await SeedSessionAsync(h, "s-old", "u-1", now - 40 * s_day, messages: 2, attachment: true);
        await SeedSessionAsync(h, "s-new", "u-1", now - 60_000, messages: 2, attachment: false);
        await h.RunAsync();
        await Offload(h).OffloadAsync(new OffloadRequest(), CancellationToken.None);
        await RedisKeys.DeletePrefixAsync(h.Redis, h.Prefix); // Redis lost everything, the markers too

        var restore = await h.Services.GetRequiredService<RestoreService>().RestoreAsync(new RestoreRequest(All: true), CancellationToken.None);

        Assert.Equal(3, restore.Written); // s-new and its 2 messages
        Assert.Equal(1, restore.OffloadedKept);
        Assert.False(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Session, "s-old")));
        Assert.True((await h.Redis.HashGetAsync(h.Layout.OffloadMarkerKey("u-1"), "s-old")).HasValue);

        var all = await h.Services.GetRequiredService<RestoreService>().RestoreAsync(new RestoreRequest(All: true, IncludeOffloaded: true), CancellationToken.None);
        Assert.Equal(4, all.Written); // s-old, its 2 messages and the attachment
        Assert.False((await h.Redis.HashGetAsync(h.Layout.OffloadMarkerKey("u-1"), "s-old")).HasValue);
    }

    /// <summary>An app's edit: merge one field, updatedAt stamped by the Redis clock.</summary>
    private static Task<Core.Source.WriteResult> EditAsync(ArchiveHarness h, string messageId, string content) =>
        h.Writer.WriteAsync(h.Redis, EntityCatalog.Message, messageId, [new("content", content)]);

    internal static OffloadService Offload(ArchiveHarness h) => h.Services.GetRequiredService<OffloadService>();

    /// <summary>A session with <paramref name="messages"/> messages (ids <c>{session}-m{i}</c>) and optionally one attachment, all at <paramref name="atMs"/>.</summary>
    internal static async Task SeedSessionAsync(ArchiveHarness h, string session, string user, long atMs, int messages, bool attachment)
    {
        await h.WriteAsync(EntityCatalog.Session, session, atMs, ("userId", user), ("title", "chat " + session), ("createdAt", Ms(atMs)));
        for (var i = 0; i < messages; i++)
        {
            await h.WriteMessageAsync($"{session}-m{i}", atMs, session: session, user: user);
        }

        if (attachment)
        {
            await h.WriteAsync(EntityCatalog.Attachment, $"{session}-a0", atMs,
                ("messageId", $"{session}-m0"), ("userId", user), ("fileName", "cat.png"), ("sizeBytes", "1234"), ("createdAt", Ms(atMs)));
        }
    }

    private static IEnumerable<(EntityDescriptor Entity, string Id)> SessionKeys(string session, int messages, bool attachment)
    {
        yield return (EntityCatalog.Session, session);
        for (var i = 0; i < messages; i++)
        {
            yield return (EntityCatalog.Message, $"{session}-m{i}");
        }

        if (attachment)
        {
            yield return (EntityCatalog.Attachment, $"{session}-a0");
        }
    }

    /// <summary>Every field of every key of the session, sorted, with its index score: byte-exact comparison material.</summary>
    private static async Task<string> SnapshotAsync(ArchiveHarness h, string session)
    {
        var lines = new List<string>();
        foreach (var (entity, id) in SessionKeys(session, 3, attachment: true))
        {
            var fields = await h.Redis.HashGetAllAsync(h.Layout.RecordKey(entity, id));
            var score = await h.Redis.SortedSetScoreAsync(h.Layout.ChangeIndexKey(entity), id);
            lines.Add($"{entity.Name} {id} @{score}: " + string.Join(", ", fields.OrderBy(f => (string)f.Name!, StringComparer.Ordinal).Select(f => $"{f.Name}={Convert.ToBase64String((byte[])f.Value!)}")));
        }

        return string.Join('\n', lines);
    }

    private static string Ms(long ms) => ms.ToString(CultureInfo.InvariantCulture);
}
