using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Cost;

namespace NexusArchive.Cli.Commands;

internal static class CostCommand
{
    public static Command Create()
    {
        var days = new Option<int?>("--days")
        {
            Description = "Measure growth and Redis commands per day over the runs of the last N days (1-365; default Archive:Cost:GrowthWindow).",
        };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON." };
        var command = new Command(
            "cost",
            "What the archive costs: PostgreSQL disk per table now, growth and Redis commands per day from run history, and a projection for 30 and 365 days at the Archive:Cost prices.")
        {
            days, json,
        };
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async (services, ct) =>
        {
            if (parse.GetValue(days) is { } d && d is < 1 or > 365)
            {
                throw new ArgumentException($"--days must be between 1 and 365 (was {d}).");
            }

            var window = parse.GetValue(days) is { } n ? TimeSpan.FromDays(n) : (TimeSpan?)null;
            var report = await services.GetRequiredService<CostService>().GetAsync(window, ct);
            Console.WriteLine(parse.GetValue(json) ? JsonSerializer.Serialize(report, Output.Json) : Describe(report));
            return CliHost.ExitOk;
        }, cancellationToken));
        return command;
    }

    public static string Describe(CostReport report)
    {
        var p = report.Prices;
        var text = new StringBuilder();
        text.Append($"Archive cost at {Output.Time(report.At)}; growth from {Output.Number(report.Runs)} run{(report.Runs == 1 ? string.Empty : "s")} over {Span(report.DaysMeasured)}")
            .Append($" (window {Span(report.Window.TotalDays)})\n")
            .Append($"Prices as of {p.AsOf} (Archive:Cost): PostgreSQL disk {Price(p.PostgresDiskPerGbMonth)}/GB-month, ")
            .Append($"Redis {Price(p.RedisPer100kCommands)}/100k commands, Redis storage {Price(p.RedisStoragePerGbMonth)}/GB-month\n\n");

        text.Append(Output.Table(
            ["entity", "table", "rows (est.)", "table", "indexes", "bytes/row", "upserted/day", "growth/day", "change index", "Redis commands/day"],
            report.Entities.Select(e => (IReadOnlyList<string>)
            [
                e.Entity, e.Table, Output.Number(e.Rows), Bytes(e.TableBytes), Bytes(e.IndexBytes),
                (e.BytesPerRow is { } b ? Output.Number((long)Math.Round(b)) : "-"),
                Output.Number((long)Math.Round(e.RowsPerDay)), Bytes(e.PostgresBytesPerDay),
                (e.ChangeIndexBytes is { } i ? Bytes(i) : "unknown"),
                (report.RedisCommandsCounted && report.DaysMeasured > 0 ? Output.Number((long)Math.Round(e.RedisCommandsInWindow / report.DaysMeasured)) : "-"),
            ])));

        var commands = report.RedisCommandsCounted
            ? $"{Output.Number((long)Math.Round(report.RedisCommandsPerDay))} Redis commands/day"
            : "Redis commands/day unknown (no command counts in run history yet)";
        text.Append($"\nPostgreSQL {Bytes(report.PostgresBytes)} now, +{Bytes(report.PostgresBytesPerDay)}/day; ")
            .Append($"Redis change indexes {(report.RedisBytes is { } r ? Bytes(r) : "unknown")}; {commands}\n\n");

        text.Append(Output.Table(
            ["in", "PostgreSQL", "Redis indexes", "disk/month", "Redis storage/month", "Redis commands/month", "total/month", "spent over the period"],
            report.Projections.Select(x => (IReadOnlyList<string>)
            [
                (x.Days == 0 ? "now" : $"{x.Days} days"), Bytes(x.PostgresBytes), (x.RedisBytes is { } rb ? Bytes(rb) : "unknown"),
                Dollars(x.PostgresDiskPerMonth), Dollars(x.RedisStoragePerMonth), Dollars(x.RedisCommandsPerMonth),
                Dollars(x.TotalPerMonth), (x.Days == 0 ? "-" : Dollars(x.SpentOverPeriod)),
            ])));

        foreach (var note in report.Notes)
        {
            text.Append("\nNote: ").Append(note);
        }

        text.Append("\nWhat the archive adds at the marginal price: the plan's included disk, compute and the app's own Redis commands are not in it; ")
            .Append("upserts include edits, so growth is an upper bound (docs/operations.md, \"What the archive costs\").\n");
        return text.ToString();
    }

    private static string Span(double days) => days switch
    {
        0 => "no history",
        < 1 => Plural(days * 24, "hour"),
        _ => Plural(days, "day"),
    };

    private static string Plural(double value, string unit)
    {
        var text = value.ToString("0.#", CultureInfo.InvariantCulture);
        return text == "1" ? $"1 {unit}" : $"{text} {unit}s";
    }

    private static string Price(decimal value) => "$" + value.ToString("0.00##", CultureInfo.InvariantCulture);

    private static string Dollars(decimal value) => value switch
    {
        0 => "$0",
        < 0.01m => "<$0.01",
        _ => "$" + value.ToString("N2", CultureInfo.InvariantCulture),
    };

    private static string Bytes(double bytes) => bytes switch
    {
        < 1024 => $"{bytes.ToString("0", CultureInfo.InvariantCulture)} B",
        < 1024 * 1024 => $"{(bytes / 1024).ToString("0.0", CultureInfo.InvariantCulture)} KB",
        < 1024d * 1024 * 1024 => $"{(bytes / 1024 / 1024).ToString("0.0", CultureInfo.InvariantCulture)} MB",
        _ => $"{(bytes / 1024 / 1024 / 1024).ToString("0.00", CultureInfo.InvariantCulture)} GB",
    };
}
