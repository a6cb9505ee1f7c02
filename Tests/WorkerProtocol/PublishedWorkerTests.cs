using System.Diagnostics;
using System.Net;
using System.Text.Json;
using NexusArchive.Core.Archiving;
using NexusArchive.Tests.Functions;
using NexusArchive.Tests.Infrastructure;
using NexusArchive.Tests.WorkerProtocol.Messages;
using Xunit.Abstractions;

namespace NexusArchive.Tests.WorkerProtocol;

/// <summary>
/// The published Functions app under a stand-in Functions host, over the host ↔ worker gRPC protocol, against the real
/// test Redis and PostgreSQL. The other Functions tests call the function classes directly; only this one runs the
/// worker's own invocation path (gRPC message → GrpcFunctionInvocation → middleware → function), which is where a
/// mismatch of the Microsoft.Azure.Functions.Worker packages shows up (MissingMethodException on every invocation).
/// </summary>
public sealed class PublishedWorkerTests(ITestOutputHelper output)
{
    /// <summary>The whole test: publish (a copy of the current build), worker start-up, indexing, loading, three invocations.</summary>
    private static readonly TimeSpan s_budget = TimeSpan.FromSeconds(120);

    private static readonly string[] s_expectedFunctions = ["ArchiveOffloadTimer", "ArchiveQueuedRecords", "ArchiveRestoreSession", "ArchiveRun", "ArchiveShardPass", "ArchiveStatus", "ArchiveTimer", "ArchiveVerify", "ArchiveVerifyTimer"];

    /// <summary>The TimerInfo the host sends a timer-triggered function (serialized by the host's timer extension).</summary>
    private const string TimerTriggerJson = """{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}""";

    private const int SeededMessages = 25;

    private const int FannedMessages = 12;

