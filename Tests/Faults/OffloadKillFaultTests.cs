using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Offload;
using NexusArchive.Tests.Infrastructure;
using NexusArchive.Tests.Integration;
using Xunit.Abstractions;

namespace NexusArchive.Tests.Faults;

/// <summary>SIGKILL the CLI while it offloads, repeatedly: every record stays in Redis or is marked offloaded, and is always archived.</summary>
public sealed class OffloadKillFaultTests(ITestOutputHelper output)
{
    private const int Sessions = 600;
    private const int MessagesPerSession = 2;

    [Fact]
    public async Task Offload_CliKilledMidRunRepeatedly_ThenRerun_EverySessionWholeInRedisOrOffloaded_AlwaysArchived()
    {
        // Batches of 5: progress shows in small steps and a run lasts long enough to be killed mid-way on a fast machine too.
        await using var h = await ArchiveHarness.CreateAsync(s => s["Archive:Offload:BatchSize"] = "5");
        var now = await h.RedisNowMsAsync();
        for (var i = 0; i < Sessions; i++)
        {
            await OffloadTests.SeedSessionAsync(h, $"s-{i:D4}", $"u-{i % 7}", now - (long)TimeSpan.FromDays(40).TotalMilliseconds, MessagesPerSession, attachment: i % 5 == 0);
        }

        await h.RunAsync();
        var seed = Environment.TickCount;
        var random = new Random(seed);
        var kills = 0;
        var progress = new List<long>();
        for (var attempt = 0; attempt < 3; attempt++)
        {
            using var cli = FaultKit.StartCli(h, "offload");
            var target = progress.LastOrDefault() + random.Next(20, 120);
            var waited = Stopwatch.StartNew();
            while (!cli.HasExited && waited.Elapsed < TimeSpan.FromSeconds(60) && await OffloadedAsync(h) < target)
            {
                await Task.Delay(random.Next(2, 30));
            }

            if (!cli.HasExited)
            {
                cli.Kill(); // SIGKILL: mid-batch, between ledger writes and removal scripts
                kills++;
            }

            await cli.WaitForExitAsync();
            progress.Add(await OffloadedAsync(h));
            await AssertEverySessionWholeOrOffloadedAsync(h);
        }

        var final = await h.Services.GetRequiredService<OffloadService>().OffloadAsync(new OffloadRequest(), CancellationToken.None);

        output.WriteLine($"seed={seed}; kills={kills}; sessions offloaded after each kill: {string.Join(", ", progress)}; final run: {final.SessionsOffloaded} more");
        Assert.Equal(OffloadStatus.Succeeded, final.Status);
        Assert.True(kills >= 2, $"only {kills} of 3 offload runs were killed mid-run (seed {seed})");
        Assert.Contains(progress, p => p is > 0 and < Sessions);
        await AssertEverySessionWholeOrOffloadedAsync(h);
        Assert.Equal(Sessions, await OffloadedAsync(h)); // the rerun finished what the killed runs left, 'pending' ones included
        Assert.Equal(Sessions, await h.CountAsync("chat_sessions"));
        Assert.Equal(Sessions * MessagesPerSession, await h.CountAsync("messages"));
    }

    private static Task<long> OffloadedAsync(ArchiveHarness h) => h.ScalarAsync("SELECT count(*) FROM {b}.offloaded_sessions WHERE state = 'offloaded'");

    /// <summary>Each session: all its keys in Redis and no marker, or none of them and its marker set; never half.</summary>
    private static async Task AssertEverySessionWholeOrOffloadedAsync(ArchiveHarness h)
    {
        for (var i = 0; i < Sessions; i++)
        {
            var session = $"s-{i:D4}";
            var keys = new List<string> { h.Layout.RecordKey(EntityCatalog.Session, session)! };
            keys.AddRange(Enumerable.Range(0, MessagesPerSession).Select(m => (string)h.Layout.RecordKey(EntityCatalog.Message, $"{session}-m{m}")!));
            if (i % 5 == 0)
            {
                keys.Add(h.Layout.RecordKey(EntityCatalog.Attachment, $"{session}-a0")!);
            }

            var present = 0;
            foreach (var key in keys)
            {
                present += await h.Redis.KeyExistsAsync(key) ? 1 : 0;
            }

            var marked = (await h.Redis.HashGetAsync(h.Layout.OffloadMarkerKey($"u-{i % 7}"), session)).HasValue;
            Assert.True(present == keys.Count && !marked || present == 0 && marked, $"{session}: {present} of {keys.Count} keys in Redis, marker {(marked ? "set" : "absent")}");
        }
    }
}
