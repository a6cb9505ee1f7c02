using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit.Abstractions;
using NexusArchive.Core.Archiving;
using NexusArchive.Functions;
using NexusArchive.Tests.Infrastructure;
using static NexusArchive.Tests.Functions.FunctionsTestKit;

namespace NexusArchive.Tests.Functions;

/// <summary>
/// The worker's own composition (<see cref="FunctionsHost.Configure"/>, as Program.cs builds it) started against the
/// real test servers: what the worker does at start-up and what it logs during a pass, at the shipped levels.
/// </summary>
public sealed class WorkerCompositionTests(ITestOutputHelper output)
{
    private static async Task StartOurHostedServicesAsync(IHost worker)
    {
        // The worker's gRPC client is a hosted service too; it needs a real host, so only ours are started here.
        foreach (var service in worker.Services.GetServices<IHostedService>().Where(s => s.GetType().Assembly == typeof(FunctionsHost).Assembly))
        {
            await service.StartAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task OnePassOf100Pages_AtTheShippedLevels_LogsAHandfulOfRecords()
    {
        await using var h = await ArchiveHarness.CreateAsync(s =>
        {
            s["Archive:PageSize"] = "20";
            s["Archive:Entities:0"] = "message";
        });
        await WriteMessagesAsync(h, 2000);
        using var records = new RecordingLoggerProvider();
        using var worker = BuildWorker(h, records);
        await StartOurHostedServicesAsync(worker);
        records.Clear();

        await ActivatorUtilities.CreateInstance<ArchiveTimerFunction>(worker.Services).RunAsync(new TimerInfo(), CancellationToken.None);

        Assert.Equal(2000, await h.CountAsync("messages"));
        var run = await h.QueryAsync("SELECT status, (entities->0->>'pages')::int AS pages FROM {b}.runs");
        Assert.Equal(nameof(RunStatus.Succeeded), run.Single()["status"]);
        Assert.True((int)run.Single()["pages"]! >= 100, $"expected at least 100 pages, got {run.Single()["pages"]}");
        var sent = records.Records;
        var summary = string.Join("\n", sent.Select(r => $"{r.Level} {r.Category} {r.EventName}: {r.Message}"));
        output.WriteLine($"one pass of {run.Single()["pages"]} pages sent {sent.Count} log records:\n{summary}");
        Assert.True(sent.Count <= 5, $"one pass of 100 pages sent {sent.Count} log records:\n{summary}");
        Assert.Contains(sent, r => r.EventName == "RunFinished");
        Assert.DoesNotContain(sent, r => r.Category.StartsWith("Npgsql", StringComparison.Ordinal) || r.Category.StartsWith("Polly", StringComparison.Ordinal));
    }

    [Fact]
    public async Task MigrateOnStartup_EmptyDatabase_CreatesTheTablesBeforeTheFirstPass()
    {
        await using var h = await ArchiveHarness.CreateAsync(migrate: false);
        await WriteMessagesAsync(h, 10);
        using var records = new RecordingLoggerProvider();
        using var worker = BuildWorker(h, records, s => s["Archive:MigrateOnStartup"] = "true");

        await StartOurHostedServicesAsync(worker);
        await ActivatorUtilities.CreateInstance<ArchiveTimerFunction>(worker.Services).RunAsync(new TimerInfo(), CancellationToken.None);

        Assert.Contains(records.Records, r => r.EventName == "StartupMigrationApplied");
        Assert.Empty(worker.Services.GetRequiredService<StartupProblems>().Current);
        Assert.Equal(10, await h.CountAsync("messages"));
    }

    [Fact]
    public async Task MigrateOnStartup_Off_LeavesTheDatabaseAlone()
    {
        await using var h = await ArchiveHarness.CreateAsync(migrate: false);
        using var records = new RecordingLoggerProvider();
        using var worker = BuildWorker(h, records);

        await StartOurHostedServicesAsync(worker);

        Assert.Equal(0, await h.ScalarAsync("SELECT count(*) FROM information_schema.schemata WHERE schema_name = '{b}'"));
    }
}