    [Fact]
    public async Task PublishedWorker_DrivenOverTheHostProtocol_IndexesLoadsAndRunsTheTimerPassStatusAndSessionRestore()
    {
        using var budget = new CancellationTokenSource(s_budget);
        var clock = Stopwatch.StartNew();
        await using var h = await ArchiveHarness.CreateAsync();
        await FunctionsTestKit.WriteMessagesAsync(h, SeededMessages);
        var app = await PublishedFunctionsApp.GetAsync(budget.Token);
        Step(clock, $"published to {app.Folder}");

        // What the host reads before it starts anything: a dotnet-isolated worker that indexes its own functions.
        Assert.Equal("dotnet-isolated", app.Language);
        Assert.True(app.WorkerIndexing, "worker.config.json does not enable workerIndexing: the host would not ask the worker for its functions.");

        // App settings as the host hands them to the worker: the harness's archive (its Redis prefix and schemas) and a schedule.
        var appSettings = new Dictionary<string, string?>(h.Settings)
        {
            ["AzureWebJobsStorage"] = "UseDevelopmentStorage=true",
            ["ArchiveSchedule"] = "0 */5 * * * *",
            ["VerifySchedule"] = "0 15 * * * *",
            ["OffloadSchedule"] = "0 30 3 * * *",
            ["ArchiveQueueName"] = "nexus-archive-records",
            ["ArchiveQueue"] = "UseDevelopmentStorage=true",
            ["ArchiveShardQueueName"] = "nexus-archive-shards",
        };
        await using var host = await HostSession.StartAsync(app, appSettings, s_budget, budget.Token);
        Step(clock, "worker started and opened its event stream");

        var init = await host.InitializeAsync();
        Step(clock, $"WorkerInitResponse: Success, worker {init.WorkerMetadata?.WorkerVersion}, {init.Capabilities.Count} capabilities");
        var functions = (await host.IndexFunctionsAsync()).ToDictionary(f => f.Name);
        Assert.Superset(s_expectedFunctions.ToHashSet(), functions.Keys.ToHashSet());
        foreach (var function in functions.Values)
        {
            await host.LoadAsync(function);
        }

        Step(clock, $"indexed and loaded {string.Join(", ", functions.Keys.Order(StringComparer.Ordinal))}");

        // The timer, as the host fires it: the TimerInfo JSON under the trigger binding's name.
        var timer = functions["ArchiveTimer"];
        var timerBinding = Assert.Single(HostSession.RawBindings(timer), b => b.Info.Type.Equals("timerTrigger", StringComparison.OrdinalIgnoreCase));
        var timerRun = await host.InvokeAsync(timer, new ParameterBinding { Name = timerBinding.Name, Data = new TypedData { Json = TimerTriggerJson } });
        host.RequireSuccess(timerRun, "ArchiveTimer");
        Step(clock, "ArchiveTimer invocation: Success");

        Assert.Equal(SeededMessages, await h.CountAsync("messages"));
        var run = Assert.Single(await h.QueryAsync("SELECT trigger, status FROM {b}.runs"));
        Assert.Equal("timer", run["trigger"]);
        Assert.Equal(nameof(RunStatus.Succeeded), run["status"]);

        // GET /api/archive/status through the ASP.NET Core integration: InvocationRequest over gRPC, the request itself
        // forwarded to the worker's listener. It reports the timer's run.
        var (statusCode, body) = await host.InvokeHttpAsync(functions["ArchiveStatus"], HttpMethod.Get);
        Assert.True(statusCode == HttpStatusCode.OK, $"ArchiveStatus answered {(int)statusCode}: {body}");
        using var status = JsonDocument.Parse(body);
        var recent = Assert.Single(status.RootElement.GetProperty("recentRuns").EnumerateArray());
        Assert.Equal("timer", recent.GetProperty("trigger").GetString());
        Assert.Equal(nameof(RunStatus.Succeeded), recent.GetProperty("status").GetString());
        Step(clock, $"ArchiveStatus invocation: Success, HTTP {(int)statusCode}");

        // POST /api/archive/sessions/{id}/restore: the route value reaches the function's `string id` parameter through
        // the trigger metadata. The timer archived the seeded messages of session s-1; they are still in Redis.
        var (restoreCode, restoreBody) = await host.InvokeHttpAsync(functions["ArchiveRestoreSession"], HttpMethod.Post, new Dictionary<string, string> { ["id"] = "s-1" });
        Assert.True(restoreCode == HttpStatusCode.OK, $"ArchiveRestoreSession answered {(int)restoreCode}: {restoreBody}");
        using var restore = JsonDocument.Parse(restoreBody);
        Assert.Equal("s-1", restore.RootElement.GetProperty("scope").GetProperty("id").GetString());
        Assert.Equal(SeededMessages, restore.RootElement.GetProperty("skipped").GetInt64());
        Step(clock, $"ArchiveRestoreSession invocation: Success, HTTP {(int)restoreCode}");

        // The queue trigger as the host declares and fires it: queue name from the app setting, its own connection, the
        // message text as a string and the message's Id and DequeueCount as trigger metadata.
        var queued = functions["ArchiveQueuedRecords"];
        var queueBinding = Assert.Single(HostSession.RawBindings(queued), b => b.Info.Type.Equals("queueTrigger", StringComparison.OrdinalIgnoreCase));
        var declared = string.Join(", ", queued.RawBindings);
        Assert.Contains("\"queueName\":\"%ArchiveQueueName%\"", declared, StringComparison.Ordinal);
        Assert.Contains("\"connection\":\"ArchiveQueue\"", declared, StringComparison.Ordinal);
        var metadata = new Dictionary<string, TypedData> { ["Id"] = new() { String = "msg-1" }, ["DequeueCount"] = new() { Json = "1" } };
        var archived = await host.InvokeAsync(queued, metadata, new ParameterBinding { Name = queueBinding.Name, Data = new TypedData { String = """{"entity":"message","id":"m-000000"}""" } });
        host.RequireSuccess(archived, "ArchiveQueuedRecords");
        var refused = await host.InvokeAsync(queued, metadata, new ParameterBinding { Name = queueBinding.Name, Data = new TypedData { String = "not json" } });
        Assert.NotEqual(StatusResult.Types.Status.Success, refused.Result.Status);
        Assert.Equal("msg-1", Assert.Single(await h.QueryAsync("SELECT record_id FROM {b}.dead_letters WHERE entity = 'queue'"))["record_id"]);
        Step(clock, "ArchiveQueuedRecords invocations: Success for an event, Failure (and a dead letter) for a message that names no record");

        // Fan-out over shards: the timer declares its queue output as the host reads it, and once the message entity is
        // sharded it returns one message per stream with work (the host adds each to the queue) instead of running the
        // pass; ArchiveShardPass works each stream as the host delivers the message.
        var timerDeclared = string.Join(", ", timer.RawBindings);
        var output = Assert.Single(HostSession.RawBindings(timer), b => b.Info.Type.Equals("queue", StringComparison.OrdinalIgnoreCase));
        Assert.Equal("$return", output.Name);
        Assert.Equal(BindingInfo.Types.Direction.Out, output.Info.Direction);
        Assert.Contains("\"queueName\":\"%ArchiveShardQueueName%\"", timerDeclared, StringComparison.Ordinal);
        var shardPass = functions["ArchiveShardPass"];
        var shardDeclared = string.Join(", ", shardPass.RawBindings);
        Assert.Contains("\"queueName\":\"%ArchiveShardQueueName%\"", shardDeclared, StringComparison.Ordinal);
        Assert.Contains("\"connection\":\"ArchiveQueue\"", shardDeclared, StringComparison.Ordinal);

        await h.Redis.HashSetAsync($"{h.Prefix}:archive:shards", "message", 2);
        await h.WriteMessagesAsync(FannedMessages, i => $"f-{i:D3}", await h.RedisNowMsAsync() - 30_000, stepMs: 1, content: _ => "fan");
        var fanned = await host.InvokeAsync(timer, new ParameterBinding { Name = timerBinding.Name, Data = new TypedData { Json = TimerTriggerJson } });
        host.RequireSuccess(fanned, "ArchiveTimer (fan-out)");
        // The worker sends a string[] return value as a JSON array of strings; the host adds each element to the queue
        // as one message (docs/functions.md records the run under the real host).
        Assert.True(fanned.ReturnValue?.DataCase == TypedData.DataOneofCase.Json, $"the timer's return value is not JSON: {fanned.ReturnValue}");
        var enqueued = JsonSerializer.Deserialize<List<string>>(fanned.ReturnValue.Json)!;
        Assert.Equal(
            ["""{"entity":"message","shard":0,"of":1}""", """{"entity":"message","shard":0,"of":2}""", """{"entity":"message","shard":1,"of":2}"""],
            enqueued);
        Assert.Equal(SeededMessages, await h.CountAsync("messages")); // the timer did no pass itself
        Step(clock, $"ArchiveTimer with message sharded in 2: returned {enqueued.Count} fan-out messages for its queue output");

        var shardBinding = Assert.Single(HostSession.RawBindings(shardPass), b => b.Info.Type.Equals("queueTrigger", StringComparison.OrdinalIgnoreCase));
        foreach (var (text, i) in enqueued.Select((m, i) => (m, i)))
        {
            var shardMetadata = new Dictionary<string, TypedData> { ["Id"] = new() { String = $"shard-{i}" }, ["DequeueCount"] = new() { Json = "1" } };
            host.RequireSuccess(await host.InvokeAsync(shardPass, shardMetadata, new ParameterBinding { Name = shardBinding.Name, Data = new TypedData { String = text } }), $"ArchiveShardPass {text}");
        }

        Assert.Equal(SeededMessages + FannedMessages, await h.CountAsync("messages"));
        var queueRuns = await h.QueryAsync("SELECT status FROM {b}.runs WHERE trigger = 'queue'");
        Assert.Equal(enqueued.Count, queueRuns.Count);
        Assert.All(queueRuns, r => Assert.Equal(nameof(RunStatus.Succeeded), r["status"]));
        var badShard = await host.InvokeAsync(shardPass, metadata, new ParameterBinding { Name = shardBinding.Name, Data = new TypedData { String = """{"entity":"message","shard":5,"of":2}""" } });
        Assert.NotEqual(StatusResult.Types.Status.Success, badShard.Result.Status);
        Step(clock, "ArchiveShardPass invocations: Success for each stream (runs with trigger queue), Failure for a message that names no stream");
    }

    private void Step(Stopwatch clock, string what) => output.WriteLine($"{clock.Elapsed.TotalSeconds,6:F1} s  {what}");
}
