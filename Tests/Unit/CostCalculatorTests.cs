using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Cost;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;

namespace NexusArchive.Tests.Unit;

/// <summary>
/// The arithmetic of <c>cost</c>: every expected figure is worked out here from the test's own inputs, the way
/// docs/operations.md does it by hand.
/// </summary>
public sealed class CostCalculatorTests
{
    private const decimal Gb = 1024m * 1024m * 1024m;
    private static readonly DateTimeOffset s_now = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan s_week = TimeSpan.FromDays(7);
    private static readonly CostPrices s_prices = new(0.125m, 0.20m, 0.25m, "2026-12-03");

    // messages: 2,000 rows in 900,000 table bytes + 300,000 index bytes; change index of 2,000 entries in 160,000 bytes.
    private const long MessageRows = 2_000;
    private const long MessageTableBytes = 900_000;
    private const long MessageIndexBytes = 300_000;
    private const long IndexEntries = 2_000;
    private const long IndexBytes = 160_000;

    private static IReadOnlyDictionary<string, TableSize> Tables() => new Dictionary<string, TableSize>
    {
        ["message"] = new(MessageTableBytes, MessageIndexBytes),
    };

    private static IReadOnlyDictionary<string, long> Rows() => new Dictionary<string, long> { ["message"] = MessageRows };

    private static IReadOnlyDictionary<string, ChangeIndexSize> Indexes(long? bytes = IndexBytes) => EntityCatalog.Default.All.ToDictionary(
        e => e.Name, e => e.Name == "message" ? new ChangeIndexSize(IndexEntries, bytes) : new ChangeIndexSize(0, bytes is null ? null : 0));

    private static RunWindow Window(DateTimeOffset? firstRun, int runs, int counted, DateTimeOffset? oldestCounted, long upserted, long commands) =>
        new(s_now - s_week, firstRun, runs, counted, oldestCounted, new Dictionary<string, RunWindowEntity> { ["message"] = new(upserted, commands) });

    private static CostReport Compute(RunWindow runs, long? indexBytes = IndexBytes) =>
        CostCalculator.Compute(EntityCatalog.Default, s_now, s_week, s_prices, Tables(), Rows(), Indexes(indexBytes), runs);

    [Fact]
    public void Compute_AWeekOfHistory_GrowthIsUpsertsPerDayTimesBytesPerRow_AndProjectionsAddItLinearly()
    {
        const long upserted = 7_000;
        const long commands = 700_000;
        var report = Compute(Window(s_now.AddDays(-30), runs: 2_016, counted: 2_016, s_now.AddDays(-7), upserted, commands));

        var rowsPerDay = upserted / 7.0;
        var bytesPerRow = (MessageTableBytes + MessageIndexBytes) / (double)MessageRows;
        var pgPerDay = rowsPerDay * bytesPerRow;
        var redisPerDay = rowsPerDay * IndexBytes / IndexEntries;
        var commandsPerDay = commands / 7.0;
        var message = report.Entities.Single(e => e.Entity == "message");
        Assert.Equal(7.0, report.DaysMeasured, 9);
        Assert.Equal(bytesPerRow, message.BytesPerRow!.Value, 9);
        Assert.Equal(rowsPerDay, message.RowsPerDay, 9);
        Assert.Equal(pgPerDay, report.PostgresBytesPerDay, 6);
        Assert.Equal(redisPerDay, report.RedisBytesPerDay!.Value, 6);
        Assert.Equal(commandsPerDay, report.RedisCommandsPerDay, 6);
        Assert.True(report.RedisCommandsCounted);
        Assert.Equal(MessageTableBytes + MessageIndexBytes, report.PostgresBytes);
        Assert.Equal(IndexBytes, report.RedisBytes);
        Assert.Empty(report.Notes);

        Assert.Equal([0, 30, 365], report.Projections.Select(p => p.Days));
        foreach (var p in report.Projections)
        {
            var pgThen = (MessageTableBytes + MessageIndexBytes) + (pgPerDay * p.Days);
            var redisThen = IndexBytes + (redisPerDay * p.Days);
            var disk = (decimal)pgThen / Gb * s_prices.PostgresDiskPerGbMonth;
            var redisStorage = (decimal)redisThen / Gb * s_prices.RedisStoragePerGbMonth;
            var commandsMonth = (decimal)commandsPerDay * 30 / 100_000m * s_prices.RedisPer100kCommands;
            var months = p.Days / 30m;
            var spent = ((decimal)((MessageTableBytes + MessageIndexBytes) + (pgPerDay * p.Days / 2)) / Gb * s_prices.PostgresDiskPerGbMonth * months)
                + ((decimal)(IndexBytes + (redisPerDay * p.Days / 2)) / Gb * s_prices.RedisStoragePerGbMonth * months)
                + ((decimal)commandsPerDay * p.Days / 100_000m * s_prices.RedisPer100kCommands);

            Assert.Equal((long)Math.Round(pgThen), p.PostgresBytes);
            Assert.Equal((long)Math.Round(redisThen), p.RedisBytes);
            Assert.Equal(Math.Round(disk, CostCalculator.MoneyDecimals, MidpointRounding.AwayFromZero), p.PostgresDiskPerMonth);
            Assert.Equal(Math.Round(redisStorage, CostCalculator.MoneyDecimals, MidpointRounding.AwayFromZero), p.RedisStoragePerMonth);
            Assert.Equal(Math.Round(commandsMonth, CostCalculator.MoneyDecimals, MidpointRounding.AwayFromZero), p.RedisCommandsPerMonth);
            Assert.Equal(Math.Round(disk + redisStorage + commandsMonth, CostCalculator.MoneyDecimals, MidpointRounding.AwayFromZero), p.TotalPerMonth);
            Assert.Equal(Math.Round(spent, CostCalculator.MoneyDecimals, MidpointRounding.AwayFromZero), p.SpentOverPeriod);
        }
    }

