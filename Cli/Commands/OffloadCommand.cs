using System.CommandLine;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Offload;

namespace NexusArchive.Cli.Commands;

internal static class OffloadCommand
{
    public static Command Create()
    {
        var dryRun = new Option<bool>("--dry-run") { Description = "Only list what would leave Redis and why the rest stays; change nothing." };
        var limit = new Option<int?>("--limit") { Description = "Check at most this many candidate sessions." };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON." };
        var command = new Command(
            "offload",
            "Remove chat sessions idle for Archive:Offload:After from Redis, only those the archive holds at exactly the version Redis holds; leaves an offload marker per user.")
        {
            dryRun, limit, json,
        };
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async (services, ct) =>
        {
            var report = await services.GetRequiredService<OffloadService>().OffloadAsync(
                new OffloadRequest(parse.GetValue(dryRun), "cli", parse.GetValue(limit)), ct);

            Console.WriteLine(parse.GetValue(json) ? JsonSerializer.Serialize(report, Output.Json) : Describe(report));
            return report.Status switch
            {
                OffloadStatus.Succeeded or OffloadStatus.Partial => CliHost.ExitOk,
                OffloadStatus.Refused => CliHost.ExitConflict,
                _ => CliHost.ExitFailed,
            };
        }, cancellationToken));
        return command;
    }

    public static string Describe(OffloadReport report)
    {
        var text = new StringBuilder();
        var verb = report.DryRun ? "would leave Redis" : "offloaded";
        text.Append($"Offload{(report.DryRun ? " (dry run)" : string.Empty)} {report.RunId}: {report.Status.ToString().ToUpperInvariant()} in {Output.Duration(report.DurationMs)}");
        text.Append($" — sessions idle since before {Output.Time(report.Cutoff)}\n");
        if (report.RefusedBecause is { } why)
        {
            text.Append($"  {(report.Status == OffloadStatus.Partial ? "stopped" : "refused")}: {why}\n");
        }

        text.Append('\n').Append(Output.Table(
            ["candidates", verb, "stay in Redis", "Redis keys", "bytes freed", "measured by"],
            [[Output.Number(report.Candidates), Output.Number(report.SessionsOffloaded), Output.Number(report.SessionsSkipped),
              Output.Number(report.RecordsRemoved), Output.Number(report.BytesFreed), report.BytesMethod]]));
        if (report.SkippedByReason.Count > 0)
        {
            text.Append("\nWhy sessions stay\n").Append(Output.Table(
                ["reason", "sessions"],
                report.SkippedByReason.OrderByDescending(r => r.Value).Select(r => (IReadOnlyList<string>)[r.Key, Output.Number(r.Value)])));
            text.Append($"\nFirst {OffloadReport.Listed} that stay\n").AppendJoin('\n', report.Skipped.Select(s => $"  {s.SessionId}: {s.Reason} ({s.Detail})")).Append('\n');
        }

        if (report.Offloaded.Count > 0)
        {
            text.Append($"\nFirst {OffloadReport.Listed} {verb}\n")
                .AppendJoin('\n', report.Offloaded.Select(s => $"  {s.SessionId} (user {s.UserId}): {s.Records} archived rows, {s.RedisKeys} Redis keys, {Output.Number(s.Bytes)} bytes"))
                .Append('\n');
        }

        return text.ToString();
    }
}
