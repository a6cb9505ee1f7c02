using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Admin;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Offload;
using NexusArchive.Core.Verification;
using NexusArchive.Tests.Infrastructure;
using StackExchange.Redis;

namespace NexusArchive.Tests.Integration;

/// <summary>export and erase (a user's data-subject requests) against real redis-server and PostgreSQL.</summary>
public sealed class AdminTests
{
    private static readonly long s_day = (long)TimeSpan.FromDays(1).TotalMilliseconds;

    [Fact]
    public async Task Export_User_IsExactlyWhatTheArchiveHolds_SoftDeletedMarked_AndAudited()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        await SeedUserAsync(h, "u-1", now - 60_000, sessions: 2, messages: 3);
        await SeedUserAsync(h, "u-2", now - 60_000, sessions: 1, messages: 2);
        await h.WriteMessageAsync("u-1-s0-m1", now - 50_000, content: "gone", session: "u-1-s0", user: "u-1", ("deletedAt", (now - 50_000).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        await h.WriteAsync(EntityCatalog.Message, "u-1-s0-m1", now - 40_000, ("metadata", "{\"b\":1,\"a\":[true]}"), ("customField", "kept in extra"));
        await h.RunAsync();
        using var output = new MemoryStream();

        var report = await h.Services.GetRequiredService<ExportService>().ExportAsync("u-1", output, "test:export", CancellationToken.None);

        var lines = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal("nexus-archive", lines[0].GetProperty("export").GetString());
        Assert.Equal(6, lines[0].GetProperty("counts").GetProperty("message").GetInt64());
        var records = lines.Skip(1).SkipLast(1).ToList();
        Assert.Equal(1 + 2 + 6 + 2, records.Count); // user, sessions, messages, an attachment per session
        Assert.Equal(records.Count, report.Total);
        var archivedMessages = (await h.QueryAsync("SELECT id, content FROM {t}.messages WHERE user_id = 'u-1' ORDER BY id")).Select(r => ((string)r["id"]!, (string?)r["content"])).ToList();
        var exportedMessages = records.Where(r => r.GetProperty("entity").GetString() == "message")
            .Select(r => (r.GetProperty("id").GetString()!, r.GetProperty("record").GetProperty("content").GetString())).ToList();
        Assert.Equal(archivedMessages, exportedMessages);
        Assert.DoesNotContain(records, r => r.GetProperty("id").GetString()!.StartsWith("u-2", StringComparison.Ordinal));
        var deleted = records.Single(r => r.GetProperty("id").GetString() == "u-1-s0-m1");
        Assert.True(deleted.GetProperty("deleted").GetBoolean());
        Assert.Equal(1, deleted.GetProperty("record").GetProperty("metadata").GetProperty("b").GetInt32());
        Assert.Equal("kept in extra", deleted.GetProperty("record").GetProperty("extra").GetProperty("customField").GetString());
        Assert.Equal(1, lines[^1].GetProperty("softDeleted").GetInt64());
        var audit = (await h.QueryAsync("SELECT actor, action, subject_user, outcome, counts::text AS counts FROM {b}.admin_audit"))[0];
        Assert.Equal(("test:export", "export", "u-1", "succeeded"), ((string)audit["actor"]!, (string)audit["action"]!, (string)audit["subject_user"]!, (string)audit["outcome"]!));
        Assert.DoesNotContain("hello", (string)audit["counts"]!, StringComparison.Ordinal); // counts, never the data
    }

    [Fact]
    public async Task Erase_User_LeavesNoRowAndNoKeyOfThem_OtherUserUntouched_AndNothingComesBack()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        await SeedUserAsync(h, "u-1", now - 40 * s_day, sessions: 2, messages: 3);
        await SeedUserAsync(h, "u-2", now - 40 * s_day, sessions: 2, messages: 3);
        await h.RunAsync();
        await h.Services.GetRequiredService<OffloadService>().OffloadAsync(new OffloadRequest(Limit: 1), CancellationToken.None); // u-1-s0 goes to cold storage
        // Not archived yet: a new message, and a bad record that will be dead-lettered, both in u-1's sessions.
        await h.WriteMessageUncheckedAsync("u-1-bad", now - 3_000, ("sessionId", "u-1-s1"), ("userId", "u-1"), ("role", "wizard"));
        await h.RunAsync();
        await h.WriteMessageAsync("u-1-s1-new", now, content: "just written", session: "u-1-s1", user: "u-1");
        var u2Before = await h.ScalarAsync("SELECT count(*) FROM {t}.messages WHERE user_id = 'u-2'");
        Assert.True((await h.Redis.HashGetAsync(h.Layout.OffloadMarkerKey("u-1"), "u-1-s0")).HasValue);

        var dryRun = await Erase(h).EraseAsync(new EraseRequest("u-1", DryRun: true, "test:erase"), CancellationToken.None);
        Assert.Equal(6, dryRun.PostgresRows["message"]);
        Assert.True(await h.ScalarAsync("SELECT count(*) FROM {t}.messages WHERE user_id = 'u-1'") > 0);

        var report = await Erase(h).EraseAsync(new EraseRequest("u-1", DryRun: false, "test:erase"), CancellationToken.None);

        Assert.Equal(6, report.PostgresRows["message"]);
        Assert.Equal(1, report.DeadLetters);
        Assert.Equal(1, report.OffloadedSessions);
        foreach (var table in new[] { "users", "chat_sessions", "messages", "attachment_refs" })
        {
            Assert.Equal(0, await h.ScalarAsync($"SELECT count(*) FROM {{t}}.{table} WHERE {(table == "users" ? "id" : "user_id")} = 'u-1'"));
        }

        Assert.Empty(await KeysOfAsync(h, "u-1"));
        Assert.False(await h.Redis.KeyExistsAsync(h.Layout.OffloadMarkerKey("u-1")));
        foreach (var entity in EntityCatalog.Default.All)
        {
            var members = (await h.Redis.SortedSetRangeByRankAsync(h.Layout.ChangeIndexKey(entity))).Concat(await h.Redis.SortedSetRangeByRankAsync(h.Layout.LateSetKey(entity)));
            Assert.DoesNotContain(members, m => ((string)m!).StartsWith("u-1", StringComparison.Ordinal));
        }

        Assert.Equal("[]", (string)(await h.QueryAsync("SELECT raw_fields::text AS raw FROM {b}.dead_letters WHERE record_id = 'u-1-bad'"))[0]["raw"]!);
        Assert.Equal(0, await h.ScalarAsync("SELECT count(*) FROM {b}.offloaded_sessions"));
        Assert.Equal(u2Before, await h.ScalarAsync("SELECT count(*) FROM {t}.messages WHERE user_id = 'u-2'"));
        Assert.True((await h.Services.GetRequiredService<VerifyService>().VerifyAsync(new VerifyRequest(UserId: "u-2"), CancellationToken.None)).Ok);
        Assert.Equal(["erase_dry_run", "erase"], (await h.QueryAsync("SELECT action FROM {b}.admin_audit ORDER BY audit_id")).Select(r => (string)r["action"]!));

        await Task.Delay(1100);
        await h.RunAsync();
        Assert.Equal(0, await h.ScalarAsync("SELECT count(*) FROM {t}.messages WHERE user_id = 'u-1'"));
    }

