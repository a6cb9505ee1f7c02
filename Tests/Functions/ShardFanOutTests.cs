using System.Diagnostics.Metrics;
using Azure.Storage.Queues;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Source;
using NexusArchive.Functions;
using NexusArchive.Tests.Infrastructure;
using Xunit.Abstractions;
using static NexusArchive.Tests.Functions.FunctionsTestKit;

namespace NexusArchive.Tests.Functions;

/// <summary>
/// Fan-out over shards on real servers: the message entity sharded in Redis, records written through the Lua writer,
/// the plan read by <see cref="ShardFanOut"/>, the archive timer returning its queue messages, the messages in an Azurite
/// queue and <see cref="ArchiveShardPassFunction"/> run by the host's listener (<see cref="QueueHostListener"/>).
/// </summary>
public sealed class ShardFanOutTests(ITestOutputHelper output)
{
    private const int Shards = 4;

    [Fact]
    public async Task Plan_FourShardsWrittenInTwo_EnqueuesOnlyTheStreamsWithWork_AndNothingOnceQuiet()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await ShardAsync(h, Shards);
        var now = await h.RedisNowMsAsync();
        await WriteIntoShardAsync(h, shard: 1, count: 20, now - 60_000);
        await WriteIntoShardAsync(h, shard: 3, count: 20, now - 60_000);
        var fanOut = h.Services.GetRequiredService<ShardFanOut>();

        var first = await fanOut.PlanAsync(CancellationToken.None);
        Assert.True(first.Sharded);
        Assert.Equal(Shards + 4, first.Streams); // message: unsharded + 4 shards; user, session, attachment: one each
        Assert.Equal([new ShardWork("message", 1, 4), new ShardWork("message", 3, 4)], first.Work);

        // One pass over every stream: all quiet afterwards, so nothing to enqueue.
        var pass = await h.RunAsync();
        Assert.Equal(RunStatus.Succeeded, pass.Status);
        Assert.Equal(40, await h.CountAsync("messages"));
        Assert.Empty((await fanOut.PlanAsync(CancellationToken.None)).Work);

        // New writes into shards 0 and 3, and a late write behind shard 2's checkpoint (its late set): exactly those three.
        now = await h.RedisNowMsAsync();
        await WriteIntoShardAsync(h, shard: 0, count: 5, now - 10_000, prefix: "again");
        await WriteIntoShardAsync(h, shard: 3, count: 5, now - 10_000, prefix: "again");
        await WriteIntoShardAsync(h, shard: 2, count: 1, now - 3_600_000, prefix: "late");
        var again = await fanOut.PlanAsync(CancellationToken.None);
        Assert.Equal([new ShardWork("message", 0, 4), new ShardWork("message", 2, 4), new ShardWork("message", 3, 4)], again.Work);
        Assert.Equal(0, again.Busy);

