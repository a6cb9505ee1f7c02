using System.Diagnostics;
using NexusArchive.Core.Archiving;
using NexusArchive.Tests.Infrastructure;
using Xunit.Abstractions;

namespace NexusArchive.Tests.Faults;

/// <summary>Fault 1: SIGKILL the archiving CLI process at random points of a multi-page pass, repeatedly.</summary>
public sealed class ProcessKillFaultTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Archive_CliKilledAtRandomPointsRepeatedly_ThenFinishes_NothingLostDuplicatedOrRegressed()
    {
        var clock = Stopwatch.StartNew();
        await using var harness = await ArchiveHarness.CreateAsync(s =>
        {
            // Small pages and 6,000 messages: the pass must not be able to finish between two polls of the archive
            // (with 40-row pages and 3,000 messages a fast pass once did, and only 2 of 5 passes were killed).
            FaultKit.FaultSettings(s, pageSize: 20);
            s["Archive:LookbackOverlap"] = "00:00:01"; // else each restarted pass re-reads (harmlessly) the same first pages
        });
        const int Messages = 6000;
        await FaultKit.SeedAsync(harness, messages: Messages);
        var seed = Environment.TickCount;
        var random = new Random(seed);
        var kills = 0;
        var progress = new List<long>();

        for (var attempt = 0; attempt < 5; attempt++)
        {
            using var cli = FaultKit.StartCli(harness, "archive");

            // Kill once the pass has committed past a random target (polling the archive), so the kill lands at a
            // random point of a later page — whatever the machine's load does to the CLI's start-up time.
            var target = progress.LastOrDefault() + random.Next(80, 450);
            var waited = Stopwatch.StartNew();
            while (!cli.HasExited && waited.Elapsed < TimeSpan.FromSeconds(30) && await harness.CountAsync("messages") < target)
            {
                await Task.Delay(random.Next(5, 40));
            }

            if (!cli.HasExited)
            {
                cli.Kill(); // SIGKILL: no finally blocks, no lease release, no run-history update
                kills++;
            }

            await cli.WaitForExitAsync();
            progress.Add(await harness.CountAsync("messages"));
            await Task.Delay(TimeSpan.FromSeconds(2.2)); // the killed pass' lease (Archive:LeaseTimeout 2 s) expires
        }

        var final = await FaultKit.FinishAsync(harness, TimeSpan.FromSeconds(30));
        Assert.Equal(RunStatus.Succeeded, final.Status);
        var report = await ArchiveComparison.CompareAsync(harness);
        output.WriteLine(FaultKit.Summary("process-kill", scenarios: 5, faults: kills, report, clock.Elapsed));
        output.WriteLine($"seed={seed}; messages archived after each kill: {string.Join(", ", progress)}");
        ArchiveComparison.AssertEqual(report);
        Assert.True(kills >= 3, $"only {kills} of 5 CLI passes were killed mid-pass (seed {seed})");
        Assert.Contains(progress, p => p is > 0 and < Messages); // at least one kill landed mid-pass with pages committed
    }
}
