using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Verification;
using NexusArchive.Tests.Infrastructure;

namespace NexusArchive.Tests.Integration;

/// <summary>The scheduled, incremental verify (<see cref="IncrementalVerifyService"/>) against real redis-server and PostgreSQL.</summary>
public sealed class IncrementalVerifyTests
{
    private static Task<IncrementalVerifyReport> RunAsync(ArchiveHarness h, int batchSize = 1000) =>
        h.Services.GetRequiredService<IncrementalVerifyService>().RunAsync(new IncrementalVerifyRequest("test", ["message"], batchSize), CancellationToken.None);

    private static Task<ArchiveStatus> StatusAsync(ArchiveHarness h) =>
        h.Services.GetRequiredService<StatusService>().GetAsync(CancellationToken.None);

    [Fact]
    public async Task PlainHsetOnAnArchivedRecord_FoundByTheRollingKeyspaceSliceWithinTwoWalks_AndShownInStatus()
    {
        const int records = 30;
        const int keysPerRun = 10;
        await using var h = await ArchiveHarness.CreateAsync(s => s["Archive:Verify:ScanKeysPerRun"] = keysPerRun.ToString(CultureInfo.InvariantCulture));
        var old = await h.RedisNowMsAsync() - 120_000;
        for (var i = 0; i < records; i++)
        {
            await h.WriteMessageAsync($"m-{i:D2}", old + i);
        }

        await h.RunAsync("message");
        var first = await RunAsync(h, batchSize: 4);
        Assert.True(first.Ok, $"{first.Status} {first.Error}");
        Assert.Equal(records, first.Entities.Single().Changes.Checked);

        // Content changed around the writer: no index entry moves, so no pass and no change-index read can see it.
        await h.Redis.HashSetAsync(h.Layout.RecordKey(EntityCatalog.Message, "m-17"), "content", "edited around the Lua writer");
        await h.RunAsync("message");

        // The keyspace walk started in the first run; the key is returned at the latest by the end of the next full walk.
        var maxRuns = 2 * ((records / keysPerRun) + 1);
        IncrementalVerifyReport? found = null;
        var runs = 0;
        while (found is null && runs < maxRuns)
        {
            var report = await RunAsync(h, batchSize: 4);
            runs++;
            var message = report.Entities.Single();
            Assert.Equal(VerificationStatus.Succeeded, report.Status);
            Assert.Equal(0, message.Changes.Checked);
            Assert.InRange(message.Keyspace.Keys, 0, 2 * keysPerRun);
            if (report.Differences > 0)
            {
                found = report;
            }
        }

        Assert.NotNull(found);
        Assert.True(found.Entities.Single().Counts[VerifyCategory.ContentDiffers] >= 1); // SCAN may return a key twice in one walk
        Assert.All(found.ExampleIds, id => Assert.Equal("message:m-17", id));
        Assert.NotEmpty(found.ExampleIds);
        Assert.False(found.Ok);

        var last = (await StatusAsync(h)).LastVerification;
        Assert.NotNull(last);
        Assert.Equal(found.VerificationId, last.VerificationId);
        Assert.Equal(VerificationKinds.Incremental, last.Kind);
        Assert.True(last.Differences > 0);
        Assert.Equal(0, last.Gaps);
        Assert.Contains("message:m-17", last.ExampleIds);
    }

    [Fact]
    public async Task HashWrittenAroundTheWriterWithoutAnIndexEntry_FoundByTheKeyspaceSliceAsAGap()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var old = await h.RedisNowMsAsync() - 120_000;
        for (var i = 0; i < 5; i++)
        {
            await h.WriteMessageAsync($"m-{i}", old + i);
        }

        await h.RunAsync("message");
        var created = old.ToString(CultureInfo.InvariantCulture);
        await h.Redis.HashSetAsync(h.Layout.RecordKey(EntityCatalog.Message, "m-around"), [
            new("id", "m-around"), new("sessionId", "s-1"), new("userId", "u-1"), new("role", "user"), new("content", "never indexed"),
            new("createdAt", created), new("updatedAt", created),
        ]);

        var report = await RunAsync(h);

