using System.Diagnostics;
using System.Globalization;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Entities;
using NexusArchive.Tests.Infrastructure;
using Xunit.Abstractions;

namespace NexusArchive.Tests.Faults;

/// <summary>Faults 4 and 6: concurrent passes (service and CLI) under a live writer, and a timed soak with lag percentiles.</summary>
public sealed class LoadFaultTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Archive_ConcurrentServiceAndCliPassesWhileWriting_EqualsSourceAfterQuiescence()
    {
        var clock = Stopwatch.StartNew();
        await using var harness = await ArchiveHarness.CreateAsync(s => FaultKit.FaultSettings(s, pageSize: 100));
        await FaultKit.SeedAsync(harness, messages: 1000);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(8));
        var writer = WriteStreamAsync(harness, "c", stop.Token);
        var statuses = new List<RunStatus>();
        var passes = Enumerable.Range(0, 3).Select(async _ =>
        {
            while (!stop.IsCancellationRequested)
            {
                var run = await harness.RunAsync();
                lock (statuses)
                {
                    statuses.Add(run.Status);
                }
            }
        }).ToList();
        var cliRuns = 0;
        var clis = Enumerable.Range(0, 2).Select(async _ =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var cli = FaultKit.StartCli(harness, "archive");
                await cli.WaitForExitAsync();
                Assert.True(cli.ExitCode is 0 or 3, $"CLI pass exited {cli.ExitCode}"); // 3 = another pass held an entity
                Interlocked.Increment(ref cliRuns);
            }
        }).ToList();
        var written = await writer;
        await Task.WhenAll([.. passes, .. clis]);

        await Task.Delay(TimeSpan.FromSeconds(1.5)); // quiescence: past the settle window
        var final = await FaultKit.FinishAsync(harness, TimeSpan.FromSeconds(30));
        Assert.Equal(RunStatus.Succeeded, final.Status);
        var report = await ArchiveComparison.CompareAsync(harness);
        output.WriteLine($"service passes: {string.Join(", ", statuses.GroupBy(s => s).Select(g => $"{g.Key}={g.Count()}"))}; CLI passes: {cliRuns}; writes: {written}");
        output.WriteLine(FaultKit.Summary("concurrent-passes", scenarios: statuses.Count + cliRuns, faults: statuses.Count(s => s == RunStatus.Conflict), report, clock.Elapsed));
        ArchiveComparison.AssertEqual(report);
        Assert.DoesNotContain(RunStatus.Failed, statuses);
    }

    [Fact]
    public async Task Soak_SteadyWriterWithTimedPasses_ReportsLagAndEndsEqual()
    {
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("NEXUS_SOAK_SECONDS"), out var s) && s > 0 ? s : 60;
        var clock = Stopwatch.StartNew();
        await using var harness = await ArchiveHarness.CreateAsync(o => FaultKit.FaultSettings(o, pageSize: 500));
        await FaultKit.SeedAsync(harness, messages: 500);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        var writer = WriteStreamAsync(harness, "soak", stop.Token);
        var passes = 0;
        var failed = 0;
        while (!stop.IsCancellationRequested)
        {
            var run = await harness.RunAsync();
            passes++;
            failed += run.Status == RunStatus.Failed ? 1 : 0;
            await Task.Delay(TimeSpan.FromSeconds(1)); // the timer's cadence, compressed
        }

        var written = await writer;
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.Equal(RunStatus.Succeeded, (await FaultKit.FinishAsync(harness, TimeSpan.FromSeconds(30))).Status);

        // Lag of each archived version: archived_at (PostgreSQL clock) minus updated_at (Redis clock; same host).
        var lags = (await harness.QueryAsync(
                "SELECT extract(epoch FROM archived_at - updated_at) * 1000 AS lag FROM {t}.messages WHERE id LIKE 'soak-%'"))
            .Select(r => Convert.ToDouble(r["lag"], CultureInfo.InvariantCulture)).Order().ToList();
        var report = await ArchiveComparison.CompareAsync(harness);
        output.WriteLine($"soak {seconds}s: writes={written}, passes={passes}, failed passes={failed}, lag ms p50={FaultKit.Percentile(lags, 50):0} p95={FaultKit.Percentile(lags, 95):0} p99={FaultKit.Percentile(lags, 99):0} max={lags.LastOrDefault():0} (settle window 1 s, pass every ~1 s)");
        output.WriteLine(FaultKit.Summary("soak", scenarios: passes, faults: 0, report, clock.Elapsed));
        ArchiveComparison.AssertEqual(report);
        Assert.Equal(0, failed);
        Assert.NotEmpty(lags);
    }

    /// <summary>A writer producing new messages and edits of recent ones (server-clock stamped) until cancelled.</summary>
    private static async Task<int> WriteStreamAsync(ArchiveHarness harness, string tag, CancellationToken stop)
    {
        await Task.Yield();
        var random = new Random();
        var next = 0;
        var writes = 0;
        while (!stop.IsCancellationRequested)
        {
            await harness.WritePipelinedAsync(batch =>
            {
                var pending = new List<Task>();
                for (var i = 0; i < 20; i++)
                {
                    var id = next > 0 && random.Next(3) == 0 ? $"{tag}-{random.Next(Math.Max(0, next - 200), next):D6}" : $"{tag}-{next++:D6}";
                    pending.Add(harness.Writer.WriteAsync(batch, EntityCatalog.Message, id, FaultKit.Fields(
                        ("sessionId", "s-0"), ("userId", "u-0"), ("role", "user"), ("content", $"v{writes} of {id}"), ("createdAt", "1700000000000"))));
                    writes++;
                }

                return pending;
            });
            await Task.Delay(50, CancellationToken.None);
        }

        return writes;
    }
}
