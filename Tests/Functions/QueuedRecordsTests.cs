using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Entities;
using NexusArchive.Functions;
using NexusArchive.Tests.Infrastructure;
using Xunit.Abstractions;

namespace NexusArchive.Tests.Functions;

/// <summary>
/// Event-driven archiving end to end on real servers: events in an Azurite queue, the host's listener played with
/// host.json's settings (<see cref="QueueHostListener"/>), <see cref="ArchiveQueuedRecordsFunction"/> activated from the
/// container, redis-server and PostgreSQL behind it.
/// </summary>
public sealed class QueuedRecordsTests(ITestOutputHelper output)
{
    [Fact]
    public async Task TenThousandQueuedEvents_WithDuplicates_AreAllArchived_AndBatched()
    {
        using var logs = new RecordingLoggerProvider();
        await using var h = await ArchiveHarness.CreateAsync(services: s => s.AddLogging(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Information)));
        var (queue, poison) = await TestAzurite.Instance.CreateQueueAsync();
        const int records = 10_000;
        await FunctionsTestKit.WriteMessagesAsync(h, records, prefix: "m", ageMs: 1_000);
        // 10,000 events and 500 duplicates: 1,000 one-event messages and the rest 100 to a message, because Azurite (one
        // node process) manages ~150 queue operations a second here, and slows further with a deep queue.
        static string Event(int i) => $$"""{"entity":"message","id":"m-{{i:D6}}"}""";
        var events = Enumerable.Range(0, 1_000).Select(Event)
            .Concat(Enumerable.Range(0, 90).Select(k => $$"""{"records":[{{string.Join(",", Enumerable.Range(1_000 + (k * 100), 100).Select(Event))}}]}"""))
            .Concat(Enumerable.Range(0, 5).Select(k => $$"""{"records":[{{string.Join(",", Enumerable.Range(0, 100).Select(i => Event((i * 97) + k)))}}]}"""))
            .ToList();
        // The app enqueues while the function drains, as in production (Azurite slows down with a deep queue).
        var listener = Listener(h, queue, poison);
        var started = TimeProvider.System.GetTimestamp();
        await listener.DrainAsync(TimeSpan.FromSeconds(2), CancellationToken.None, producer: SendAllAsync(queue, events));
        output.WriteLine($"{events.Count} messages (10,500 events) in {TimeProvider.System.GetElapsedTime(started).TotalSeconds:F1} s");

        Assert.Equal(events.Count, listener.Completed);
        Assert.Equal(0, listener.Failed);
        Assert.Equal(records, await h.CountAsync("messages"));
        Assert.Equal(0, await h.ScalarAsync("SELECT count(*) FROM {b}.dead_letters"));
        Assert.Equal(0, (await queue.GetPropertiesAsync()).Value.ApproximateMessagesCount);
        Assert.Equal(0, (await poison.GetPropertiesAsync()).Value.ApproximateMessagesCount);

        // Grouped: far fewer commits than events (one ArchiveRecords call per batch that formed while the previous committed).
        var calls = logs.Records.Count(l => l.EventName == "RecordsArchived");
        Assert.InRange(calls, 1, events.Count / 2);

