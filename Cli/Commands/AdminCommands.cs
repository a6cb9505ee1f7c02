using System.CommandLine;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Admin;

namespace NexusArchive.Cli.Commands;

/// <summary><c>export</c> and <c>erase</c>: a user's data-subject requests, each written to the audit trail.</summary>
internal static class AdminCommands
{
    /// <summary>Who runs a CLI admin command, as the audit trail records it (an OS account, never a secret).</summary>
    public static string Actor => $"cli:{Environment.UserName}@{Environment.MachineName}";

    public static Command Export()
    {
        var user = new Option<string>("--user") { Description = "The user whose archived data to export.", Required = true };
        var output = new Option<FileInfo?>("--output") { Description = "Write the NDJSON here instead of stdout." };
        var command = new Command("export", "Everything archived for one user (soft-deleted rows included and marked), streamed as NDJSON; audited.") { user, output };
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async (services, ct) =>
        {
            var service = services.GetRequiredService<ExportService>();
            var userId = parse.GetValue(user)!;
            var file = parse.GetValue(output);
            await using var stream = file is null ? Console.OpenStandardOutput() : file.Create();
            await using var buffered = new BufferedStream(stream, 64 * 1024);
            var report = await service.ExportAsync(userId, buffered, AdminCommands.Actor, ct);
            await Console.Error.WriteLineAsync(
                $"Exported user {userId}: {report.Total:N0} records ({string.Join(", ", report.Records.Select(r => $"{r.Key} {r.Value:N0}"))}; {report.SoftDeleted:N0} soft-deleted) in {Output.Duration(report.DurationMs)}; audit #{report.AuditId}");
            return report.Total == 0 ? CliHost.ExitFailed : CliHost.ExitOk;
        }, cancellationToken));
        return command;
    }

    public static Command Erase()
    {
        var user = new Option<string>("--user") { Description = "The user to erase from Redis and PostgreSQL.", Required = true };
        var dryRun = new Option<bool>("--dry-run") { Description = "Only count what would be erased." };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON." };
        var command = new Command(
            "erase",
            "The right to be forgotten: hard-delete one user's records from PostgreSQL and Redis (hashes, index entries, offload marker), strip their dead letters; audited. See docs/erase.md for what it cannot reach.")
        {
            user, dryRun, json,
        };
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async (services, ct) =>
        {
            var report = await services.GetRequiredService<EraseService>().EraseAsync(new EraseRequest(parse.GetValue(user)!, parse.GetValue(dryRun), Actor), ct);
            Console.WriteLine(parse.GetValue(json) ? JsonSerializer.Serialize(report, Output.Json) : Describe(report));
            return CliHost.ExitOk;
        }, cancellationToken));
        return command;
    }

    public static string Describe(EraseReport report)
    {
        var verb = report.DryRun ? "would erase" : "erased";
        return $"Erase of user {report.UserId}{(report.DryRun ? " (dry run)" : string.Empty)} in {Output.Duration(report.DurationMs)} (audit #{report.AuditId}): {verb}\n\n"
            + Output.Table(
                ["archive rows", "Redis keys", "dead letters stripped", "offloaded sessions"],
                [[
                    string.Join(", ", report.PostgresRows.Select(r => $"{r.Key} {Output.Number(r.Value)}")), Output.Number(report.RedisKeys),
                    Output.Number(report.DeadLetters), Output.Number(report.OffloadedSessions),
                ]]);
    }
}