        // The timer returns exactly those as its queue output and does no pass itself.
        var messages = await Timer(h).RunAsync(new TimerInfo(), CancellationToken.None);
        Assert.NotNull(messages);
        Assert.Equal(
            ["""{"entity":"message","shard":0,"of":4}""", """{"entity":"message","shard":2,"of":4}""", """{"entity":"message","shard":3,"of":4}"""],
            messages);
        Assert.Equal(40, await h.CountAsync("messages"));
    }

    [Fact]
    public async Task TimerAndShardPasses_OverAnAzuriteQueue_ArchiveEverythingWithTriggerQueue()
    {
        await using var h = await ArchiveHarness.CreateAsync(s => s["Archive:PageSize"] = "50");
        var (queue, poison) = await TestAzurite.Instance.CreateQueueAsync();
        var now = await h.RedisNowMsAsync();
        await WriteMessagesAsync(h, 100, prefix: "old"); // before sharding: the unsharded stream, drained into the shards
        await ShardAsync(h, Shards);
        for (var shard = 0; shard < Shards; shard++)
        {
            await WriteIntoShardAsync(h, shard, count: 50 * (shard + 1), now - 30_000);
        }

        var started = TimeProvider.System.GetTimestamp();
        var messages = await Timer(h).RunAsync(new TimerInfo(), CancellationToken.None);
        Assert.NotNull(messages);
        Assert.Equal(5, messages.Length); // the unsharded stream (to drain) and the four shards
        await Task.WhenAll(messages.Select(m => queue.SendMessageAsync(m)));
        var listener = ShardListener(h, queue, poison);
        await listener.DrainAsync(TimeSpan.FromSeconds(1), CancellationToken.None);
        output.WriteLine($"{messages.Length} messages worked in {TimeProvider.System.GetElapsedTime(started).TotalSeconds:F1} s");

        Assert.Equal(5, listener.Completed);
        Assert.Equal(0, listener.Failed);
        Assert.Equal(100 + 500, await h.CountAsync("messages"));
        var runs = await h.QueryAsync("SELECT trigger, status FROM {b}.runs");
        Assert.Equal(5, runs.Count);
        Assert.All(runs, r => Assert.Equal(("queue", nameof(RunStatus.Succeeded)), ((string)r["trigger"]!, (string)r["status"]!)));
        Assert.Equal(0, await h.Redis.SortedSetLengthAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message))); // drained

        // Everything is archived. The drain changed index sizes after the passes counted them (the unsharded stream's,
        // and a shard's that it moved entries into while that shard's pass ran), so the next tick may enqueue those once
        // more: quiet passes that archive nothing. After them, nothing is left to enqueue.
        var firstRound = await h.ScalarAsync("SELECT count(*) FROM {b}.runs");
        var next = await Timer(h).RunAsync(new TimerInfo(), CancellationToken.None);
        Assert.NotNull(next);
        Assert.Contains("""{"entity":"message","shard":0,"of":1}""", next);
        await Task.WhenAll(next.Select(m => queue.SendMessageAsync(m)));
        await listener.DrainAsync(TimeSpan.FromSeconds(1), CancellationToken.None);
        Assert.Equal(firstRound + next.Length, await h.ScalarAsync("SELECT count(*) FROM {b}.runs WHERE status = 'Succeeded'"));
        Assert.Equal(600, await h.ScalarAsync("SELECT coalesce(sum((e->>'upserted')::bigint), 0) FROM {b}.runs r, jsonb_array_elements(r.entities) e"));
        Assert.Equal(600, await h.CountAsync("messages"));
        var last = await Timer(h).RunAsync(new TimerInfo(), CancellationToken.None);
        Assert.NotNull(last); // sharded: the timer still only plans
        Assert.Empty(last);
    }

    [Fact]
    public async Task TwoWorkersOnOneShard_OneWorksIt_TheOtherGetsConflict_AndBothMessagesComplete()
    {
        const int backlog = 2_000;
        using var logs = new RecordingLoggerProvider();
        await using var h = await ArchiveHarness.CreateAsync(s => s["Archive:PageSize"] = "20", services: s => s.AddLogging(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Information)));
        var (queue, poison) = await TestAzurite.Instance.CreateQueueAsync();
        await ShardAsync(h, Shards);
        await WriteIntoShardAsync(h, shard: 2, count: backlog, await h.RedisNowMsAsync() - 60_000);
        var plan = await h.Services.GetRequiredService<ShardFanOut>().PlanAsync(CancellationToken.None);
        var work = Assert.Single(plan.Work);

        // The same stream enqueued twice (two timer ticks before the queue drained): the listener hands both out at
        // once, as two instances would get them.
        await queue.SendMessageAsync(work.ToMessage());
        await queue.SendMessageAsync(work.ToMessage());
        var listener = ShardListener(h, queue, poison);
        await listener.DrainAsync(TimeSpan.FromSeconds(1), CancellationToken.None);

        Assert.Equal(2, listener.Completed);
        Assert.Equal(0, listener.Failed);
        Assert.Equal(0, (await poison.GetPropertiesAsync()).Value.ApproximateMessagesCount);
        var statuses = (await h.QueryAsync("SELECT status FROM {b}.runs WHERE trigger = 'queue'")).Select(r => (string)r["status"]!).Order();
        Assert.Equal([nameof(RunStatus.Conflict), nameof(RunStatus.Succeeded)], statuses);
        Assert.Contains(logs.Records, l => l.EventName == "ShardPassConflict");
        Assert.Equal(backlog, await h.CountAsync("messages"));
        Assert.Equal(backlog, await h.ScalarAsync("SELECT count(DISTINCT id) FROM {t}.messages"));
        Assert.Equal(backlog, await h.Redis.SortedSetLengthAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message.ForShard(2, Shards))));
        Assert.Empty((await h.Services.GetRequiredService<ShardFanOut>().PlanAsync(CancellationToken.None)).Work);
    }

    [Fact]
    public async Task Plan_AStreamHeldByALivePass_IsCountedBusyNotEnqueued()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await ShardAsync(h, 2);
        await WriteIntoShardAsync(h, shard: 0, count: 3, await h.RedisNowMsAsync() - 60_000);
        await WriteIntoShardAsync(h, shard: 1, count: 3, await h.RedisNowMsAsync() - 60_000);
        var store = h.Services.GetRequiredService<CheckpointStore>();
        await store.AcquireAsync(EntityCatalog.Message.ForShard(1, 2), Guid.NewGuid(), CancellationToken.None);

        var plan = await h.Services.GetRequiredService<ShardFanOut>().PlanAsync(CancellationToken.None);

        Assert.Equal([new ShardWork("message", 0, 2)], plan.Work);
        Assert.Equal(1, plan.Busy);
    }

    [Fact]
    public async Task Timer_Unsharded_OrFanOutSwitchedOff_RunsThePassItself()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await WriteMessagesAsync(h, 10);
        Assert.Null(await Timer(h).RunAsync(new TimerInfo(), CancellationToken.None));
        Assert.Equal(10, await h.CountAsync("messages"));

        await ShardAsync(h, Shards);
        await WriteIntoShardAsync(h, shard: 1, count: 5, await h.RedisNowMsAsync() - 60_000, prefix: "s");
        var off = Timer(h, new FunctionsOptions { ArchiveShardQueueDisabled = true });
        Assert.Null(await off.RunAsync(new TimerInfo(), CancellationToken.None));
        Assert.Equal(15, await h.CountAsync("messages"));
        var run = Assert.Single(await h.QueryAsync("SELECT entities FROM {b}.runs ORDER BY started_at DESC LIMIT 1"));
        Assert.Contains("1of4", run["entities"]!.ToString(), StringComparison.Ordinal); // the timer worked every stream

        // Without ArchiveShardQueueName the host could not add the messages (the real host fails the invocation:
        // "'%ArchiveShardQueueName%' does not resolve to a value"), so the timer works every stream itself.
        await WriteIntoShardAsync(h, shard: 2, count: 5, await h.RedisNowMsAsync() - 60_000, prefix: "n");
        var unnamed = Timer(h, new FunctionsOptions { ArchiveQueueName = "nexus-archive-records", ArchiveQueueConnectionConfigured = true });
        Assert.Null(await unnamed.RunAsync(new TimerInfo(), CancellationToken.None));
        Assert.Equal(20, await h.CountAsync("messages"));
    }

    [Fact]
    public async Task ShardPass_BadMessages_AreThrownNamingTheProblem_AndGoToThePoisonQueue()
    {
        using var logs = new RecordingLoggerProvider();
        await using var h = await ArchiveHarness.CreateAsync(services: s => s.AddLogging(b => b.AddProvider(logs)));
        var (queue, poison) = await TestAzurite.Instance.CreateQueueAsync();
        string[] bad = ["not json", """{"entity":"message","shard":4,"of":4}""", """{"entity":"reaction","shard":0,"of":1}""", """{"entity":"message"}"""];
        await Task.WhenAll(bad.Select(m => queue.SendMessageAsync(m)));

        var settings = HostQueueSettings.FromRepositoryHostJson() with { VisibilityTimeout = TimeSpan.Zero };
        var listener = ShardListener(h, queue, poison, settings);
        await listener.DrainAsync(TimeSpan.FromSeconds(1), CancellationToken.None);

        Assert.Equal(bad.Length, listener.Poisoned);
        Assert.Equal(0, listener.Completed);
        Assert.Contains(logs.Records, l => l.EventName == "ShardMessageInvalid" && l.Message.Contains("Unknown entity 'reaction'", StringComparison.Ordinal));
        Assert.Equal(0, await h.ScalarAsync("SELECT count(*) FROM {b}.runs"));
    }

    [Theory]
    [InlineData("""{"entity":"message","shard":3,"of":4}""", null)]
    [InlineData("""{"entity":"user","shard":0,"of":1,"extra":true}""", null)]
    [InlineData("", "empty")]
    [InlineData("not json", "not the JSON expected")]
    [InlineData("""{"entity":"message","shard":"3","of":4}""", "not the JSON expected")]
    [InlineData("""{"entity":"message","of":4}""", "lacks")]
    [InlineData("""{"entity":"message","shard":4,"of":4}""", "shard 4 of 4")]
    [InlineData("""{"entity":"message","shard":0,"of":257}""", "1 to 256")]
    public void Parse_ReadsTheMessage_OrSaysWhatIsWrong(string message, string? problem)
    {
        if (problem is null)
        {
            var work = ShardWork.Parse(message);
            Assert.Equal(message.Replace(""","extra":true""", string.Empty, StringComparison.Ordinal), work.ToMessage());
            var request = work.ToRunRequest("queue");
            Assert.Equal((work.Shard, work.Of), (request.Shard, request.ShardCount));
            return;
        }

        var ex = Assert.Throws<FormatException>(() => ShardWork.Parse(message));
        Assert.Contains(problem, ex.Message, StringComparison.Ordinal);
        Assert.Contains("""{"entity":"message","shard":3,"of":4}""", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, true, false, "ArchiveShardQueueName is missing")]
    [InlineData(null, true, true, null)]
    [InlineData("Nexus_Shards", true, false, "is not a Storage queue name")]
    [InlineData("nexus-archive-records", true, false, "the queue of record events")]
    [InlineData("nexus-archive-shards", false, false, "ArchiveQueue is missing")]
    [InlineData("nexus-archive-shards", false, true, null)]
    [InlineData("nexus-archive-shards", true, false, null)]
    public void ShardQueueSettings_AreCheckedAtStartUp_NamingTheSetting(string? name, bool connection, bool disabled, string? expected)
    {
        var problem = FunctionsOptionsValidator.ValidateShardQueue(new FunctionsOptions
        {
            ArchiveQueueName = "nexus-archive-records",
            ArchiveShardQueueName = name,
            ArchiveQueueConnectionConfigured = connection,
            ArchiveShardQueueDisabled = disabled,
        });
        if (expected is null)
        {
            Assert.Null(problem);
        }
        else
        {
            Assert.Contains(expected, problem, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Worker_WithoutTheShardQueueName_ReportsTheProblemNamingTheSetting()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        using var records = new RecordingLoggerProvider();
        using var worker = BuildWorker(h, records, s => s.Remove("ArchiveShardQueueName"));
        foreach (var check in worker.Services.GetServices<IHostedService>().Where(s => s.GetType().Assembly == typeof(FunctionsHost).Assembly))
        {
            await check.StartAsync(CancellationToken.None);
        }

        var problem = Assert.Single(worker.Services.GetRequiredService<StartupProblems>().Current);
        Assert.StartsWith("ArchiveShardQueueName is missing", problem, StringComparison.Ordinal);
        Assert.Contains(records.Records, r => r.EventName == "ShardQueueInvalid" && r.Level == LogLevel.Critical);
    }

    [Fact]
    public async Task Metrics_OfAShardPass_CarryTheEntityAndTheShard()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await ShardAsync(h, Shards);
        await WriteIntoShardAsync(h, shard: 3, count: 7, await h.RedisNowMsAsync() - 60_000);
        var measurements = new List<(string Instrument, double Value, Dictionary<string, object?> Tags)>();
        // This harness's meter only (the meter factory hands every ArchiveMetrics of one container the same Meter;
        // tests running in parallel have their own).
        var meter = h.Services.GetRequiredService<IMeterFactory>().Create(ArchiveMetrics.MeterName);
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, meter))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var copy = new Dictionary<string, object?>();
            foreach (var tag in tags)
            {
                copy[tag.Key] = tag.Value;
            }

            lock (measurements)
            {
                measurements.Add((instrument.Name, value, copy));
            }
        }

        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        listener.Start();

        await h.Archive.RunAsync(new ShardWork("message", 3, Shards).ToRunRequest("queue"), CancellationToken.None);

        List<(string Instrument, double Value, Dictionary<string, object?> Tags)> seen;
        lock (measurements)
        {
            seen = [.. measurements];
        }

        var rows = seen.Where(m => m.Instrument == "nexus_archive.rows_archived" && m.Value > 0).ToList();
        Assert.NotEmpty(rows);
        Assert.All(rows, m => Assert.Equal(("message", "3of4"), ((string?)m.Tags["entity"], (string?)m.Tags.GetValueOrDefault("shard"))));
        Assert.Equal(7, rows.Sum(m => m.Value));
        Assert.Contains(seen, m => m.Instrument == "nexus_archive.lag" && (string?)m.Tags.GetValueOrDefault("shard") == "3of4" && (string?)m.Tags["entity"] == "message");
        Assert.Contains(seen, m => m.Instrument == "nexus_archive.redis.commands" && (string?)m.Tags.GetValueOrDefault("shard") == "3of4");
    }

    [Theory]
    [InlineData(0, 0, false, false, false)] // never written
    [InlineData(5, 0, false, false, true)] // written, no mark (never archived, or the last pass did not succeed)
    [InlineData(5, 0, true, false, false)] // the mark holds: quiet
    [InlineData(6, 0, true, false, true)] // written since the mark
    [InlineData(5, 1, true, false, true)] // entries due after the checkpoint
    [InlineData(5, 0, true, true, true)] // a draining stream that still holds entries
    public void HasWork_FollowsTheQuietMark_TheDueEntries_AndTheDrain(long writes, long due, bool marked, bool draining, bool expected)
    {
        var checkpoint = new ChangeCursor(1_000, "m-1"u8.ToArray());
        var count = new WriteCount(writes, writes);
        var state = new CheckpointState("message.1of4", checkpoint, Leased: false, marked ? new QuietMark(new WriteCount(5, 5), checkpoint) : null);
        Assert.Equal(expected, ShardFanOut.HasWork(state, new StreamBacklog(count, Late: 0, Due: due), quietPasses: true, draining));
        Assert.True(ShardFanOut.HasWork(state, new StreamBacklog(count, Late: 1, Due: 0), quietPasses: true, draining: false)); // a late write
        Assert.Equal(due > 0, ShardFanOut.HasWork(state, new StreamBacklog(count, Late: 0, Due: due), quietPasses: false, draining: false));
    }

    private static Task ShardAsync(ArchiveHarness h, int count) => h.Redis.HashSetAsync($"{h.Prefix}:archive:shards", "message", count);

    /// <summary>Writes <paramref name="count"/> messages whose ids fall into <paramref name="shard"/> of <see cref="Shards"/>.</summary>
    private static Task WriteIntoShardAsync(ArchiveHarness h, int shard, int count, long atMs, string prefix = "m", int of = Shards)
    {
        var ids = Enumerable.Range(0, int.MaxValue).Select(i => $"{prefix}-{i:D6}").Where(id => ChangeShard.IndexOf(id, of) == shard).Take(count).ToList();
        return h.WriteMessagesAsync(count, i => ids[i], atMs, stepMs: 1, content: _ => "hi");
    }

    private static QueueHostListener ShardListener(ArchiveHarness h, QueueClient queue, QueueClient poison, HostQueueSettings? settings = null)
    {
        var function = ShardPass(h);
        return new QueueHostListener(queue, poison, settings ?? HostQueueSettings.FromRepositoryHostJson(), (m, ct) => function.RunAsync(m.Body.ToString(), FunctionsTestKit.QueueContext(m), ct));
    }
}
