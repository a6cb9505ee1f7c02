using System.Text.Json;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Verification;
using NexusArchive.Functions;
using NexusArchive.Tests.Infrastructure;
using static NexusArchive.Tests.Functions.FunctionsTestKit;

namespace NexusArchive.Tests.Functions;

/// <summary>
/// The verify timer (<see cref="ArchiveVerifyTimerFunction"/>, <c>%VerifySchedule%</c>) against real redis-server and
/// PostgreSQL, its schedule check, and status showing what it found.
/// </summary>
public sealed class VerifyTimerFunctionTests
{
    private const string Hourly = "0 15 * * * *";

    private static ArchiveVerifyTimerFunction VerifyTimer(ArchiveHarness h) => ActivatorUtilities.CreateInstance<ArchiveVerifyTimerFunction>(h.Services);

    [Fact]
    public async Task VerifyTimer_Fires_RunsAnIncrementalVerificationRecordedAsTimer_AndStatusShowsIt()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await WriteMessagesAsync(h, 40);
        await Timer(h).RunAsync(new TimerInfo(), CancellationToken.None);

        await VerifyTimer(h).RunAsync(new TimerInfo { IsPastDue = true }, CancellationToken.None);

        var row = Assert.Single(await h.QueryAsync("SELECT kind, trigger, status, records_checked, gaps, differences, finished_at FROM {b}.verifications"));
        Assert.Equal(VerificationKinds.Incremental, row["kind"]);
        Assert.Equal("timer", row["trigger"]);
        Assert.Equal("Succeeded", row["status"]);
        Assert.True((long)row["records_checked"]! >= 80); // every message from the change index and again from the keyspace slice
        Assert.Equal((0L, 0L), ((long)row["gaps"]!, (long)row["differences"]!));
        Assert.NotNull(row["finished_at"]);