    [Fact]
    public void Compute_HistoryShorterThanTheWindow_MeasuresFromTheFirstRun()
    {
        const long upserted = 1_000;
        var firstRun = s_now.AddDays(-2);
        var report = Compute(Window(firstRun, runs: 10, counted: 10, firstRun, upserted, commands: 4_000));

        Assert.Equal(2.0, report.DaysMeasured, 9);
        Assert.Equal(upserted / 2.0, report.Entities.Single(e => e.Entity == "message").RowsPerDay, 9);
        Assert.Equal(4_000 / 2.0, report.RedisCommandsPerDay, 9);
        Assert.Contains(report.Notes, n => n.Contains("since the first run", StringComparison.Ordinal) && n.Contains("not the 7 days asked for", StringComparison.Ordinal));
    }

    [Fact]
    public void Compute_NoCommandCountsInHistory_SaysSoAndCountsNoCommands()
    {
        var report = Compute(Window(s_now.AddDays(-10), runs: 50, counted: 0, oldestCounted: null, upserted: 700, commands: 0));

        Assert.False(report.RedisCommandsCounted);
        Assert.Equal(0, report.RedisCommandsPerDay);
        Assert.All(report.Projections, p => Assert.Equal(0m, p.RedisCommandsPerMonth));
        Assert.Contains(report.Notes, n => n.Contains("no Redis command counts yet", StringComparison.Ordinal));
        Assert.Equal(700 / 7.0, report.Entities.Single(e => e.Entity == "message").RowsPerDay, 9); // growth is still measured
    }

    [Fact]
    public void Compute_SomeRunsWithoutCommandCounts_MeasuresCommandsFromTheOldestCountedRun()
    {
        const long commands = 30_000;
        var oldestCounted = s_now.AddDays(-3);
        var report = Compute(Window(s_now.AddDays(-30), runs: 40, counted: 12, oldestCounted, upserted: 700, commands));

        Assert.True(report.RedisCommandsCounted);
        Assert.Equal(commands / (s_now - oldestCounted).TotalDays, report.RedisCommandsPerDay, 9);
        Assert.Equal(7.0, report.DaysMeasured, 9); // growth still uses the whole window
        Assert.Contains(report.Notes, n => n.StartsWith("28 of 40 runs hold no Redis command counts", StringComparison.Ordinal));
    }

    [Fact]
    public void Compute_NoRunsInTheWindow_ReportsStorageNowAndNoGrowth()
    {
        var report = Compute(new RunWindow(s_now - s_week, s_now.AddDays(-90), 0, 0, null, new Dictionary<string, RunWindowEntity>()));

        Assert.Equal(0, report.DaysMeasured);
        Assert.Equal(0, report.PostgresBytesPerDay);
        Assert.Equal(0, report.RedisCommandsPerDay);
        Assert.All(report.Projections, p => Assert.Equal(MessageTableBytes + MessageIndexBytes, p.PostgresBytes));
        Assert.Contains(report.Notes, n => n.StartsWith("No archive run started in the last 7 days", StringComparison.Ordinal));
    }

    [Fact]
    public void Compute_HistoryShorterThanAnHour_IsCountedAsOneHour()
    {
        const long upserted = 500;
        var firstRun = s_now.AddMinutes(-2);
        var report = Compute(Window(firstRun, runs: 1, counted: 1, firstRun, upserted, commands: 600));

        var hourInDays = TimeSpan.FromHours(1).TotalDays;
        Assert.Equal(hourInDays, report.DaysMeasured, 9);
        Assert.Equal(upserted / hourInDays, report.Entities.Single(e => e.Entity == "message").RowsPerDay, 6);
        Assert.Equal(600 / hourInDays, report.RedisCommandsPerDay, 6);
        Assert.Contains(report.Notes, n => n.Contains("less than an hour of run history", StringComparison.Ordinal));
    }

    [Fact]
    public void Compute_RedisDoesNotReportMemory_LeavesRedisStorageOutAndSaysSo()
    {
        var report = Compute(Window(s_now.AddDays(-30), runs: 10, counted: 10, s_now.AddDays(-7), upserted: 700, commands: 70), indexBytes: null);

        Assert.Null(report.RedisBytes);
        Assert.Null(report.RedisBytesPerDay);
        Assert.All(report.Projections, p => Assert.Null(p.RedisBytes));
        Assert.All(report.Projections, p => Assert.Equal(0m, p.RedisStoragePerMonth));
        Assert.Contains(report.Notes, n => n.Contains("MEMORY USAGE", StringComparison.Ordinal));
    }

    [Fact]
    public void Compute_EmptyTable_HasNoBytesPerRowAndNoGrowth()
    {
        var report = Compute(Window(s_now.AddDays(-30), runs: 10, counted: 10, s_now.AddDays(-7), upserted: 700, commands: 70));

        var user = report.Entities.Single(e => e.Entity == "user");
        Assert.Null(user.BytesPerRow);
        Assert.Equal(0, user.PostgresBytesPerDay);
        Assert.Equal(EntityCatalog.Default.All.Select(e => e.Name), report.Entities.Select(e => e.Entity));
    }
}
