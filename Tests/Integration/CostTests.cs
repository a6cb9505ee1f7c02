using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Cost;
using NexusArchive.Tests.Infrastructure;
using Xunit.Abstractions;

namespace NexusArchive.Tests.Integration;

/// <summary><c>cost</c> against real redis-server and PostgreSQL: table sizes, run history, the change indexes, the CLI verb.</summary>
public sealed class CostTests(ITestOutputHelper output)
{
    private static Task<CostReport> CostAsync(ArchiveHarness h, TimeSpan? window = null) =>
        h.Services.GetRequiredService<CostService>().GetAsync(window, CancellationToken.None);

    [Fact]
    public async Task Cost_AfterAPass_ReportsTheTablesSizeAndTheRunsUpserts_InServiceStatusAndCli()
    {
        const int messages = 300;
        await using var h = await ArchiveHarness.CreateAsync();
        var old = await h.RedisNowMsAsync() - 60_000;
        for (var i = 0; i < messages; i++)
        {
            await h.WriteMessageAsync($"m-{i:D3}", old + i, content: new string('x', 500));
        }

        var run = await h.RunAsync("message");
        Assert.Equal(RunStatus.Succeeded, run.Status);

        var report = await CostAsync(h);

        var message = report.Entities.Single(e => e.Entity == "message");
        var size = await h.QueryAsync("SELECT pg_table_size(to_regclass($1)) AS t, pg_indexes_size(to_regclass($1)) AS i", $"{h.TargetSchema}.messages");
        Assert.Equal((long)size[0]["t"]!, message.TableBytes);
        Assert.Equal((long)size[0]["i"]!, message.IndexBytes);
        Assert.True(message.TableBytes > 0 && message.IndexBytes > 0);
        Assert.Equal(messages, message.Rows);
        Assert.Equal((message.TableBytes + message.IndexBytes) / (double)messages, message.BytesPerRow!.Value, 6);
        Assert.Equal(messages, message.UpsertedInWindow);
        Assert.Equal(1, report.Runs);
        Assert.Equal(messages / report.DaysMeasured, message.RowsPerDay, 6);
        Assert.Equal(message.RowsPerDay * message.BytesPerRow!.Value, message.PostgresBytesPerDay, 3);
        Assert.Equal(messages, message.ChangeIndexEntries);
        Assert.True(message.ChangeIndexBytes > 0, "redis-server reports MEMORY USAGE");
        Assert.Equal(report.Entities.Sum(e => e.TableBytes + e.IndexBytes), report.PostgresBytes);
        Assert.True(report.Projections.Single(p => p.Days == 365).PostgresBytes > report.PostgresBytes);
        Assert.True(report.Projections.Single(p => p.Days == 0).PostgresDiskPerMonth > 0);

        // Whatever the pass recorded: counts when it counted its commands, a note when history holds none yet.
        var recorded = await h.ScalarAsync("SELECT coalesce(sum((e->>'redisCommands')::bigint), 0) FROM {b}.runs r, jsonb_array_elements(r.entities) e");
        Assert.Equal(recorded > 0, report.RedisCommandsCounted);
        Assert.Equal(recorded / report.DaysMeasured, report.RedisCommandsPerDay, 6);
        Assert.Equal(recorded == 0, report.Notes.Any(n => n.Contains("no Redis command counts yet", StringComparison.Ordinal)));

        var status = await h.Services.GetRequiredService<StatusService>().GetAsync(CancellationToken.None);
        Assert.NotNull(status.Cost);
        Assert.Equal(report.PostgresBytes, status.Cost.PostgresBytes);

        var json = await CliRunner.RunAsync(h.Settings, "cost", "--json", "--days", "3");
        Assert.True(json.ExitCode == 0, json.Stderr);
        using var document = JsonDocument.Parse(json.Stdout);
        Assert.Equal(TimeSpan.FromDays(3), TimeSpan.Parse(document.RootElement.GetProperty("window").GetString()!, System.Globalization.CultureInfo.InvariantCulture));
        var cliMessage = document.RootElement.GetProperty("entities").EnumerateArray().Single(e => e.GetProperty("entity").GetString() == "message");
        Assert.Equal(message.TableBytes, cliMessage.GetProperty("tableBytes").GetInt64());
        Assert.Equal(messages, cliMessage.GetProperty("upsertedInWindow").GetInt64());

        var text = await CliRunner.RunAsync(h.Settings, "cost");
        Assert.True(text.ExitCode == 0, text.Stderr);
        Assert.Contains("Prices as of 2026-12-03", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("365 days", text.Stdout, StringComparison.Ordinal);
        output.WriteLine(text.Stdout);

        var bad = await CliRunner.RunAsync(h.Settings, "cost", "--days", "0");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--days must be between 1 and 365 (was 0)", bad.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cost_HistoryWithCommandCounts_ScalesTheirSumToADay()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var history = h.Services.GetRequiredService<RunHistory>();
        var now = TimeProvider.System.GetUtcNow();
        (int DaysAgo, long Upserted, long Commands)[] runs = [(2, 1_000, 4_800), (1, 500, 2_400)];
        foreach (var (daysAgo, upserted, commands) in runs)
        {
            var run = new ArchiveRunResult
            {
                RunId = Guid.NewGuid(),
                Trigger = "test",
                StartedAt = now.AddDays(-daysAgo),
                FinishedAt = now.AddDays(-daysAgo).AddSeconds(1),
                Status = RunStatus.Succeeded,
                Entities = [new EntityRunStats { Entity = "message", Status = RunStatus.Succeeded, Upserted = upserted, RedisCommands = commands }],
            };
            await history.StartAsync(run, CancellationToken.None);
            await history.FinishAsync(run, CancellationToken.None);
        }

        var report = await CostAsync(h, TimeSpan.FromDays(7));

        // History starts two days ago, so both sums are spread over those two days (plus the moments the test took).
        Assert.InRange(report.DaysMeasured, 2.0, 2.0 + TimeSpan.FromMinutes(1).TotalDays);
        Assert.Equal(2, report.Runs);
        Assert.Equal(2, report.RunsWithCommandCounts);
        Assert.True(report.RedisCommandsCounted);
        Assert.Equal(runs.Sum(r => r.Commands) / report.DaysMeasured, report.RedisCommandsPerDay, 6);
        var message = report.Entities.Single(e => e.Entity == "message");
        Assert.Equal(runs.Sum(r => r.Upserted), message.UpsertedInWindow);
        Assert.Equal(runs.Sum(r => r.Commands), message.RedisCommandsInWindow);
        Assert.Contains(report.Notes, n => n.Contains("since the first run", StringComparison.Ordinal));

        // A window that starts after the older run sees only the newer one.
        var lastDay = await CostAsync(h, TimeSpan.FromHours(36));
        Assert.Equal(1, lastDay.Runs);
        Assert.Equal(runs[1].Commands / lastDay.DaysMeasured, lastDay.RedisCommandsPerDay, 6);
    }
}