    [Fact]
    public async Task Erase_WhileAnArchivePassRuns_NoRecordOfTheUserComesBack()
    {
        await using var h = await ArchiveHarness.CreateAsync(s => s["Archive:PageSize"] = "50");
        var now = await h.RedisNowMsAsync();
        await SeedUserAsync(h, "u-1", now - 60_000, sessions: 10, messages: 60);
        await SeedUserAsync(h, "u-2", now - 60_000, sessions: 20, messages: 60);

        var pass = Task.Run(() => h.RunAsync());
        await Task.Delay(Random.Shared.Next(50, 400));
        var report = await Erase(h).EraseAsync(new EraseRequest("u-1", DryRun: false, "test:erase"), CancellationToken.None);
        var first = await pass;
        await Task.Delay(1100);
        var second = await h.RunAsync();

        Assert.NotEqual(RunStatus.Failed, first.Status);
        Assert.Equal(RunStatus.Succeeded, second.Status);
        Assert.Equal(0, await h.ScalarAsync("SELECT count(*) FROM {t}.messages WHERE user_id = 'u-1'"));
        Assert.Equal(0, await h.ScalarAsync("SELECT count(*) FROM {t}.chat_sessions WHERE user_id = 'u-1'"));
        Assert.Empty(await KeysOfAsync(h, "u-1"));
        Assert.Equal(20 * 60, await h.ScalarAsync("SELECT count(*) FROM {t}.messages WHERE user_id = 'u-2'"));
        Assert.True(report.RedisKeys > 0);
    }

    private static EraseService Erase(ArchiveHarness h) => h.Services.GetRequiredService<EraseService>();

    /// <summary>Every record key of the harness' prefix whose id starts with the user's id (all seeded ids do).</summary>
    private static async Task<List<string>> KeysOfAsync(ArchiveHarness h, string user)
    {
        var server = h.Services.GetRequiredService<IConnectionMultiplexer>().GetServers()[0];
        var keys = new List<string>();
        await foreach (var key in server.KeysAsync(pattern: $"{h.Prefix}:*:{user}*"))
        {
            keys.Add(key!);
        }

        return keys;
    }

    /// <summary>A user with <paramref name="sessions"/> sessions of <paramref name="messages"/> messages; an attachment on each session's first message.</summary>
    private static async Task SeedUserAsync(ArchiveHarness h, string user, long atMs, int sessions, int messages)
    {
        var ms = atMs.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await h.WriteAsync(EntityCatalog.User, user, atMs, ("email", $"{user}@example.com"), ("createdAt", ms));
        var writes = new List<Task>();
        for (var s = 0; s < sessions; s++)
        {
            var session = $"{user}-s{s}";
            writes.Add(h.WriteAsync(EntityCatalog.Session, session, atMs, ("userId", user), ("createdAt", ms)));
            for (var m = 0; m < messages; m++)
            {
                writes.Add(h.WriteMessageAsync($"{session}-m{m}", atMs + m, session: session, user: user));
            }

            writes.Add(h.WriteAsync(EntityCatalog.Attachment, $"{session}-a0", atMs, ("messageId", $"{session}-m0"), ("userId", user), ("createdAt", ms)));
        }

        await Task.WhenAll(writes);
    }
}