        // Checkpoint untouched: the timer pass still owns it, and finds everything archived already.
        Assert.Equal(0, await h.ScalarAsync("SELECT count(*) FROM {b}.checkpoints WHERE entity = 'message' AND score > 0"));
        var pass = await h.RunAsync("message");
        Assert.Equal(0, pass.Entities.Sum(e => e.Upserted));
    }

    [Fact]
    public async Task PoisonMessages_EndInThePoisonQueue_WithADeadLetter_AndTheRestStillLands()
    {
        using var logs = new RecordingLoggerProvider();
        await using var h = await ArchiveHarness.CreateAsync(services: s => s.AddLogging(b => b.AddProvider(logs)));
        var (queue, poison) = await TestAzurite.Instance.CreateQueueAsync();
        var now = await h.RedisNowMsAsync();
        await h.WriteMessageAsync("m-good", now - 1_000);
        await SendAllAsync(queue, ["not json at all", """{"entity":"reaction","id":"r-1"}""", """{"entity":"message","id":"m-good"}""", """{"entity":"message","id":"m-never-written"}"""]);

        var settings = HostQueueSettings.FromRepositoryHostJson() with { VisibilityTimeout = TimeSpan.Zero };
        var listener = Listener(h, queue, poison, settings);
        await listener.DrainAsync(TimeSpan.FromSeconds(2), CancellationToken.None);

        Assert.Equal(2, listener.Poisoned);
        Assert.Equal(2 * settings.MaxDequeueCount, listener.Failed);
        var poisoned = (await poison.ReceiveMessagesAsync(32)).Value.Select(m => m.Body.ToString()).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["not json at all", """{"entity":"reaction","id":"r-1"}"""], poisoned);

        // One dead letter per message, however often it was retried, with its text and the reason.
        var letters = await h.QueryAsync(
            "SELECT redis_key, reason_category, reason, raw_fields->0->>1 AS body, attempts FROM {b}.dead_letters WHERE entity = 'queue' ORDER BY body");
        Assert.Equal(2, letters.Count);
        Assert.All(letters, l => Assert.Equal(queue.Name, l["redis_key"]));
        Assert.All(letters, l => Assert.Equal(RecordEventProcessor.DeadLetterCategory, l["reason_category"]));
        Assert.Equal("not json at all", letters[0]["body"]);
        Assert.Contains("not JSON", (string)letters[0]["reason"]!, StringComparison.Ordinal);
        Assert.Contains("'reaction'", (string)letters[1]["reason"]!, StringComparison.Ordinal);
        Assert.All(letters, l => Assert.Equal(1, l["attempts"]));
        Assert.Equal(1, await h.CountAsync("messages"));
        Assert.Contains(logs.Records, l => l.EventName == "RecordEventRejected");
    }

    [Fact]
    public async Task ALostEvent_IsArchivedByTheNextTimerPass_AndALateDuplicateIsHarmless()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var (queue, poison) = await TestAzurite.Instance.CreateQueueAsync();
        var now = await h.RedisNowMsAsync();
        await h.WriteMessageAsync("m-lost", now - 60_000, content: "v1");   // the app wrote it; its event never reached the queue

        var pass = await h.RunAsync("message");
        Assert.Equal(1, pass.Entities.Sum(e => e.Upserted));
        Assert.Equal("v1", (string)(await h.QueryAsync("SELECT content FROM {t}.messages WHERE id = 'm-lost'"))[0]["content"]!);

        // The event turns up after all (a redelivery): archived already, nothing regresses.
        await h.WriteMessageAsync("m-lost", now - 30_000, content: "v2");
        await h.RunAsync("message");
        await SendAllAsync(queue, ["""{"entity":"message","id":"m-lost"}"""]);
        var results = new List<RecordResult>();
        var listener = Listener(h, queue, poison, function: async (m, ct) => results.AddRange(await Processor(h).ProcessAsync(new(queue.Name, m.MessageId, m.Body.ToString(), m.DequeueCount), ct)));
        await listener.DrainAsync(TimeSpan.FromSeconds(1), CancellationToken.None);
        Assert.Equal(RecordOutcome.Unchanged, Assert.Single(results).Outcome);
        Assert.Equal("v2", (string)(await h.QueryAsync("SELECT content FROM {t}.messages WHERE id = 'm-lost'"))[0]["content"]!);
    }

    [Fact]
    public void Parse_AcceptsOneNamedRecord_AndSaysWhatIsWrongOtherwise()
    {
        Assert.Equal([new RecordRef("user", "u-1")], RecordEventProcessor.Parse("""{"entity":"user","id":"u-1","extra":1}""", EntityCatalog.Default).Records);
        Assert.Equal(
            [new RecordRef("user", "u-1"), new RecordRef("message", "m-1")],
            RecordEventProcessor.Parse("""{"records":[{"entity":"user","id":"u-1"},{"entity":"message","id":"m-1"}]}""", EntityCatalog.Default).Records);
        Assert.Contains("records[1]: \"entity\"", RecordEventProcessor.Parse("""{"records":[{"entity":"user","id":"u-1"},{"id":"m-1"}]}""", EntityCatalog.Default).Problem, StringComparison.Ordinal);
        Assert.Contains("1 to 100", RecordEventProcessor.Parse("""{"records":[]}""", EntityCatalog.Default).Problem, StringComparison.Ordinal);
        Assert.Contains("empty", RecordEventProcessor.Parse(" ", EntityCatalog.Default).Problem, StringComparison.Ordinal);
        Assert.Contains("not base64", RecordEventProcessor.Parse("eyJlbnRpdHkiOiJ1c2VyIn0=", EntityCatalog.Default).Problem, StringComparison.Ordinal);
        Assert.Contains("not a JSON object", RecordEventProcessor.Parse("[1]", EntityCatalog.Default).Problem, StringComparison.Ordinal);
        Assert.Contains("got none", RecordEventProcessor.Parse("""{"id":"u-1"}""", EntityCatalog.Default).Problem, StringComparison.Ordinal);
        Assert.Contains("\"id\"", RecordEventProcessor.Parse("""{"entity":"user","id":""}""", EntityCatalog.Default).Problem, StringComparison.Ordinal);
        Assert.Contains("\"id\"", RecordEventProcessor.Parse("""{"entity":"user","id":7}""", EntityCatalog.Default).Problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, true, false, "ArchiveQueueName is missing")]
    [InlineData("Nexus_Records", true, false, "is not a Storage queue name")]
    [InlineData("ab", true, false, "is not a Storage queue name")]
    [InlineData("nexus--records", true, false, "is not a Storage queue name")]
    [InlineData("nexus-archive-records", false, false, "ArchiveQueue is missing")]
    [InlineData("nexus-archive-records", true, false, null)]
    [InlineData(null, false, true, null)]
    public void QueueSettings_AreCheckedAtStartUp_NamingTheSetting(string? name, bool connection, bool disabled, string? expected)
    {
        var problem = FunctionsOptionsValidator.ValidateQueue(new FunctionsOptions { ArchiveQueueName = name, ArchiveQueueConnectionConfigured = connection, ArchiveQueueDisabled = disabled });
        if (expected is null)
        {
            Assert.Null(problem);
        }
        else
        {
            Assert.Contains(expected, problem, StringComparison.Ordinal);
        }
    }

    private static RecordEventProcessor Processor(ArchiveHarness h) => h.Services.GetRequiredService<RecordEventProcessor>();

    private static QueueHostListener Listener(ArchiveHarness h, QueueClient queue, QueueClient poison, HostQueueSettings? settings = null, Func<QueueMessage, CancellationToken, Task>? function = null)
    {
        var archiveQueued = new ArchiveQueuedRecordsFunction(Processor(h), Options.Create(new FunctionsOptions { ArchiveQueueName = queue.Name }));
        return new QueueHostListener(queue, poison, settings ?? HostQueueSettings.FromRepositoryHostJson(), function ?? ((m, ct) => archiveQueued.RunAsync(m.Body.ToString(), FunctionsTestKit.QueueContext(m), ct)));
    }

    private static async Task SendAllAsync(QueueClient queue, IReadOnlyList<string> bodies)
    {
        using var gate = new SemaphoreSlim(32);
        await Task.WhenAll(bodies.Select(async body =>
        {
            await gate.WaitAsync();
            try
            {
                await queue.SendMessageAsync(body);
            }
            finally
            {
                gate.Release();
            }
        }));
    }
}
