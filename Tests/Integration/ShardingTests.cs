using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Scaling;
using NexusArchive.Core.Source;
using NexusArchive.Tests.Faults;
using NexusArchive.Tests.Infrastructure;
using Xunit.Abstractions;

namespace NexusArchive.Tests.Integration;

/// <summary>
/// Sharded change indexes (docs/scaling.md) on real servers: shards worked side by side by concurrent passes, a killed
/// shard pass, and resharding under live writers. Each ends with the archive compared record by record to Redis.
/// </summary>
public sealed class ShardingTests(ITestOutputHelper output)
{
    private static Task<ArchiveHarness> CreateAsync(int pageSize = 100) =>
        ArchiveHarness.CreateAsync(s =>
        {
            FaultKit.FaultSettings(s, pageSize);
            s["Archive:LookbackOverlap"] = "00:00:02";
        });

    [Fact]
    public async Task FourShards_FourConcurrentPasses_WithWritersRunning_EndEqualToRedis()
    {
        await using var h = await CreateAsync();
        await h.Services.GetRequiredService<ReshardService>().ReshardAsync("message", 4, CancellationToken.None);
        await FaultKit.SeedAsync(h, messages: 2000);

        // The writer put every entry in the shard of its id, none in the unsharded index.
        Assert.Equal(0, await h.Redis.SortedSetLengthAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message)));
        for (var shard = 0; shard < 4; shard++)
        {
            var members = await h.Redis.SortedSetRangeByRankAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message.ForShard(shard, 4)));
            Assert.NotEmpty(members);
            Assert.All(members, m => Assert.Equal(shard, ChangeShard.IndexOf((string)m!, 4)));
        }

        // Edits and new messages keep arriving while four passes, one per shard, run at once, three times over.
        using var stop = new CancellationTokenSource();
        var written = 0;
        var writer = Task.Run(async () =>
        {
            var random = new Random(7);
            while (!stop.IsCancellationRequested)
            {
                var now = await h.RedisNowMsAsync();
                var id = random.Next(3) == 0 ? $"new-{written}" : $"m-{random.Next(2000):D6}";
                await h.WriteMessageAsync(id, now, content: $"edit {written}");
                written++;
            }
        });
        var runs = new ConcurrentBag<ArchiveRunResult>();
        for (var round = 0; round < 3; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, 4).Select(shard => Task.Run(async () =>
                runs.Add(await h.Archive.RunAsync(new ArchiveRunRequest("test", ["message"]) { Shard = shard }, CancellationToken.None)))));
        }

        await stop.CancelAsync();
        await writer;
        await Task.Delay(TimeSpan.FromSeconds(1.2)); // past the settle window of the last writes
        var final = await FaultKit.FinishAsync(h, TimeSpan.FromSeconds(30));

        Assert.Equal(RunStatus.Succeeded, final.Status);
        Assert.All(runs, r => Assert.Equal(RunStatus.Succeeded, Assert.Single(r.Entities).Status));
        Assert.Equal(["0of4", "1of4", "2of4", "3of4"], runs.Select(r => r.Entities[0].Shard!).Distinct().Order());
        Assert.Equal(
            ["message.0of4", "message.1of4", "message.2of4", "message.3of4"],
            (await h.QueryAsync("SELECT entity FROM {b}.checkpoints WHERE entity LIKE 'message%' AND score IS NOT NULL ORDER BY entity")).Select(r => (string)r["entity"]!));
        var report = await ArchiveComparison.CompareAsync(h);
        output.WriteLine($"{written} writes during the passes; {report}");
        ArchiveComparison.AssertEqual(report);
        Assert.True(written > 0);
    }

    [Fact]
    public async Task OneShardsPass_Killed_LeavesTheOthersGoing_AndItsNextPassFinishesIt()
    {
        await using var h = await CreateAsync(pageSize: 40);
        await h.Services.GetRequiredService<ReshardService>().ReshardAsync("message", 4, CancellationToken.None);
        await FaultKit.SeedAsync(h, messages: 4000);
        var victim = EntityCatalog.Message.ForShard(1, 4);

        var passes = Enumerable.Range(0, 4).Select(shard => FaultKit.StartCli(h, "archive", "--entity", "message", "--shard", shard.ToString(CultureInfo.InvariantCulture))).ToList();
        try
        {
            // Kill shard 1's pass once it has committed a page or more (its checkpoint row has a score).
            var waited = Stopwatch.StartNew();
            while (!passes[1].HasExited && waited.Elapsed < TimeSpan.FromSeconds(60)
                && await h.ScalarAsync("SELECT count(*) FROM {b}.checkpoints WHERE entity = $1 AND score IS NOT NULL", victim.FeedName) == 0)
            {
                await Task.Delay(10);
            }

            Assert.False(passes[1].HasExited, "shard 1's pass finished before it could be killed");
            passes[1].Kill(); // SIGKILL: no lease release, no run history
            foreach (var pass in passes)
            {
                await pass.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
            }

            Assert.Equal([0, 0, 0], new[] { 0, 2, 3 }.Select(i => passes[i].ExitCode));
        }
        finally
        {
            foreach (var pass in passes.Where(p => !p.HasExited))
            {
                pass.Kill();
            }
        }

        // The other shards are done: every one of their messages is archived. Shard 1 is not.
        var archived = (await h.QueryAsync("SELECT id FROM {t}.messages")).Select(r => (string)r["id"]!).ToList();
        var byShard = archived.GroupBy(id => ChangeShard.IndexOf(id, 4)).ToDictionary(g => g.Key, g => g.Count());
        foreach (var shard in new[] { 0, 2, 3 })
        {
            Assert.Equal(await h.Redis.SortedSetLengthAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message.ForShard(shard, 4))), byShard[shard]);
        }

        var victimSize = await h.Redis.SortedSetLengthAsync(h.Layout.ChangeIndexKey(victim));
        output.WriteLine($"shard 1 had {byShard.GetValueOrDefault(1)} of {victimSize} archived when killed");
        Assert.True(byShard.GetValueOrDefault(1) < victimSize, "the kill landed after shard 1 had finished");

        // Its next pass (once the dead pass's lease expired) takes it over from the last commit.
        await Task.Delay(TimeSpan.FromSeconds(2.2));
        var resumed = await h.Archive.RunAsync(new ArchiveRunRequest("test", ["message"]) { Shard = 1 }, CancellationToken.None);
        Assert.Equal(RunStatus.Succeeded, resumed.Status);
        await FaultKit.FinishAsync(h, TimeSpan.FromSeconds(30)); // users and sessions
        ArchiveComparison.AssertEqual(await ArchiveComparison.CompareAsync(h));
    }

    [Fact]
    public async Task Reshard_OneToFour_UnderLiveWriters_LosesNothing_AndDrainsTheUnshardedIndex()
    {
        await using var h = await CreateAsync();
        await FaultKit.SeedAsync(h, messages: 1500);
        Assert.Equal(RunStatus.Succeeded, (await h.RunAsync()).Status);

        using var stop = new CancellationTokenSource();
        var written = 0;
        var writers = Enumerable.Range(0, 2).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);
            while (!stop.IsCancellationRequested)
            {
                var now = await h.RedisNowMsAsync();
                // New messages stamped up to 3 s back (behind the pass, so the late path is exercised across the switch);
                // edits of old ones stamped now (an edit stamped before the version it replaces would lose, by design).
                var fresh = random.Next(2) == 0;
                var id = fresh ? $"w{w}-{Interlocked.Increment(ref written)}" : $"m-{random.Next(1500):D6}";
                await h.WriteMessageAsync(id, fresh ? now - random.Next(0, 3000) : now, content: $"writer {w} at {now}");
            }
        })).ToList();
        var passes = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await h.RunAsync("message");
            }
        });

        await Task.Delay(TimeSpan.FromSeconds(1.5));
        var result = await h.Services.GetRequiredService<ReshardService>().ReshardAsync("message", 4, CancellationToken.None);
        Assert.Equal((1, 4, (int?)null), (result.From, result.To, result.Draining));
        await Task.Delay(TimeSpan.FromSeconds(2));
        await stop.CancelAsync();
        await Task.WhenAll([.. writers, passes]);
        await Task.Delay(TimeSpan.FromSeconds(1.2)); // past the settle window of the last writes

        // Passes after the settle window archive the rest and move the unsharded index's entries to the shards.
        var unsharded = h.Layout.ChangeIndexKey(EntityCatalog.Message);
        var clock = Stopwatch.StartNew();
        while (await h.Redis.SortedSetLengthAsync(unsharded) > 0 && clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(TimeSpan.FromSeconds(1.1));
            await h.RunAsync();
        }

        Assert.Equal(0, await h.Redis.SortedSetLengthAsync(unsharded));
        Assert.Equal(RunStatus.Succeeded, (await FaultKit.FinishAsync(h, TimeSpan.FromSeconds(30))).Status);
        for (var shard = 0; shard < 4; shard++)
        {
            var members = await h.Redis.SortedSetRangeByRankAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message.ForShard(shard, 4)));
            Assert.All(members, m => Assert.Equal(shard, ChangeShard.IndexOf((string)m!, 4)));
        }

        var report = await ArchiveComparison.CompareAsync(h);
        output.WriteLine($"{written} new messages written around the reshard; {report}");
        output.WriteLine(string.Join('\n', report.Problems.Take(10)));
        ArchiveComparison.AssertEqual(report);
        Assert.Equal(1500 + written, report.Outcomes.Keys.Count(k => k.StartsWith('m') || k.StartsWith('w')));
    }

    [Fact]
    public async Task Reshard_FourToTwo_DrainsTheOldShards_RefusesAnotherMeanwhile_ThenForgetsThem()
    {
        await using var h = await CreateAsync();
        var reshard = h.Services.GetRequiredService<ReshardService>();
        await reshard.ReshardAsync("message", 4, CancellationToken.None);
        await FaultKit.SeedAsync(h, messages: 400);
        Assert.Equal(RunStatus.Succeeded, (await h.RunAsync()).Status);

        Assert.Equal((4, 2, (int?)4), await reshard.ReshardAsync("message", 2, CancellationToken.None) is var r ? (r.From, r.To, r.Draining) : default);
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => reshard.ReshardAsync("message", 3, CancellationToken.None));
        Assert.Contains("still draining its 4-shard layout", refused.Message, StringComparison.Ordinal);

        var now = await h.RedisNowMsAsync();
        await h.WriteMessageAsync("after-reshard", now - 5000, content: "into the 2-shard layout");
        var run = await h.RunAsync();
        Assert.Equal(RunStatus.Succeeded, run.Status);
        Assert.Equal(["0of2", "0of4", "1of2", "1of4", "2of4", "3of4"], run.Entities.Where(e => e.Entity == "message" && e.Shard is not null).Select(e => e.Shard!).Order());

        var layout = await ShardLayout.ReadAsync(h.Redis, h.Layout, CancellationToken.None);
        Assert.Equal(new EntityShards(2, null), layout.Of(EntityCatalog.Message)); // drained and forgotten
        for (var shard = 0; shard < 4; shard++)
        {
            Assert.Equal(0, await h.Redis.SortedSetLengthAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message.ForShard(shard, 4))));
        }

        Assert.Equal(401, await h.Redis.SortedSetLengthAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message.ForShard(0, 2)))
            + await h.Redis.SortedSetLengthAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message.ForShard(1, 2))));
        Assert.Equal(3, (await h.RunAsync("message")).Entities.Count); // the unsharded stream and the two shards: the old four are gone
        ArchiveComparison.AssertEqual(await ArchiveComparison.CompareAsync(h));
        Assert.Equal(3, (await reshard.ReshardAsync("message", 3, CancellationToken.None)).To);
    }
}
