using System.Text.Json;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Sink;
using NexusArchive.Tests.Infrastructure;
using static NexusArchive.Tests.Functions.FunctionsTestKit;

namespace NexusArchive.Tests.Functions;

/// <summary>The function classes against real redis-server and PostgreSQL.</summary>
public sealed class ArchiveFunctionsTests
{
    [Fact]
    public async Task Timer_PastDue_RunsAPassRecordedAsTimer()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await WriteMessagesAsync(h, 120);

        await Timer(h).RunAsync(new TimerInfo { IsPastDue = true }, CancellationToken.None);

        Assert.Equal(120, await h.CountAsync("messages"));
        var run = Assert.Single(await h.QueryAsync("SELECT trigger, status FROM {b}.runs"));
        Assert.Equal("timer", run["trigger"]);
        Assert.Equal(nameof(RunStatus.Succeeded), run["status"]);
    }

    [Fact]
    public async Task Timer_BacklogBeyondTimeBudget_StopsBetweenPagesAndNextTickContinues()
    {
        // Every reading of the pass's clock moves one second on: a 2.5 s budget lets exactly one page through per pass.
        await using var h = await ArchiveHarness.CreateAsync(
            s =>
            {
                s["Archive:PageSize"] = "10";
                s["Archive:TimeBudget"] = "00:00:02.500";
                s["Archive:Entities:0"] = "message";
                s["Archive:LookbackOverlap"] = "00:00:00"; // else each pass would spend its one page re-reading the overlap
            },
            // Only the pass's own clock steps: the resilience pipelines read the clock too, and must not eat the budget.
            services: s => s.AddSingleton(sp => ArchiveHarness.ArchiveServiceWithClock(sp, new SteppingTimeProvider())));
        await WriteMessagesAsync(h, 30);
        var timer = Timer(h);

        await timer.RunAsync(new TimerInfo(), CancellationToken.None);

        var first = Assert.Single(await h.QueryAsync("SELECT status FROM {b}.runs"));
        Assert.Equal(nameof(RunStatus.Partial), first["status"]);
        Assert.Equal(10, await h.CountAsync("messages"));

        await timer.RunAsync(new TimerInfo(), CancellationToken.None);
        await timer.RunAsync(new TimerInfo(), CancellationToken.None);
        await timer.RunAsync(new TimerInfo(), CancellationToken.None);

        Assert.Equal(30, await h.CountAsync("messages"));
        Assert.Equal(30, await h.ScalarAsync("SELECT count(DISTINCT id) FROM {t}.messages"));
        var statuses = (await h.QueryAsync("SELECT status FROM {b}.runs ORDER BY started_at")).Select(r => (string)r["status"]!);
        Assert.Equal("Partial", statuses.ElementAt(1));
        Assert.Equal("Succeeded", statuses.Last());
    }

    /// <summary>A monotonic clock that advances one second per reading (wall-clock time stays real).</summary>
    private sealed class SteppingTimeProvider : TimeProvider
    {
        private long _timestamp;

        public override long GetTimestamp() => Interlocked.Add(ref _timestamp, TimestampFrequency);
    }

    [Fact]
    public async Task Kick_ValidBody_Returns200WithRunSummary()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await WriteMessagesAsync(h, 50);

        var result = await Http(h).RunAsync(Post("""{"entities":["message"],"maxDuration":"00:01:00"}"""), CancellationToken.None);

        var (status, body) = await ExecuteAsync(result);
        Assert.Equal(200, status);
        Assert.Equal("http", body.Str("trigger"));
        Assert.Equal("Succeeded", body.Str("status"));
        Assert.True(Guid.TryParse(body.Str("runId"), out _));
        Assert.Equal(50, body.GetProperty("totalUpserted").GetInt64());
        var entity = Assert.Single(body.GetProperty("entities").EnumerateArray());
        Assert.Equal("message", entity.Str("entity"));
        Assert.Equal(50, entity.GetProperty("read").GetInt64());
        Assert.Equal(50, await h.CountAsync("messages"));
    }

    [Fact]
    public async Task Kick_NoBodyEntitiesInQuery_RunsOnlyThoseEntities()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await WriteMessagesAsync(h, 5);

        var (status, body) = await ExecuteAsync(await Http(h).RunAsync(Post(query: "?entities=user,message"), CancellationToken.None));

        Assert.Equal(200, status);
        Assert.Equal(["user", "message"], body.GetProperty("entities").EnumerateArray().Select(e => e.Str("entity")));
        Assert.Equal(5, await h.CountAsync("messages"));
    }

    [Theory]
    [InlineData("""{"entities":["message"]""", "not a valid JSON request")]
    [InlineData("""{"entities":"message"}""", "wrong type at $.entities")]
    [InlineData("""{"entity":["message"]}""", "'entity' is not a known property")]
    [InlineData("""[1,2]""", "not a valid JSON request")]
    [InlineData("""{"entities":["message","reaction"]}""", "Unknown entity 'reaction'")]
    [InlineData("""{"maxDuration":"soon"}""", "maxDuration 'soon'")]
    [InlineData("""{"maxDuration":"-00:00:05"}""", "maxDuration '-00:00:05'")]
    public async Task Kick_BadBody_Returns400NamingTheProblemAndRunsNothing(string body, string expected)
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await WriteMessagesAsync(h, 5);

        var (status, json) = await ExecuteAsync(await Http(h).RunAsync(Post(body), CancellationToken.None));

        Assert.Equal(400, status);
        Assert.Contains(expected, json.Str("detail"), StringComparison.Ordinal);
        Assert.Equal(0, await h.ScalarAsync("SELECT count(*) FROM {b}.runs"));
        Assert.Equal(0, await h.CountAsync("messages"));
    }

    [Fact]
    public async Task Kick_DatabaseNotMigrated_Returns500WithRedactedError()
    {
        await using var h = await ArchiveHarness.CreateAsync(migrate: false);

        var (status, body) = await ExecuteAsync(await Http(h).RunAsync(Post(), CancellationToken.None));

        Assert.Equal(500, status);
        Assert.Equal("Failed", body.Str("status"));
        var error = body.Str("error");
        Assert.False(string.IsNullOrWhiteSpace(error));
        Assert.DoesNotContain("Host=", error, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Verify_AfterAPass_ReportsOkAndThenTheGapOfALostRow()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await WriteMessagesAsync(h, 20);
        await Http(h).RunAsync(Post("""{"entities":["message"]}"""), CancellationToken.None);

        var (status, body) = await ExecuteAsync(await Verify(h).VerifyAsync(Get("/api/archive/verify?entity=message"), CancellationToken.None));
        Assert.Equal(200, status);
        Assert.True(body.GetProperty("ok").GetBoolean());

        await h.QueryAsync("DELETE FROM {t}.messages WHERE id = (SELECT min(id) FROM {t}.messages) RETURNING id");
        (status, body) = await ExecuteAsync(await Verify(h).VerifyAsync(Get("/api/archive/verify?entity=message"), CancellationToken.None));
        Assert.Equal(200, status);
        Assert.False(body.GetProperty("ok").GetBoolean());
        Assert.Equal(1, body.GetProperty("gaps").GetInt64());
    }

    [Fact]
    public async Task Verify_UnknownEntity_Returns400InTheCallersWords()
    {
        await using var h = await ArchiveHarness.CreateAsync();

        var (status, body) = await ExecuteAsync(await Verify(h).VerifyAsync(Get("/api/archive/verify?entity=reaction"), CancellationToken.None));

        Assert.Equal(400, status);
        Assert.Equal("Unknown entity 'reaction'. Known entities: user, session, message, attachment.", body.Str("detail"));
        Assert.DoesNotContain("Parameter", body.Str("detail"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_SessionScope_SpellsEnumsAsWords()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await WriteMessagesAsync(h, 3);

        var (status, body) = await ExecuteAsync(await Verify(h).VerifyAsync(Get("/api/archive/verify?entity=message"), CancellationToken.None));

        Assert.Equal(200, status);
        Assert.Equal(JsonValueKind.String, body.GetProperty("scope").GetProperty("kind").ValueKind);
        Assert.Equal("All", body.GetProperty("scope").Str("kind"));
    }

    [Fact]
    public async Task Kick_OneEntityHeldByAnotherPass_Answers200WithEachEntitysStatus_AndOnlyAllHeldAnswers409()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await WriteMessagesAsync(h, 5);
        await h.WriteAsync(EntityCatalog.User, "u-1", await h.RedisNowMsAsync() - 60_000, ("displayName", "Ada"), ("createdAt", "1700000000000"));
        var sink = h.Services.GetRequiredService<IArchiveSink>();
        var otherPass = Guid.NewGuid();
        await sink.AcquireAsync(EntityCatalog.Message, otherPass, CancellationToken.None); // a live pass elsewhere holds message

        var (mixed, mixedBody) = await ExecuteAsync(await Http(h).RunAsync(Post("""{"entities":["user","message"]}"""), CancellationToken.None));
        var (allHeld, allHeldBody) = await ExecuteAsync(await Http(h).RunAsync(Post("""{"entities":["message"]}"""), CancellationToken.None));

        Assert.Equal(200, mixed);
        Assert.Equal("Partial", mixedBody.Str("status"));
        var entities = mixedBody.GetProperty("entities").EnumerateArray().ToDictionary(e => e.Str("entity"), e => e.Str("status"));
        Assert.Equal("Succeeded", entities["user"]);
        Assert.Equal("Conflict", entities["message"]);
        Assert.Equal(1, await h.CountAsync("users"));
        Assert.Equal(409, allHeld);
        Assert.Equal("Conflict", allHeldBody.Str("status"));
        Assert.Equal(0, await h.CountAsync("messages"));
    }

    [Fact]
    public async Task Kick_TwoConcurrentKicksOverABacklog_Answer409OnlyWhenNothingWasWorked()
    {
        await using var h = await ArchiveHarness.CreateAsync(s => s["Archive:PageSize"] = "50");
        await WriteMessagesAsync(h, 3000);
        var now = await h.RedisNowMsAsync();
        for (var i = 0; i < 200; i++)
        {
            await h.WriteAsync(EntityCatalog.User, $"u-{i:D4}", now - 60_000 + i, ("displayName", "User"), ("createdAt", "1700000000000"));
        }

        var kicks = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
            await ExecuteAsync(await Http(h).RunAsync(Post("""{"entities":["user","message"]}"""), CancellationToken.None)))));

        foreach (var (status, body) in kicks)
        {
            var statuses = body.GetProperty("entities").EnumerateArray().Select(e => e.Str("status")).ToList();
            var nothingWorked = statuses.All(s => s is "Conflict" or "Skipped");
            Assert.True(nothingWorked == (status == 409), $"HTTP {status} with entity statuses {string.Join(",", statuses)}");
            var expected = status == 409 ? "Conflict" : statuses.Contains("Conflict") ? "Partial" : "Succeeded";
            Assert.Equal(expected, body.Str("status"));
        }

        Assert.Contains(kicks, k => k.StatusCode == 200);
        await Http(h).RunAsync(Post("""{"entities":["user","message"]}"""), CancellationToken.None);
        Assert.Equal(3000, await h.CountAsync("messages"));
        Assert.Equal(200, await h.CountAsync("users"));
    }

    [Fact]
    public async Task Status_AfterAKick_ReturnsCheckpointsLagBacklogRunsAndDeadLetters()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await WriteMessagesAsync(h, 20);
        var functions = Http(h);
        await functions.RunAsync(Post("""{"entities":["message"]}"""), CancellationToken.None);
        await WriteMessagesAsync(h, 3, prefix: "late", ageMs: 30_000);

        var (status, body) = await ExecuteAsync(await functions.StatusAsync(Get("/api/archive/status"), CancellationToken.None));

        Assert.Equal(200, status);
        Assert.True(body.GetProperty("redisNow").TryGetDateTimeOffset(out _));
        Assert.Equal(JsonValueKind.Number, body.GetProperty("openDeadLetters").ValueKind);
        var entities = body.GetProperty("entities").EnumerateArray().ToDictionary(e => e.Str("entity"));
        Assert.Equal(["user", "session", "message", "attachment"], entities.Keys);
        var message = entities["message"];
        Assert.Equal(JsonValueKind.Number, message.GetProperty("checkpointScore").ValueKind);
        Assert.True(message.GetProperty("checkpoint").TryGetDateTimeOffset(out _));
        Assert.True(message.GetProperty("lagMs").GetDouble() > 0);
        Assert.Equal(3, message.GetProperty("backlog").GetInt64());
        Assert.Equal(20, message.GetProperty("archivedRows").GetInt64());
        Assert.Equal(0, message.GetProperty("openDeadLetters").GetInt64());
        Assert.False(message.GetProperty("leased").GetBoolean());
        Assert.Equal(JsonValueKind.Null, entities["user"].GetProperty("checkpoint").ValueKind);
        var run = Assert.Single(body.GetProperty("recentRuns").EnumerateArray());
        Assert.Equal("http", run.Str("trigger"));
        Assert.Equal("Succeeded", run.Str("status"));
        Assert.Equal(JsonValueKind.Array, run.GetProperty("entities").ValueKind);

        // The cost section: the archive's disk now, the kick's upserts as growth, projections, the prices used.
        var cost = body.GetProperty("cost");
        Assert.True(cost.GetProperty("postgresBytes").GetInt64() > 0);
        var messageCost = cost.GetProperty("entities").EnumerateArray().Single(e => e.Str("entity") == "message");
        Assert.Equal(20, messageCost.GetProperty("upsertedInWindow").GetInt64());
        Assert.Equal(20, messageCost.GetProperty("rows").GetInt64());
        Assert.Equal([0, 30, 365], cost.GetProperty("projections").EnumerateArray().Select(p => p.GetProperty("days").GetInt32()));
        Assert.Equal(0.125m, cost.GetProperty("prices").GetProperty("postgresDiskPerGbMonth").GetDecimal());
    }
}
