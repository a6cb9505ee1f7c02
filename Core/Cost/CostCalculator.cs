using System.Globalization;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;

namespace NexusArchive.Core.Cost;

/// <summary>
/// The arithmetic of a <see cref="CostReport"/>, apart from the queries so it can be checked by hand: rates per day
/// from the run history of a window, bytes per row from the tables' size now, linear projections, prices.
/// </summary>
internal static class CostCalculator
{
    /// <summary>Bytes in a GB as the providers bill it (GiB: PostgreSQL's <c>pg_size_pretty</c> counts the same way).</summary>
    public const decimal BytesPerGb = 1024m * 1024m * 1024m;

    /// <summary>Days in a billing month (both providers bill by the hour; a month is taken as 30 days).</summary>
    public const int DaysPerMonth = 30;

    /// <summary>Commands per Redis price unit.</summary>
    public const decimal CommandsPerPriceUnit = 100_000m;

    /// <summary>Rates need at least this much history: a shorter one (a single run) is counted as this long.</summary>
    public static readonly TimeSpan MinimumSpan = TimeSpan.FromHours(1);

    /// <summary>The horizons every report projects to, in days (0 = now).</summary>
    public static readonly IReadOnlyList<int> Horizons = [0, 30, 365];

    public static CostReport Compute(
        EntityCatalog catalog,
        DateTimeOffset now,
        TimeSpan window,
        CostPrices prices,
        IReadOnlyDictionary<string, TableSize> tables,
        IReadOnlyDictionary<string, long> rows,
        IReadOnlyDictionary<string, ChangeIndexSize> indexes,
        RunWindow runs)
    {
        var notes = new List<string>();
        var measured = MeasuredSpan(now, runs.Since, runs.FirstRunEver, runs.Runs, window, "Rates", notes);
        var days = measured.TotalDays;

        var entities = new List<EntityCost>();
        foreach (var entity in catalog.All)
        {
            var size = tables.GetValueOrDefault(entity.Name) ?? new TableSize(0, 0);
            var count = rows.GetValueOrDefault(entity.Name);
            var index = indexes.GetValueOrDefault(entity.Name) ?? new ChangeIndexSize(0, null);
            var done = runs.Entities.GetValueOrDefault(entity.Name) ?? new RunWindowEntity(0, 0);
            var bytesPerRow = count > 0 ? (double)(size.TableBytes + size.IndexBytes) / count : (double?)null;
            var rowsPerDay = days > 0 ? done.Upserted / days : 0;
            double? indexBytesPerDay = index.Bytes is { } b ? (index.Entries > 0 ? rowsPerDay * b / index.Entries : 0) : null;
            entities.Add(new EntityCost(
                entity.Name, entity.Table, count, size.TableBytes, size.IndexBytes, bytesPerRow,
                done.Upserted, rowsPerDay, rowsPerDay * (bytesPerRow ?? 0), index.Entries, index.Bytes, indexBytesPerDay, done.RedisCommands));
        }

        var postgresBytes = entities.Sum(e => e.TableBytes + e.IndexBytes);
        var postgresPerDay = entities.Sum(e => e.PostgresBytesPerDay);
        var redisKnown = entities.All(e => e.ChangeIndexBytes is not null);
        long? redisBytes = redisKnown ? entities.Sum(e => e.ChangeIndexBytes!.Value) : null;
        double? redisPerDay = redisKnown ? entities.Sum(e => e.RedisBytesPerDay!.Value) : null;
        if (!redisKnown)
        {
            notes.Add("The Redis server does not report MEMORY USAGE: the change indexes' size is unknown and left out of the storage cost.");
        }

        var commandsPerDay = CommandsPerDay(now, window, runs, entities.Sum(e => e.RedisCommandsInWindow), notes);
        var projections = Horizons
            .Select(d => Project(d, prices, postgresBytes, postgresPerDay, redisBytes, redisPerDay, commandsPerDay))
            .ToList();

        return new CostReport(
            now, window, days, runs.Runs, runs.RunsWithCommandCounts, runs.RunsWithCommandCounts > 0, commandsPerDay, prices,
            entities, postgresBytes, redisBytes, postgresPerDay, redisPerDay, projections, notes);
    }

