using System.Diagnostics;
using NexusArchive.Core.Archiving;
using NexusArchive.Tests.Infrastructure;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace NexusArchive.Tests.Faults;

/// <summary>
/// Faults 2 and 3: the archiver's PostgreSQL backends terminated (<c>pg_terminate_backend</c>) and its Redis
/// connections killed (<c>CLIENT KILL ID</c>, only the archiver's named clients: the servers are shared) mid-pass.
/// The Polly pipelines retry the whole page; the pass finishes and the archive equals the source.
/// </summary>
public sealed class ConnectionFaultTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Archive_PostgresBackendsTerminatedMidPass_RetriesAndEqualsSource()
    {
        var clock = Stopwatch.StartNew();
        var app = $"fault-pg-{Guid.NewGuid():N}"[..24];
        await using var harness = await ArchiveHarness.CreateAsync(s =>
        {
            FaultKit.FaultSettings(s, pageSize: 10); // ~300 page transactions: long enough for many terminations on a fast machine
            s["ConnectionStrings:Postgres"] = TestServers.Instance.PostgresAdminConnectionString + $";Application Name={app}";
        });
        await FaultKit.SeedAsync(harness, messages: 3000);

        var pass = harness.RunAsync();
        var terminated = 0;
        var random = new Random();
        while (!pass.IsCompleted && terminated < 15)
        {
            await Task.Delay(random.Next(150, 400));
            terminated += await FaultKit.TerminateBackendsAsync(app);
        }

        var run = await pass;
        output.WriteLine($"faulted pass: {run.Status} {run.Error}");
        Assert.Equal(RunStatus.Succeeded, run.Status); // retried through every termination, no second pass needed

        // The last termination may have hit idle pooled connections the comparison would reuse: drop them first.
        harness.DataSource.Clear();
        var report = await ArchiveComparison.CompareAsync(harness);
        output.WriteLine(FaultKit.Summary("pg-terminate-backend", scenarios: 1, faults: terminated, report, clock.Elapsed));
        ArchiveComparison.AssertEqual(report);
        Assert.True(terminated >= 3, $"only {terminated} backends were terminated mid-pass");
    }

    [Fact]
    public async Task Archive_RedisClientsKilledMidPass_RetriesAndEqualsSource()
    {
        var clock = Stopwatch.StartNew();
        var name = $"fault-redis-{Guid.NewGuid():N}"[..24];
        await using var harness = await ArchiveHarness.CreateAsync(s =>
        {
            FaultKit.FaultSettings(s, pageSize: 50);
            s["ConnectionStrings:Redis"] = TestServers.Instance.RedisConnectionString + $",name={name}";
        });
        await FaultKit.SeedAsync(harness, messages: 3000);
        await using var admin = await ConnectionMultiplexer.ConnectAsync(TestServers.Instance.RedisConnectionString + ",allowAdmin=true");

        var pass = harness.RunAsync();
        var killed = 0;
        var random = new Random();
        while (!pass.IsCompleted && killed < 30)
        {
            await Task.Delay(random.Next(30, 150));
            killed += await FaultKit.KillRedisClientsAsync(admin, name);
        }

        var run = await pass;
        output.WriteLine($"faulted pass: {run.Status} {run.Error}");
        Assert.Equal(RunStatus.Succeeded, run.Status);
        var report = await ArchiveComparison.CompareAsync(harness);
        output.WriteLine(FaultKit.Summary("redis-client-kill", scenarios: 1, faults: killed, report, clock.Elapsed));
        ArchiveComparison.AssertEqual(report);
        Assert.True(killed >= 3, $"only {killed} Redis connections were killed mid-pass");
    }
}
