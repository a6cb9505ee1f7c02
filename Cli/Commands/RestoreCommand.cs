using System.CommandLine;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Restore;
using NexusArchive.Core.Verification;

namespace NexusArchive.Cli.Commands;

internal static class RestoreCommand
{
    public static Command Create()
    {
        var user = new Option<string?>("--user") { Description = "Restore this user, their sessions, messages and attachments." };
        var session = new Option<string?>("--session") { Description = "Restore this session, its messages and attachments." };
        var all = new Option<bool>("--all") { Description = "Restore every archived record." };
        var dryRun = new Option<bool>("--dry-run") { Description = "Only report what would be written and skipped." };
        var batchSize = new Option<int>("--batch-size") { Description = "Rows per PostgreSQL page and Redis pipeline.", DefaultValueFactory = _ => 1000 };
        var includeOffloaded = new Option<bool>("--include-offloaded") { Description = "With --all: also bring back sessions offloaded to cold storage (otherwise only their markers are written again)." };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON." };
        var command = new Command(
            "restore",
            "Write archived records back into Redis through the Lua writer, keeping each record's updatedAt; never overwrites a newer record.")
        {
            user, session, all, dryRun, batchSize, includeOffloaded, json,
        };
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async (services, ct) =>
        {
            var report = await services.GetRequiredService<RestoreService>().RestoreAsync(
                new RestoreRequest(parse.GetValue(user), parse.GetValue(session), parse.GetValue(all), parse.GetValue(dryRun), parse.GetValue(batchSize), parse.GetValue(includeOffloaded)), ct);

            Console.WriteLine(parse.GetValue(json) ? JsonSerializer.Serialize(report, Output.Json) : Describe(report));
            // Refused rows were left out of Redis: the restore is not complete, so the exit code says so.
            return report.Refused == 0 ? CliHost.ExitOk : CliHost.ExitFailed;
        }, cancellationToken));
        return command;
    }

    private static string Describe(RestoreReport report)
    {
        var scope = report.Scope.Kind == ScopeKind.All ? "everything" : $"{report.Scope.Kind.ToString().ToLowerInvariant()} {report.Scope.Id}";
        var verb = report.DryRun ? "Dry run of restore" : "Restore";
        var header = $"{verb} of {scope} in {Output.Duration(report.DurationMs)}: {Output.Number(report.Written)} {(report.DryRun ? "would be written" : "written")}, "
            + $"{Output.Number(report.Skipped)} skipped (Redis holds the same or a newer version)\n\n";
        var table = Output.Table(
            ["entity", "archived rows", report.DryRun ? "would write" : "written", "skipped", "refused"],
            report.Entities.Select(e => (IReadOnlyList<string>)[e.Entity, Output.Number(e.Rows), Output.Number(e.Written), Output.Number(e.Skipped), Output.Number(e.Refused)]));
        if (report.OffloadedRestored + report.OffloadedKept > 0)
        {
            table += report.OffloadedKept > 0
                ? $"\n{Output.Number(report.OffloadedKept)} offloaded sessions stay in cold storage; their offload markers were written again (--include-offloaded brings them back)\n"
                : $"\n{Output.Number(report.OffloadedRestored)} offloaded sessions {(report.DryRun ? "would come" : "came")} back into Redis{(report.DryRun ? string.Empty : "; their offload markers are cleared")}\n";
        }

        if (report.Refused == 0)
        {
            return header + table;
        }

        var refusals = report.Entities.SelectMany(e => e.Refusals.Select(r => $"  {e.Entity} {r.Id}: {r.Reason}"));
        return header + table + $"\n\n{Output.Number(report.Refused)} archived rows were refused by the writer and are not in Redis"
            + $" (first {RestoreService.RefusalsListed} per entity):\n" + string.Join('\n', refusals);
    }
}