    /// <summary>The archive <paramref name="days"/> days from now and its price: sizes grow linearly, commands stay at today's rate.</summary>
    public static CostProjection Project(
        int days, CostPrices prices, long postgresBytes, double postgresPerDay, long? redisBytes, double? redisPerDay, double commandsPerDay)
    {
        var postgresThen = postgresBytes + (postgresPerDay * days);
        var redisThen = redisBytes is { } r ? r + (redisPerDay!.Value * days) : (double?)null;
        var postgresMonth = Gb(postgresThen) * prices.PostgresDiskPerGbMonth;
        var redisMonth = redisThen is { } rt ? Gb(rt) * prices.RedisStoragePerGbMonth : 0m;
        var commandsMonth = (decimal)commandsPerDay * DaysPerMonth / CommandsPerPriceUnit * prices.RedisPer100kCommands;

        // Over the period storage grows linearly, so it costs its average size (halfway) for the whole period.
        var months = (decimal)days / DaysPerMonth;
        var spent = (Gb(postgresBytes + (postgresPerDay * days / 2)) * prices.PostgresDiskPerGbMonth * months)
            + (redisBytes is { } rb ? Gb(rb + (redisPerDay!.Value * days / 2)) * prices.RedisStoragePerGbMonth * months : 0m)
            + ((decimal)commandsPerDay * days / CommandsPerPriceUnit * prices.RedisPer100kCommands);

        return new CostProjection(
            days, (long)Math.Round(postgresThen), redisThen is { } x ? (long)Math.Round(x) : null,
            Money(postgresMonth), Money(redisMonth), Money(commandsMonth), Money(postgresMonth + redisMonth + commandsMonth), Money(spent));
    }

    /// <summary>Decimal places of the money in a report: millionths of a dollar, so a small archive does not show as 0.</summary>
    public const int MoneyDecimals = 6;

    /// <summary>Money in the report, rounded to <see cref="MoneyDecimals"/>.</summary>
    public static decimal Money(decimal dollars) => Math.Round(dollars, MoneyDecimals, MidpointRounding.AwayFromZero);

    private static decimal Gb(double bytes) => (decimal)bytes / BytesPerGb;

    /// <summary>
    /// The span rates are measured over: the window, or less when history starts inside it (then noted), at least
    /// <see cref="MinimumSpan"/>; zero without runs.
    /// </summary>
    private static TimeSpan MeasuredSpan(DateTimeOffset now, DateTimeOffset since, DateTimeOffset? firstRun, int runs, TimeSpan window, string what, List<string> notes)
    {
        if (runs == 0 || firstRun is null)
        {
            notes.Add($"No archive run started in the last {Days(window)}: growth and Redis commands per day are 0.");
            return TimeSpan.Zero;
        }

        var start = firstRun.Value > since ? firstRun.Value : since;
        var span = now - start;
        if (span < MinimumSpan)
        {
            notes.Add($"{what} are measured over less than an hour of run history (since {Time(start)}), counted as one hour: treat them as a rough guess until the history is longer.");
            return MinimumSpan;
        }

        if (start > since)
        {
            notes.Add($"{what} are measured over the {Days(span)} since the first run ({Time(start)}), not the {Days(window)} asked for.");
        }

        return span;
    }

    private static double CommandsPerDay(DateTimeOffset now, TimeSpan window, RunWindow runs, long commands, List<string> notes)
    {
        if (runs.Runs == 0)
        {
            return 0;
        }

        if (runs.RunsWithCommandCounts == 0)
        {
            notes.Add("Run history holds no Redis command counts yet (runs recorded before the pass counted its commands): Redis commands per day are unknown and shown as 0.");
            return 0;
        }

        if (runs.RunsWithCommandCounts == runs.Runs)
        {
            var all = MeasuredSpan(now, runs.Since, runs.FirstRunEver, runs.Runs, window, "Redis commands", []);
            return commands / all.TotalDays;
        }

        // Runs from before the pass counted commands are in the window: measure over the counted runs only.
        notes.Add($"{runs.Runs - runs.RunsWithCommandCounts} of {runs.Runs} runs hold no Redis command counts (recorded before the pass counted them): "
            + "commands per day are measured from the oldest run that has them.");
        var span = MeasuredSpan(now, runs.OldestCountedRun!.Value, runs.OldestCountedRun, runs.RunsWithCommandCounts, window, "Redis commands", []);
        return commands / span.TotalDays;
    }

    private static string Days(TimeSpan span) => span.TotalDays >= 1
        ? $"{span.TotalDays.ToString("0.#", CultureInfo.InvariantCulture)} days"
        : $"{span.TotalHours.ToString("0.#", CultureInfo.InvariantCulture)} hours";

    private static string Time(DateTimeOffset value) => value.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
