using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Entities;
using NexusArchive.Tests.Infrastructure;

namespace NexusArchive.Tests.Integration;

/// <summary>Archiving named records now (the critical-write path) against real redis-server and PostgreSQL.</summary>
public sealed class ArchiveRecordsTests
{
    [Fact]
    public async Task ArchiveRecords_NewEditedUnchangedVanishedAndBad_EachGetTheirAnswer_CheckpointUntouched()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        await h.WriteMessageAsync("m-old", now - 60_000, content: "archived");
        await h.WriteMessageAsync("m-edited", now - 60_000, content: "v1");
        await h.RunAsync("message");
        var checkpoint = await h.ScalarAsync("SELECT score::bigint FROM {b}.checkpoints WHERE entity = 'message'");
        await h.WriteMessageAsync("m-edited", now - 100, content: "v2");          // inside the settle window: a pass would wait
        await h.WriteMessageAsync("m-new", now, content: "brand new");
        await h.WriteMessageUncheckedAsync("m-bad", now, ("role", "wizard"));

        var report = await Records(h).ArchiveAsync(
            [new("message", "m-old"), new("message", "m-edited"), new("message", "m-new"), new("message", "m-gone"), new("message", "m-bad")], CancellationToken.None);

        Assert.Equal(
            [RecordOutcome.Unchanged, RecordOutcome.Archived, RecordOutcome.Archived, RecordOutcome.NotFound, RecordOutcome.DeadLettered],
            report.Records.Select(r => r.Outcome));
        Assert.StartsWith("invalid_value:", report.Records[4].Reason, StringComparison.Ordinal);
        Assert.Equal("v2", (string)(await h.QueryAsync("SELECT content FROM {t}.messages WHERE id = 'm-edited'"))[0]["content"]!);
        Assert.Equal(1, await h.ScalarAsync("SELECT count(*) FROM {t}.messages WHERE id = 'm-new'"));
        Assert.Equal(1, await h.ScalarAsync("SELECT count(*) FROM {b}.dead_letters WHERE record_id = 'm-bad' AND status = 'open'"));
        Assert.Equal(checkpoint, await h.ScalarAsync("SELECT score::bigint FROM {b}.checkpoints WHERE entity = 'message'"));

        var again = await Records(h).ArchiveAsync([new("message", "m-edited"), new("message", "m-new")], CancellationToken.None);
        Assert.All(again.Records, r => Assert.Equal(RecordOutcome.Unchanged, r.Outcome));
        await Assert.ThrowsAsync<ArgumentException>(() => Records(h).ArchiveAsync([new("reaction", "r-1")], CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => Records(h).ArchiveAsync([.. Enumerable.Range(0, ArchiveRecordsService.MaxRecords + 1).Select(i => new RecordRef("message", $"m-{i}"))], CancellationToken.None));
    }

    [Fact]
    public async Task ArchiveRecords_RacingAPassAndEditsOfTheSameRecord_EndsWithTheNewestVersionArchived()
    {
        await using var h = await ArchiveHarness.CreateAsync(s => s["Archive:SettleWindow"] = "00:00:00");
        var now = await h.RedisNowMsAsync();
        for (var i = 0; i < 300; i++)
        {
            await h.WriteMessageAsync($"m-{i}", now - 10_000 + i, content: "v0");
        }

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(4));
        var edits = Task.Run(async () =>
        {
            for (var k = 1; !stop.IsCancellationRequested; k++)
            {
                await h.Writer.WriteAsync(h.Redis, EntityCatalog.Message, "m-7", [new("content", $"v{k}")]);
            }
        });
        var passes = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await h.RunAsync("message");
            }
        });
        var calls = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var report = await Records(h).ArchiveAsync([new("message", "m-7"), new("message", "m-7"), new("message", "m-8")], CancellationToken.None);
                Assert.DoesNotContain(report.Records, r => r.Outcome is RecordOutcome.DeadLettered or RecordOutcome.NotFound);
            }
        });
        await Task.WhenAll(edits, passes, calls);

        await Records(h).ArchiveAsync([new("message", "m-7")], CancellationToken.None);
        var newest = (string?)await h.Redis.HashGetAsync(h.Layout.RecordKey(EntityCatalog.Message, "m-7"), "content");
        Assert.Equal(newest, (string)(await h.QueryAsync("SELECT content FROM {t}.messages WHERE id = 'm-7'"))[0]["content"]!);
        await h.RunAsync("message");
        Assert.Equal(300, await h.CountAsync("messages"));
        Assert.Equal(newest, (string)(await h.QueryAsync("SELECT content FROM {t}.messages WHERE id = 'm-7'"))[0]["content"]!);
    }

    private static ArchiveRecordsService Records(ArchiveHarness h) => h.Services.GetRequiredService<ArchiveRecordsService>();
}