        var (status, body) = await ExecuteAsync(await Http(h).StatusAsync(Get("/api/archive/status"), CancellationToken.None));
        Assert.Equal(200, status);
        var last = body.GetProperty("lastVerification");
        Assert.Equal("incremental", last.Str("kind"));
        Assert.Equal("timer", last.Str("trigger"));
        Assert.Equal("Succeeded", last.Str("status"));
        Assert.Equal((long)row["records_checked"]!, last.GetProperty("recordsChecked").GetInt64());
        Assert.Equal(0, last.GetProperty("gaps").GetInt64());
        Assert.Equal(0, last.GetProperty("differences").GetInt64());
        Assert.True(last.GetProperty("finishedAt").TryGetDateTimeOffset(out _));
    }

    [Fact]
    public async Task VerifyTimer_AfterAPlainHsetAroundTheWriter_StatusReportsTheDifference()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await WriteMessagesAsync(h, 10);
        await Timer(h).RunAsync(new TimerInfo(), CancellationToken.None);
        await VerifyTimer(h).RunAsync(new TimerInfo(), CancellationToken.None);

        await h.Redis.HashSetAsync(h.Layout.RecordKey(EntityCatalog.Message, "m-000004"), "content", "edited around the Lua writer");
        await Timer(h).RunAsync(new TimerInfo(), CancellationToken.None);
        await VerifyTimer(h).RunAsync(new TimerInfo(), CancellationToken.None);

        var (status, body) = await ExecuteAsync(await Http(h).StatusAsync(Get("/api/archive/status"), CancellationToken.None));
        Assert.Equal(200, status);
        var last = body.GetProperty("lastVerification");
        Assert.True(last.GetProperty("differences").GetInt64() > 0);
        Assert.Contains("message:m-000004", last.GetProperty("exampleIds").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public async Task VerifyTimer_ResolvedFromTheWorkersComposition_RunsAndLogsTheContractEvents()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await WriteMessagesAsync(h, 5);
        await h.RunAsync("message");
        using var records = new RecordingLoggerProvider();
        using var worker = BuildWorker(h, records, _ => { });

        var function = ActivatorUtilities.CreateInstance<ArchiveVerifyTimerFunction>(worker.Services);
        await function.RunAsync(new TimerInfo(), CancellationToken.None);

        Assert.Equal(Hourly, worker.Services.GetRequiredService<IOptions<FunctionsOptions>>().Value.VerifySchedule);
        Assert.Contains(records.Records, r => r.EventName == "VerifyTimerFired");
        var finished = Assert.Single(records.Records, r => r.EventName == "VerificationFinished");
        Assert.Equal(LogLevel.Information, finished.Level);
        Assert.Equal(1, await h.ScalarAsync("SELECT count(*) FROM {b}.verifications WHERE trigger = 'timer' AND status = 'Succeeded'"));
    }

    [Fact]
    public async Task VerifyTimer_DatabaseNotMigrated_LogsTheFailureAndDoesNotThrow()
    {
        await using var h = await ArchiveHarness.CreateAsync(migrate: false);
        using var records = new RecordingLoggerProvider();
        using var worker = BuildWorker(h, records, _ => { });

        await ActivatorUtilities.CreateInstance<ArchiveVerifyTimerFunction>(worker.Services).RunAsync(new TimerInfo(), CancellationToken.None);

        var failed = Assert.Single(records.Records, r => r.EventName == "VerifyTimerFailed");
        Assert.Equal(LogLevel.Error, failed.Level);
        Assert.Contains("42P01", failed.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, "VerifySchedule is missing")]
    [InlineData("0 15 * * *", "VerifySchedule '0 15 * * *' has 5 fields; NCRONTAB needs six")]
    [InlineData("0 75 * * * *", "VerifySchedule '0 75 * * * *' is not a valid NCRONTAB expression: 75 is higher than the maximum allowable value for the [Minute] field")]
    public async Task BadVerifySchedule_KeepsTheWorkerUp_LogsCritical_AndStatusAnswers503NamingIt(string? schedule, string expected)
    {
        await using var h = await ArchiveHarness.CreateAsync();
        using var records = new RecordingLoggerProvider();
        using var worker = BuildWorker(h, records, s => s["VerifySchedule"] = schedule);

        foreach (var check in worker.Services.GetServices<IHostedService>().Where(s => s.GetType().Assembly == typeof(FunctionsHost).Assembly))
        {
            await check.StartAsync(CancellationToken.None);
        }

        var problem = Assert.Single(worker.Services.GetRequiredService<StartupProblems>().Current);
        Assert.StartsWith(expected, problem, StringComparison.Ordinal);
        var logged = Assert.Single(records.Records, r => r.EventName == "VerifyScheduleInvalid");
        Assert.Equal(LogLevel.Critical, logged.Level);
        Assert.DoesNotContain(records.Records, r => r.EventName == "ArchiveScheduleInvalid");

        // The worker still answers; status says what is wrong.
        var http = ActivatorUtilities.CreateInstance<ArchiveHttpFunctions>(worker.Services);
        var (status, body) = await ExecuteAsync(await http.StatusAsync(Get("/api/archive/status"), CancellationToken.None));
        Assert.Equal(503, status);
        Assert.Contains("VerifySchedule", body.Str("detail"), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Object, body.GetProperty("archiveStatus").ValueKind);
    }

    [Theory]
    [InlineData("0 15 * * * *")]
    [InlineData("0 0 3 * * *")]
    [InlineData("0 */30 * * * MON-FRI")]
    public void Validator_VerifyScheduleTheHostAccepts_Succeeds(string schedule) =>
        Assert.True(new FunctionsOptionsValidator().Validate(null, new FunctionsOptions { ArchiveSchedule = "0 */5 * * * *", VerifySchedule = schedule, OffloadSchedule = "0 30 3 * * *" }).Succeeded);

    [Fact]
    public void Validator_BothSchedulesBad_NamesEachSetting()
    {
        var result = new FunctionsOptionsValidator().Validate(null, new FunctionsOptions { ArchiveSchedule = "soon", VerifySchedule = "later", OffloadSchedule = "0 30 3 * * *" });

        Assert.True(result.Failed);
        Assert.Contains("ArchiveSchedule 'soon'", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("VerifySchedule 'later'", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void SampleSettings_HaveAnHourlyVerifyScheduleAndTheVerifyBounds()
    {
        using var sample = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "local.settings.sample.json")));
        var values = sample.RootElement.GetProperty("Values");

        Assert.Equal(Hourly, values.Str("VerifySchedule"));
        Assert.Null(FunctionsOptionsValidator.ValidateSchedule(FunctionsOptions.VerifyScheduleSetting, values.Str("VerifySchedule"), Hourly));
        Assert.Equal("50000", values.Str("Archive__Verify__MaxRecordsPerRun"));
        Assert.Equal("20000", values.Str("Archive__Verify__ScanKeysPerRun"));
    }
}
