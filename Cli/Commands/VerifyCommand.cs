using System.CommandLine;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Verification;

namespace NexusArchive.Cli.Commands;

internal static class VerifyCommand
{
    private const string Trigger = "cli";

    public static Command Create()
    {
        var entities = new Option<string[]>("--entity") { Description = "Verify only these entities (repeatable): user, session, message, attachment.", AllowMultipleArgumentsPerToken = true };
        var user = new Option<string?>("--user") { Description = "Only this user, their sessions, messages and attachments (adds per-session message counts)." };
        var session = new Option<string?>("--session") { Description = "Only this session, its messages and attachments (adds its message count)." };
        var batchSize = new Option<int>("--batch-size") { Description = "Keys per Redis SCAN call and ids per PostgreSQL page.", DefaultValueFactory = _ => 1000 };
        var since = new Option<bool>("--since")
        {
            Description = "Incremental: continue from the last recorded verification — the records changed since the last verified point and the "
                + "next slice of the keyspace walk, bounded by Archive:Verify:MaxRecordsPerRun and Archive:Verify:ScanKeysPerRun (what the Functions timer runs).",
        };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON." };
        var command = new Command("verify", "Compare Redis and PostgreSQL record by record; exits 1 when a record is missing or different.") { entities, user, session, batchSize, since, json };
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async (services, ct) =>
        {
            if (parse.GetValue(since))
            {
                return await RunIncrementalAsync(services, parse.GetValue(entities), parse.GetValue(user), parse.GetValue(session), parse.GetValue(batchSize), parse.GetValue(json), ct);
            }

            VerifyReport report;
            try
            {
                report = await services.GetRequiredService<VerifyService>().VerifyAsync(
                    new VerifyRequest(parse.GetValue(entities), parse.GetValue(user), parse.GetValue(session), parse.GetValue(batchSize), Trigger: Trigger), ct);
            }
            catch (ArgumentException ex)
            {
                await Console.Error.WriteLineAsync(ex.Message);
                return CliHost.ExitConfiguration;
            }

            Console.WriteLine(parse.GetValue(json) ? JsonSerializer.Serialize(report, Output.Json) : Describe(report));
            return report.Ok ? CliHost.ExitOk : CliHost.ExitFailed;
        }, cancellationToken));
        return command;
    }

    private static async Task<int> RunIncrementalAsync(
        IServiceProvider services, string[]? entities, string? user, string? session, int batchSize, bool json, CancellationToken cancellationToken)
    {
        if (user is not null || session is not null)
        {
            await Console.Error.WriteLineAsync("--since verifies every record changed since the last verified point; it takes no --user or --session.");
            return CliHost.ExitConfiguration;
        }

        IncrementalVerifyReport report;
        try
        {
            report = await services.GetRequiredService<IncrementalVerifyService>().RunAsync(new IncrementalVerifyRequest(Trigger, entities, batchSize), cancellationToken);
        }
        catch (ArgumentException ex)
        {
            await Console.Error.WriteLineAsync(ex.Message);
            return CliHost.ExitConfiguration;
        }

        Console.WriteLine(json ? JsonSerializer.Serialize(report, Output.Json) : Describe(report));
        return report.Ok ? CliHost.ExitOk : CliHost.ExitFailed;
    }

    public static string Describe(IncrementalVerifyReport report)
    {
        var text = new StringBuilder();
        text.Append($"Incremental verify {report.VerificationId} at Redis time {Output.Time(report.RedisNow)} in {Output.Duration(report.DurationMs)}: ");
        text.Append(report.Status == VerificationStatus.Failed ? $"FAILED: {report.Error}"
            : report.Ok ? "OK" : $"{Output.Number(report.Gaps)} GAPS, {Output.Number(report.Differences)} DIFFERENCES").Append("\n\n");
        text.Append(Output.Table(
            ["entity", "changed checked", "after", "until", "caught up", "keys checked", "scan cursor", "walk done", "equal", "pg older", "pg newer", "content differs", "pending", "gap", "unindexed", "dead-lettered"],
            report.Entities.Select(e => (IReadOnlyList<string>)
            [
                e.Entity, Output.Number(e.Changes.Checked), Score(e.Changes.AfterScore), Score(e.Changes.UntilScore), e.Changes.CaughtUp ? "yes" : "no",
                Output.Number(e.Keyspace.Checked), $"{e.Keyspace.CursorFrom} -> {e.Keyspace.CursorTo}", e.Keyspace.WalkCompleted ? "yes" : "no",
                .. new[]
                {
                    VerifyCategory.Equal, VerifyCategory.PostgresOlder, VerifyCategory.PostgresNewer, VerifyCategory.ContentDiffers, VerifyCategory.Pending,
                    VerifyCategory.Gap, VerifyCategory.Unindexed, VerifyCategory.DeadLettered,
                }.Select(c => Output.Number(e.Counts[c])),
            ])));

        if (report.ExampleIds.Count > 0)
        {
            text.Append("\nExamples: ").AppendJoin(", ", report.ExampleIds).Append('\n');
        }

        if (!report.Ok)
        {
            text.Append("\nSee docs/operations.md, \"When the scheduled verify alerts\".\n");
        }

        return text.ToString();

        static string Score(double? score) => score is { } s && double.IsFinite(s) ? Output.Time(DateTimeOffset.FromUnixTimeMilliseconds((long)s)) : "start";
    }

    public static string Describe(VerifyReport report)
    {
        var scope = report.Scope.Kind == ScopeKind.All ? "everything" : $"{report.Scope.Kind.ToString().ToLowerInvariant()} {report.Scope.Id}";
        var text = new StringBuilder();
        text.Append($"Verify of {scope} at Redis time {Output.Time(report.RedisNow)} in {Output.Duration(report.DurationMs)}: ");
        text.Append(report.Ok ? "OK" : $"{Output.Number(report.Gaps)} GAPS, {Output.Number(report.Differences)} DIFFERENCES").Append("\n\n");
        text.Append(Output.Table(
            ["entity", "redis", "postgres", "equal", "pg older", "pg newer", "content differs", "pending", "gap", "unindexed", "dead-lettered", "only in pg", "offloaded", "OFFLOADED MISSING"],
            report.Entities.Select(e => (IReadOnlyList<string>)
            [
                e.Entity, Output.Number(e.RedisRecords), Output.Number(e.PostgresRows),
                .. new[]
                {
                    VerifyCategory.Equal, VerifyCategory.PostgresOlder, VerifyCategory.PostgresNewer, VerifyCategory.ContentDiffers, VerifyCategory.Pending,
                    VerifyCategory.Gap, VerifyCategory.Unindexed, VerifyCategory.DeadLettered, VerifyCategory.OnlyInPostgres,
                    VerifyCategory.Offloaded, VerifyCategory.OffloadedMissing,
                }.Select(c => Output.Number(e.Counts[c])),
            ])));

        var samples = report.Entities.SelectMany(e => e.Samples.Select(s => $"  {e.Entity} {s.Key}: {string.Join(", ", s.Value)}")).ToList();
        if (samples.Count > 0)
        {
            text.Append("\nExamples\n").AppendJoin('\n', samples).Append('\n');
        }

        if (report.SessionMessageCounts.Count > 0)
        {
            text.Append("\nMessages per session\n").Append(Output.Table(
                ["session", "redis", "postgres", "match"],
                report.SessionMessageCounts.Select(s => (IReadOnlyList<string>)[s.SessionId, Output.Number(s.Redis), Output.Number(s.Postgres), s.Matches ? "yes" : "no"])));
        }

        if (!report.Ok)
        {
            text.Append("\nSee docs/operations.md, \"What verify's numbers mean\".\n");
        }

        return text.ToString();
    }
}
