using System.Text.Json;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Offload;
using NexusArchive.Functions;
using NexusArchive.Tests.Infrastructure;
using static NexusArchive.Tests.Functions.FunctionsTestKit;
using static NexusArchive.Tests.Integration.OffloadTests;

namespace NexusArchive.Tests.Functions;

/// <summary>
/// The offload timer (<see cref="ArchiveOffloadTimerFunction"/>, <c>%OffloadSchedule%</c>) against real redis-server and
/// PostgreSQL, and the <c>OffloadSchedule</c> check.
/// </summary>
public sealed class OffloadFunctionsTests
{
    private const string Daily = "0 30 3 * * *";

    private static readonly long s_day = (long)TimeSpan.FromDays(1).TotalMilliseconds;

    /// <summary>The worker's own composition (as Program.cs builds it) on the harness's servers, key prefix and schemas; not started.</summary>
    private static IHost BuildWorker(ArchiveHarness h, RecordingLoggerProvider records, Action<Dictionary<string, string?>>? configure = null)
    {
        var settings = new Dictionary<string, string?>(h.Settings)
        {
            ["ArchiveSchedule"] = "0 */5 * * * *",
            ["VerifySchedule"] = "0 15 * * * *",
            ["OffloadSchedule"] = Daily,
            ["Functions:Worker:HostEndpoint"] = "http://127.0.0.1:1",
            ["Functions:Worker:WorkerId"] = "test-worker",
            ["Functions:Worker:RequestId"] = "test-request",
            ["Functions:Worker:GrpcMaxMessageLength"] = "2147483647",
        };
        configure?.Invoke(settings);
        var builder = FunctionsApplication.CreateBuilder([]);
        builder.Configuration.AddInMemoryCollection(settings);
        FunctionsHost.Configure(builder);
        builder.Logging.AddProvider(records);
        return builder.Build();
    }

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