        var message = report.Entities.Single();
        Assert.Equal(5, message.Changes.Checked);
        Assert.True(message.Keyspace.Checked >= 6); // SCAN may return a key twice in one walk
        Assert.True(message.Keyspace.WalkCompleted);
        Assert.True(message.Counts[VerifyCategory.Unindexed] >= 1);
        Assert.Equal(message.Counts[VerifyCategory.Unindexed], report.Gaps);
        Assert.Contains("message:m-around", report.ExampleIds);
        Assert.True((await StatusAsync(h)).LastVerification!.Gaps >= 1);
    }

    [Fact]
    public async Task RecordWrittenThroughTheWriterAfterTheLastVerifiedPoint_CheckedByTheNextRunOnceArchived_NotByTheOneAfter()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var old = await h.RedisNowMsAsync() - 120_000;
        for (var i = 0; i < 10; i++)
        {
            await h.WriteMessageAsync($"m-{i}", old + i);
        }

        await h.RunAsync("message");
        var first = await RunAsync(h);
        var firstChanges = first.Entities.Single().Changes;
        Assert.Null(firstChanges.AfterScore);
        Assert.Equal(10, firstChanges.Checked);
        Assert.True(firstChanges.CaughtUp);
        Assert.Equal((double)(old + 9), firstChanges.NextAfterScore);

        // Written after the last verified point, but not archived yet: beyond the checkpoint, so not due and not checked.
        await h.WriteMessageAsync("m-new", await h.RedisNowMsAsync() - 3_000, content: "written after the last verified point");
        var beforePass = await RunAsync(h);
        Assert.Equal(0, beforePass.Entities.Single().Changes.Checked);
        Assert.Equal((double)(old + 9), beforePass.Entities.Single().Changes.NextAfterScore);

        await h.RunAsync("message");
        var second = await RunAsync(h);
        var secondChanges = second.Entities.Single().Changes;
        Assert.Equal((double)(old + 9), secondChanges.AfterScore);
        Assert.Equal(1, secondChanges.Entries);
        Assert.Equal(1, secondChanges.Checked);
        Assert.True(second.Ok);

        var third = await RunAsync(h);
        Assert.Equal(0, third.Entities.Single().Changes.Entries);
        Assert.Equal(secondChanges.NextAfterScore, third.Entities.Single().Changes.AfterScore);
        Assert.True(third.Ok);
    }

    [Fact]
    public async Task BoundedRuns_EachResumesWhereThePreviousStopped_EveryChangeCheckedExactlyOnce()
    {
        await using var h = await ArchiveHarness.CreateAsync(s =>
        {
            s["Archive:Verify:MaxRecordsPerRun"] = "7";
            s["Archive:Verify:ScanKeysPerRun"] = "6";
        });
        var old = await h.RedisNowMsAsync() - 120_000;
        for (var i = 0; i < 20; i++)
        {
            await h.WriteMessageAsync($"m-{i:D2}", old + (i / 4)); // five scores shared by four records each: the cursor needs the member
        }

        await h.RunAsync("message");

        var reports = new List<IncrementalVerifyReport>();
        for (var run = 0; run < 4; run++)
        {
            reports.Add(await RunAsync(h, batchSize: 3));
        }

        var changes = reports.Select(r => r.Entities.Single().Changes).ToList();
        Assert.Equal([7L, 7L, 6L, 0L], changes.Select(c => c.Entries));
        Assert.Equal([false, false, true, true], changes.Select(c => c.CaughtUp));
        Assert.Null(changes[0].AfterScore);
        for (var i = 1; i < changes.Count; i++)
        {
            Assert.Equal(changes[i - 1].NextAfterScore, changes[i].AfterScore);
        }

        Assert.Equal((double)(old + 1), changes[0].NextAfterScore); // seven entries in: the fourth of the second score's four
        Assert.Equal(20, changes.Sum(c => c.Checked));

        // The keyspace slice resumes at the cursor the previous run stopped at.
        var keyspace = reports.Select(r => r.Entities.Single().Keyspace).ToList();
        Assert.Equal("0", keyspace[0].CursorFrom);
        for (var i = 1; i < keyspace.Count; i++)
        {
            Assert.Equal(keyspace[i - 1].CursorTo, keyspace[i].CursorFrom);
        }

        Assert.All(reports, r => Assert.True(r.Ok, $"{r.Status} {r.Error}"));

        // What the next run continues from is in the bookkeeping table, with the member that breaks the score's tie.
        var row = (await h.QueryAsync("SELECT resume::text AS resume, kind, trigger, status FROM {b}.verifications ORDER BY verification_id DESC LIMIT 1")).Single();
        Assert.Equal(("incremental", "test", "Succeeded"), ((string)row["kind"]!, (string)row["trigger"]!, (string)row["status"]!));
        using var resume = JsonDocument.Parse((string)row["resume"]!);
        var point = resume.RootElement.GetProperty("message");
        Assert.Equal((double)(old + 4), point.GetProperty("sinceScore").GetDouble());
        Assert.Equal("m-19", System.Text.Encoding.UTF8.GetString(point.GetProperty("sinceMember").GetBytesFromBase64()));
        Assert.Equal(keyspace[^1].CursorTo, point.GetProperty("scanCursor").GetString());
    }

    [Fact]
    public async Task RunThatFailsPartWay_RecordsTheFailure_KeepsTheFinishedEntitiesResumePoints()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var old = await h.RedisNowMsAsync() - 120_000;
        await h.WriteAsync(EntityCatalog.User, "u-1", old, ("email", "u-1@example.test"), ("createdAt", old.ToString(CultureInfo.InvariantCulture)));
        await h.WriteMessageAsync("m-1", old);
        await h.RunAsync("user", "message");
        await h.QueryAsync("ALTER TABLE {t}.messages RENAME TO messages_away");

        var report = await h.Services.GetRequiredService<IncrementalVerifyService>()
            .RunAsync(new IncrementalVerifyRequest("test", ["user", "message"]), CancellationToken.None);

        Assert.Equal(VerificationStatus.Failed, report.Status);
        Assert.Contains("42P01", report.Error, StringComparison.Ordinal);
        Assert.Equal("user", Assert.Single(report.Entities).Entity);
        await h.QueryAsync("ALTER TABLE {t}.messages_away RENAME TO messages");
        var last = (await StatusAsync(h)).LastVerification!;
        Assert.Equal(VerificationStatus.Failed, last.Status);
        Assert.Equal(report.VerificationId, last.VerificationId);
        var resume = await h.QueryAsync("SELECT resume->'user'->>'sinceScore' AS user_since, resume->'message' AS message FROM {b}.verifications WHERE verification_id = $1", report.VerificationId);
        Assert.Equal((double)old, double.Parse((string)resume[0]["user_since"]!, CultureInfo.InvariantCulture));
        Assert.Null(resume[0]["message"]);
    }

    [Fact]
    public async Task FullVerify_IsRecordedAsAVerificationAndShownInStatus()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        Assert.Null((await StatusAsync(h)).LastVerification);
        var old = await h.RedisNowMsAsync() - 120_000;
        for (var i = 0; i < 4; i++)
        {
            await h.WriteMessageAsync($"m-{i}", old + i);
        }

        await h.RunAsync("message");
        await h.QueryAsync("DELETE FROM {t}.messages WHERE id = 'm-2' RETURNING id");

        var report = await h.Services.GetRequiredService<VerifyService>().VerifyAsync(new VerifyRequest(["message"], Trigger: "cli"), CancellationToken.None);

        var last = (await StatusAsync(h)).LastVerification!;
        Assert.Equal(report.VerificationId, last.VerificationId);
        Assert.Equal((VerificationKinds.Full, "cli", VerificationStatus.Succeeded), (last.Kind, last.Trigger, last.Status));
        Assert.Equal(4, last.RecordsChecked);
        Assert.Equal(1, last.Gaps);
        Assert.Equal(["message:m-2"], last.ExampleIds);

        // A full verify neither reads nor moves the incremental verify's resume points.
        Assert.Equal(0, await h.ScalarAsync("SELECT count(*) FROM {b}.verifications WHERE resume IS NOT NULL"));
    }

    [Fact]
    public async Task NeverArchived_NothingIsDue_KeysArePendingNotGaps()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var old = await h.RedisNowMsAsync() - 120_000;
        for (var i = 0; i < 3; i++)
        {
            await h.WriteMessageAsync($"m-{i}", old + i);
        }

        var report = await RunAsync(h);

        var message = report.Entities.Single();
        Assert.Null(message.Changes.UntilScore);
        Assert.Equal(0, message.Changes.Entries);
        Assert.True(message.Counts[VerifyCategory.Pending] >= 3); // SCAN may return a key twice in one walk
        Assert.Equal(0, message.Counts[VerifyCategory.Gap] + message.Counts[VerifyCategory.Unindexed]);
        Assert.True(report.Ok);
        Assert.Equal("0", message.Keyspace.CursorTo);
    }
}
