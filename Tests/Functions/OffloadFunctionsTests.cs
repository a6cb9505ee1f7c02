using System.Diagnostics;
using System.Text.Json;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Offload;
using NexusArchive.Functions;
using NexusArchive.Tests.Infrastructure;
using Xunit.Abstractions;
using static NexusArchive.Tests.Functions.FunctionsTestKit;
using static NexusArchive.Tests.Integration.OffloadTests;

namespace NexusArchive.Tests.Functions;

/// <summary>
/// The offload timer (<see cref="ArchiveOffloadTimerFunction"/>, <c>%OffloadSchedule%</c>) and the session restore endpoint
/// (<see cref="ArchiveRestoreSessionFunction"/>, <c>POST /api/archive/sessions/{id}/restore</c>) against real redis-server
/// and PostgreSQL, and the <c>OffloadSchedule</c> check.
/// </summary>
public sealed class OffloadFunctionsTests(ITestOutputHelper output)
{
    private const string Daily = "0 30 3 * * *";

    private static readonly long s_day = (long)TimeSpan.FromDays(1).TotalMilliseconds;

    /// <summary>An old session (40 days: qualifies for offload) with a message per <paramref name="messages"/> and one attachment, archived, then offloaded.</summary>
    private static async Task SeedOffloadedSessionAsync(ArchiveHarness h, string session, int messages, bool attachment = true)
    {
        var now = await h.RedisNowMsAsync();
        await SeedSessionAsync(h, session, "u-1", now - 40 * s_day, messages, attachment);
        await h.RunAsync();
        var report = await Offload(h).OffloadAsync(new OffloadRequest(), CancellationToken.None);
        Assert.Equal(1, report.SessionsOffloaded);
        Assert.False(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Session, session)));
    }

    /// <summary>The endpoint as the worker calls it: the route value as the <c>id</c> argument (the request's path is not read).</summary>
    private static Task<Microsoft.AspNetCore.Mvc.IActionResult> CallRestoreAsync(ArchiveHarness h, string id) =>
        RestoreSession(h).RestoreAsync(Post(path: "/api/archive/sessions/id/restore"), id, CancellationToken.None);

    [Fact]
    public async Task OffloadTimer_OffByDefault_LogsThatOffloadIsOff_AndLeavesRedisAlone()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        await SeedSessionAsync(h, "s-old", "u-1", now - 40 * s_day, messages: 2, attachment: false);
        await h.RunAsync();
        using var records = new RecordingLoggerProvider();
        using var worker = BuildWorker(h, records);

        Assert.False(worker.Services.GetRequiredService<IOptions<OffloadOptions>>().Value.Enabled);
        await ActivatorUtilities.CreateInstance<ArchiveOffloadTimerFunction>(worker.Services).RunAsync(new TimerInfo(), CancellationToken.None);

        Assert.Contains(records.Records, r => r.EventName == "OffloadTimerFired");
        var off = Assert.Single(records.Records, r => r.EventName == "OffloadDisabled");
        Assert.Equal(LogLevel.Information, off.Level);
        Assert.Contains("Archive:Offload:Enabled", off.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(records.Records, r => r.EventName is "OffloadStarted" or "OffloadFinished");
        Assert.Equal(0, await h.ScalarAsync("SELECT count(*) FROM {b}.offload_runs"));
        Assert.True(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Session, "s-old")));
        Assert.True(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Message, "s-old-m0")));
        Assert.Equal(0, await h.Redis.HashLengthAsync(h.Layout.OffloadMarkerKey("u-1")));
    }

    [Fact]
    public async Task OffloadTimer_Enabled_OffloadsTheOldSession_KeepsTheNewOne_RecordedAsTimer()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        await SeedSessionAsync(h, "s-old", "u-1", now - 40 * s_day, messages: 3, attachment: true);
        await SeedSessionAsync(h, "s-new", "u-1", now - 60_000, messages: 2, attachment: false);
        await h.RunAsync();
        using var records = new RecordingLoggerProvider();
        using var worker = BuildWorker(h, records, s => s["Archive:Offload:Enabled"] = "true");

        await ActivatorUtilities.CreateInstance<ArchiveOffloadTimerFunction>(worker.Services).RunAsync(new TimerInfo { IsPastDue = true }, CancellationToken.None);

        Assert.False(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Session, "s-old")));
        Assert.False(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Message, "s-old-m2")));
        Assert.False(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Attachment, "s-old-a0")));
        Assert.True(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Session, "s-new")));
        Assert.True((await h.Redis.HashGetAsync(h.Layout.OffloadMarkerKey("u-1"), "s-old")).HasValue);
        var run = Assert.Single(await h.QueryAsync("SELECT trigger, dry_run, status, sessions_offloaded, records_removed FROM {b}.offload_runs"));
        Assert.Equal("timer", run["trigger"]);
        Assert.Equal(false, run["dry_run"]);
        Assert.Equal("Succeeded", run["status"]);
        Assert.Equal(1L, run["sessions_offloaded"]);
        Assert.Equal(5L, run["records_removed"]); // session + 3 messages + 1 attachment
        Assert.Contains(records.Records, r => r.EventName == "OffloadTimerFired");
        Assert.Contains(records.Records, r => r.EventName == "OffloadFinished");
        Assert.DoesNotContain(records.Records, r => r.EventName is "OffloadDisabled" or "OffloadTimerRefused");
    }

    [Fact]
    public async Task OffloadTimer_Enabled_BeforeAnyArchivePass_LogsTheRefusalAndRemovesNothing()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        await SeedSessionAsync(h, "s-old", "u-1", now - 40 * s_day, messages: 1, attachment: false);
        using var records = new RecordingLoggerProvider();
        using var worker = BuildWorker(h, records, s => s["Archive:Offload:Enabled"] = "true");

        await ActivatorUtilities.CreateInstance<ArchiveOffloadTimerFunction>(worker.Services).RunAsync(new TimerInfo(), CancellationToken.None);

        var refused = Assert.Single(records.Records, r => r.EventName == "OffloadTimerRefused");
        Assert.Equal(LogLevel.Warning, refused.Level);
        Assert.Contains("archive:horizon:session", refused.Message, StringComparison.Ordinal);
        Assert.True(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Session, "s-old")));
    }

    [Fact]
    public async Task RestoreSession_Offloaded_Answers200WhenRedisHoldsItAgain_AndClearsTheMarker()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await SeedOffloadedSessionAsync(h, "s-old", messages: 3);

        var (status, body) = await ExecuteAsync(await CallRestoreAsync(h, "s-old"));

        Assert.Equal(200, status);
        Assert.Equal(5, body.GetProperty("written").GetInt64()); // session + 3 messages + 1 attachment
        Assert.Equal(0, body.GetProperty("refused").GetInt64());
        Assert.Equal(1, body.GetProperty("offloadedRestored").GetInt32());
        Assert.Equal("Session", body.GetProperty("scope").Str("kind"));
        Assert.Equal("s-old", body.GetProperty("scope").Str("id"));
        Assert.Equal(3, body.GetProperty("entities").EnumerateArray().Single(e => e.Str("entity") == "message").GetProperty("rows").GetInt64());
        Assert.True(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Session, "s-old")));
        Assert.Equal("hello", (string?)await h.Redis.HashGetAsync(h.Layout.RecordKey(EntityCatalog.Message, "s-old-m2"), "content"));
        Assert.True(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Attachment, "s-old-a0")));
        Assert.False((await h.Redis.HashGetAsync(h.Layout.OffloadMarkerKey("u-1"), "s-old")).HasValue);
        Assert.Equal(0, await h.ScalarAsync("SELECT count(*) FROM {b}.offloaded_sessions"));

        // Again, as an app that opens the chat twice: everything is already there.
        var (again, report) = await ExecuteAsync(await CallRestoreAsync(h, "s-old"));
        Assert.Equal(200, again);
        Assert.Equal(0, report.GetProperty("written").GetInt64());
        Assert.Equal(5, report.GetProperty("skipped").GetInt64());
        Assert.Equal(0, report.GetProperty("offloadedRestored").GetInt32());
    }

    [Fact]
    public async Task RestoreSession_UnknownSession_Answers404WithProblemDetails()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await SeedOffloadedSessionAsync(h, "s-old", messages: 1, attachment: false);

        var (status, body) = await ExecuteAsync(await CallRestoreAsync(h, "s-nobody-knows"));

        Assert.Equal(404, status);
        Assert.Equal(404, body.GetProperty("status").GetInt32());
        Assert.Equal("Session not in the archive", body.Str("title"));
        Assert.Contains("'s-nobody-knows'", body.Str("detail"), StringComparison.Ordinal);
        Assert.False(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Session, "s-nobody-knows")));
        Assert.True((await h.Redis.HashGetAsync(h.Layout.OffloadMarkerKey("u-1"), "s-old")).HasValue); // others untouched
    }

    [Fact]
    public async Task RestoreSession_InvalidId_Answers400InTheCallersWords()
    {
        await using var h = await ArchiveHarness.CreateAsync();

        // Built here rather than as theory data: control characters in test names upset test loggers.
        foreach (var (id, expected) in new[]
        {
            (" ", "The session id is empty."),
            ("\t ", "The session id is empty."),
            ("s-1\u0000", "The session id contains a control character."),
            ("s-\n1", "The session id contains a control character."),
        })
        {
            var (status, body) = await ExecuteAsync(await CallRestoreAsync(h, id));

            Assert.Equal(400, status);
            Assert.Equal("Invalid restore request", body.Str("title"));
            Assert.Equal(expected, body.Str("detail"));
        }
    }

    [Fact]
    public async Task RestoreSession_ARowTheWriterRefuses_Answers500WithTheRefusal_AndTheMarkerStays()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await SeedOffloadedSessionAsync(h, "s-old", messages: 2, attachment: false);
        // A row archived long ago, before the writer refused implausible timestamps.
        await h.ScalarAsync("WITH u AS (UPDATE {t}.messages SET created_at = '1970-01-21T18:57:11Z' WHERE id = 's-old-m1' RETURNING 1) SELECT count(*) FROM u");

        var (status, body) = await ExecuteAsync(await CallRestoreAsync(h, "s-old"));

        Assert.Equal(500, status);
        Assert.Equal("Session restore incomplete", body.Str("title"));
        Assert.Contains("refused 1 of 3 archived rows of session 's-old'", body.Str("detail"), StringComparison.Ordinal);
        Assert.Contains("createdAt", body.Str("detail"), StringComparison.Ordinal);
        var report = body.GetProperty("restore");
        Assert.Equal(1, report.GetProperty("refused").GetInt64());
        Assert.Equal(2, report.GetProperty("written").GetInt64());
        var refusal = report.GetProperty("entities").EnumerateArray().Single(e => e.Str("entity") == "message").GetProperty("refusals").EnumerateArray().Single();
        Assert.Equal("s-old-m1", refusal.Str("id"));
        Assert.True((await h.Redis.HashGetAsync(h.Layout.OffloadMarkerKey("u-1"), "s-old")).HasValue);
        Assert.Equal(1, await h.ScalarAsync("SELECT count(*) FROM {b}.offloaded_sessions"));
    }

    [Fact]
    public async Task RestoreSession_ResolvedFromTheWorkersComposition_LogsTheAnswer()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await SeedOffloadedSessionAsync(h, "s-old", messages: 1, attachment: false);
        using var records = new RecordingLoggerProvider();
        using var worker = BuildWorker(h, records);

        var function = ActivatorUtilities.CreateInstance<ArchiveRestoreSessionFunction>(worker.Services);
        var (status, _) = await ExecuteAsync(await function.RestoreAsync(Post(path: "/api/archive/sessions/s-old/restore"), "s-old", CancellationToken.None));

        Assert.Equal(200, status);
        var answered = Assert.Single(records.Records, r => r.EventName == "SessionRestoreAnswered");
        Assert.Equal(LogLevel.Information, answered.Level);
        Assert.StartsWith("Session s-old restore answered 200: 2 archived rows, 2 written", answered.Message, StringComparison.Ordinal);
        Assert.Contains(records.Records, r => r.EventName == "OffloadMarkersCleared");
    }

    /// <summary>
    /// A measurement, not a bound: how long the endpoint takes to bring an offloaded session of 500 messages back into
    /// Redis (the wait a user has when opening such a chat), against the local test servers. Two sessions: the first
    /// restore of the test (Lua script and connections possibly cold) and a second one right after.
    /// </summary>
    [Fact]
    public async Task RestoreSession_500MessageOffloadedSession_Measured()
    {
        const int Messages = 500;
        string[] sessions = ["s-big-1", "s-big-2"];
        await using var h = await ArchiveHarness.CreateAsync();
        var old = await h.RedisNowMsAsync() - 40 * s_day;
        foreach (var session in sessions)
        {
            await h.WriteAsync(EntityCatalog.Session, session, old, ("userId", "u-1"), ("title", "a long chat"), ("createdAt", old.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            await h.WriteMessagesAsync(Messages, i => $"{session}-m{i:D4}", old, session: session,
                role: i => i % 2 == 0 ? "user" : "assistant", content: i => $"message {i} of a long chat, with a few dozen characters of text in it");
        }

        await h.RunAsync();
        Assert.Equal(2, (await Offload(h).OffloadAsync(new OffloadRequest(), CancellationToken.None)).SessionsOffloaded);
        Assert.Equal(0, await h.Redis.SortedSetLengthAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message)));

        foreach (var session in sessions)
        {
            var function = RestoreSession(h);
            var clock = Stopwatch.StartNew();
            var result = await function.RestoreAsync(Post(path: $"/api/archive/sessions/{session}/restore"), session, CancellationToken.None);
            clock.Stop();

            var (status, body) = await ExecuteAsync(result);
            Assert.Equal(200, status);
            Assert.Equal(Messages + 1, body.GetProperty("written").GetInt64());
            Assert.False((await h.Redis.HashGetAsync(h.Layout.OffloadMarkerKey("u-1"), session)).HasValue);
            var line = $"restore of an offloaded session with {Messages} messages ({session}) through POST /api/archive/sessions/{{id}}/restore: "
                + $"{clock.Elapsed.TotalMilliseconds:F1} ms (RestoreService's own DurationMs {body.GetProperty("durationMs").GetDouble():F1} ms)";
            Console.WriteLine(line);
            output.WriteLine(line);
        }

        Assert.Equal(2 * Messages, await h.Redis.SortedSetLengthAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message)));
    }

    [Theory]
    [InlineData(null, "OffloadSchedule is missing")]
    [InlineData("0 30 3 * *", "OffloadSchedule '0 30 3 * *' has 5 fields; NCRONTAB needs six")]
    [InlineData("0 30 25 * * *", "OffloadSchedule '0 30 25 * * *' is not a valid NCRONTAB expression: 25 is higher than the maximum allowable value for the [Hour] field")]
    public async Task BadOffloadSchedule_KeepsTheWorkerUp_LogsCritical_AndStatusAnswers503NamingIt(string? schedule, string expected)
    {
        await using var h = await ArchiveHarness.CreateAsync();
        using var records = new RecordingLoggerProvider();
        using var worker = BuildWorker(h, records, s => s["OffloadSchedule"] = schedule);

        foreach (var check in worker.Services.GetServices<IHostedService>().Where(s => s.GetType().Assembly == typeof(FunctionsHost).Assembly))
        {
            await check.StartAsync(CancellationToken.None);
        }

        var problem = Assert.Single(worker.Services.GetRequiredService<StartupProblems>().Current);
        Assert.StartsWith(expected, problem, StringComparison.Ordinal);
        var logged = Assert.Single(records.Records, r => r.EventName == "OffloadScheduleInvalid");
        Assert.Equal(LogLevel.Critical, logged.Level);
        Assert.DoesNotContain(records.Records, r => r.EventName is "ArchiveScheduleInvalid" or "VerifyScheduleInvalid");

        // The worker still answers; status says what is wrong.
        var http = ActivatorUtilities.CreateInstance<ArchiveHttpFunctions>(worker.Services);
        var (status, body) = await ExecuteAsync(await http.StatusAsync(Get("/api/archive/status"), CancellationToken.None));
        Assert.Equal(503, status);
        Assert.Contains("OffloadSchedule", body.Str("detail"), StringComparison.Ordinal);
    }

    [Fact]
    public void Validator_AllThreeSchedulesBad_NamesEachSetting()
    {
        var result = new FunctionsOptionsValidator().Validate(null, new FunctionsOptions { ArchiveSchedule = "soon", VerifySchedule = "later", OffloadSchedule = "tonight" });

        Assert.True(result.Failed);
        Assert.Contains("ArchiveSchedule 'soon'", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("VerifySchedule 'later'", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("OffloadSchedule 'tonight'", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void SampleSettings_HaveADailyOffloadSchedule_AndOffloadOff()
    {
        using var sample = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "local.settings.sample.json")));
        var values = sample.RootElement.GetProperty("Values");

        Assert.Equal(Daily, values.Str("OffloadSchedule"));
        Assert.Null(FunctionsOptionsValidator.ValidateSchedule(FunctionsOptions.OffloadScheduleSetting, values.Str("OffloadSchedule"), Daily));
        Assert.Equal("false", values.Str("Archive__Offload__Enabled"));
        var defaults = new OffloadOptions();
        Assert.Equal(defaults.After, TimeSpan.Parse(values.Str("Archive__Offload__After"), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(defaults.BatchSize.ToString(System.Globalization.CultureInfo.InvariantCulture), values.Str("Archive__Offload__BatchSize"));
        Assert.Equal(defaults.MaxPendingEntries.ToString(System.Globalization.CultureInfo.InvariantCulture), values.Str("Archive__Offload__MaxPendingEntries"));
        Assert.Equal(defaults.TimeBudget, TimeSpan.Parse(values.Str("Archive__Offload__TimeBudget"), System.Globalization.CultureInfo.InvariantCulture));
    }
}
