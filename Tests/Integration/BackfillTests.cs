using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Backfill;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Verification;
using NexusArchive.Tests.Infrastructure;
using StackExchange.Redis;

namespace NexusArchive.Tests.Integration;

/// <summary>backfill against real redis-server and PostgreSQL.</summary>
public sealed class BackfillTests
{
    [Fact]
    public async Task Backfill_HundredThousandUnindexedHashes_InterruptResumeThenArchiveVerifiesEqual()
    {
        const int Records = 100_000;
        await using var h = await ArchiveHarness.CreateAsync(s => s["Archive:PageSize"] = "10000");
        var backfill = h.Services.GetRequiredService<BackfillService>();
        var old = await h.RedisNowMsAsync() - 3_600_000;
        await RedisKeys.WriteLegacyHashesAsync(h.Redis, Enumerable.Range(0, Records).Select(i => (
            h.Layout.RecordKey(EntityCatalog.User, $"u-{i:D6}"),
            new HashEntry[]
            {
                new("id", $"u-{i:D6}"), new("email", $"user{i}@example.com"),
                new("createdAt", Ms(old + i)), new("updatedAt", i % 2 == 0 ? Ms(old + i) : DateTimeOffset.FromUnixTimeMilliseconds(old + i).ToString("O", CultureInfo.InvariantCulture)),
            })));
        await h.Redis.HashSetAsync(h.Layout.RecordKey(EntityCatalog.User, "u-broken"), [new("id", "u-broken"), new("createdAt", Ms(old)), new("updatedAt", "yesterday")]);
        await h.Redis.StringSetAsync(h.Layout.RecordKey(EntityCatalog.User, "not-a-hash"), "x");

        using var interrupt = new CancellationTokenSource();
        var progress = new Recorder(after: 10, interrupt);
        var first = await backfill.RunAsync(new BackfillRequest(["user"], ScanCount: 2000), progress, interrupt.Token);
        var partial = first.Entities.Single();
        Assert.False(first.Completed);
        Assert.False(partial.Completed);
        Assert.InRange(partial.KeysScanned, 1, Records - 1);
        Assert.True(await h.Redis.KeyExistsAsync(backfill.StateKey(EntityCatalog.User)));
        Assert.NotNull(progress.Last);

        var second = await backfill.RunAsync(new BackfillRequest(["user"], ScanCount: 2000), null, CancellationToken.None);
        var done = second.Entities.Single();
        Assert.True(second.Completed);
        Assert.True(done.Resumed);
        Assert.Equal(Records + 1, done.Indexed + done.AlreadyIndexed);
        Assert.Equal(1, done.Unparsable);
        Assert.Equal(1, done.NotHashes);
        Assert.Equal(Records + 1, await h.Redis.SortedSetLengthAsync(h.Layout.ChangeIndexKey(EntityCatalog.User)));
        Assert.Equal(0, await h.Redis.SortedSetScoreAsync(h.Layout.ChangeIndexKey(EntityCatalog.User), "u-broken"));
        Assert.False(await h.Redis.KeyExistsAsync(backfill.StateKey(EntityCatalog.User)));

        var run = await h.RunAsync("user");
        var verify = await h.Services.GetRequiredService<VerifyService>().VerifyAsync(new VerifyRequest(["user"], BatchSize: 5000), CancellationToken.None);

        Assert.Equal(RunStatus.Succeeded, run.Status);
        Assert.Equal(Records, run.TotalUpserted);
        Assert.Equal(1, run.TotalDeadLettered); // the archive pass owns dead-lettering
        var counts = verify.Entities.Single().Counts;
        Assert.Equal(Records, counts[VerifyCategory.Equal]);
        Assert.Equal(1, counts[VerifyCategory.DeadLettered]);
        Assert.True(verify.Ok);
    }

    [Fact]
    public async Task Backfill_AfterArchiveAlreadyRan_RewindsCheckpointSoOldHashesGetArchived()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        await h.WriteMessageAsync("m-live", now - 60_000);
        await h.RunAsync("message");
        var legacy = now - 86_400_000;
        await h.Redis.HashSetAsync(h.Layout.RecordKey(EntityCatalog.Message, "m-legacy"), [
            new("id", "m-legacy"), new("sessionId", "s-1"), new("userId", "u-1"), new("role", "user"), new("createdAt", Ms(legacy)), new("updatedAt", Ms(legacy)),
        ]);

        var writesBefore = (long)await h.Redis.StringGetAsync(h.Layout.WriteCounterKey(EntityCatalog.Message));
        var report = await h.Services.GetRequiredService<BackfillService>().RunAsync(new BackfillRequest(["message"]), null, CancellationToken.None);
        var run = await h.RunAsync("message");

        var result = report.Entities.Single();
        Assert.Equal(1, result.Indexed);
        Assert.True((long)await h.Redis.StringGetAsync(h.Layout.WriteCounterKey(EntityCatalog.Message)) > writesBefore); // indexing counts as a write
        Assert.Equal(1, result.AlreadyIndexed);
        Assert.Equal(legacy - 1, result.CheckpointRewoundTo);
        Assert.Equal(1, run.TotalUpserted);
        Assert.Equal(1, await h.ScalarAsync("SELECT count(*) FROM {t}.messages WHERE id = 'm-legacy'"));
    }

    [Fact]
    public async Task Backfill_Restart_ForgetsTheSavedCursor()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var backfill = h.Services.GetRequiredService<BackfillService>();
        await h.Redis.HashSetAsync(backfill.StateKey(EntityCatalog.Session), [new("cursor", "12345"), new("scanned", 99)]);
        await h.Redis.HashSetAsync(h.Layout.RecordKey(EntityCatalog.Session, "s-1"), [new("id", "s-1"), new("userId", "u-1"), new("createdAt", "1"), new("updatedAt", "1")]);

        var report = await backfill.RunAsync(new BackfillRequest(["session"], Restart: true), null, CancellationToken.None);

        var result = report.Entities.Single();
        Assert.False(result.Resumed);
        Assert.Equal(1, result.KeysScanned);
        Assert.Equal(1, await h.Redis.SortedSetScoreAsync(h.Layout.ChangeIndexKey(EntityCatalog.Session), "s-1"));
    }

    private static string Ms(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Synchronous progress sink that cancels after a number of batches (an operator's Ctrl+C).</summary>
    private sealed class Recorder(int after, CancellationTokenSource interrupt) : IProgress<BackfillProgress>
    {
        private int _batches;

        public BackfillProgress? Last { get; private set; }

        public void Report(BackfillProgress value)
        {
            Last = value;
            if (++_batches == after)
            {
                interrupt.Cancel();
            }
        }
    }
}
