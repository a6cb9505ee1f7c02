using System.CommandLine;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Archiving;

namespace NexusArchive.Cli.Commands;

internal static class ArchiveCommand
{
    public static Command Create()
    {
        var entities = new Option<string[]>("--entity") { Description = "Archive only these entities (repeatable): user, session, message, attachment.", AllowMultipleArgumentsPerToken = true };
        var maxDuration = new Option<TimeSpan?>("--max-duration") { Description = "Stop between pages after this long (e.g. 00:05:00); Archive:TimeBudget still applies." };
        var ids = new Option<string[]>("--id") { Description = "Archive exactly these records of the one --entity now (repeatable), regardless of the settle window and the checkpoint.", AllowMultipleArgumentsPerToken = true };
        var shard = new Option<int?>("--shard") { Description = "Work only this shard (0-based) of the one --entity (docs/scaling.md); several processes can each run one." };
        var of = new Option<int?>("--of") { Description = "With --shard: the shard count it belongs to, when not the current one (a layout being drained); --shard 0 --of 1 is the unsharded stream." };
        var json = new Option<bool>("--json") { Description = "Print the run summary as JSON." };
        var command = new Command("archive", "Run one archive pass over the due changes of every entity; exits non-zero on failure. With --id: archive those records now.") { entities, maxDuration, ids, shard, of, json };
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async (services, ct) =>
        {
            if (parse.GetValue(ids) is { Length: > 0 } named)
            {
                var entity = parse.GetValue(entities) is [var one] ? one : throw new ArgumentException("--id needs exactly one --entity.");
                var report = await services.GetRequiredService<ArchiveRecordsService>().ArchiveAsync([.. named.Select(id => new RecordRef(entity, id))], ct);
                Console.WriteLine(parse.GetValue(json) ? JsonSerializer.Serialize(report, Output.Json) : Output.Table(
                    ["entity", "id", "outcome", "reason"],
                    report.Records.Select(r => (IReadOnlyList<string>)[r.Entity, r.Id, r.Outcome.ToString(), r.Reason ?? string.Empty])));
                return report.Records.Any(r => r.Outcome is RecordOutcome.DeadLettered or RecordOutcome.NotFound) ? CliHost.ExitFailed : CliHost.ExitOk;
            }

            var service = services.GetRequiredService<ArchiveService>();
            if (parse.GetValue(shard) is null && parse.GetValue(of) is not null)
            {
                throw new ArgumentException("--of needs --shard.");
            }

            var request = new ArchiveRunRequest("cli", parse.GetValue(entities), parse.GetValue(maxDuration))
            {
                Shard = parse.GetValue(shard),
                ShardCount = parse.GetValue(of),
            };
            var run = await service.RunAsync(request, ct);

            Console.WriteLine(parse.GetValue(json) ? JsonSerializer.Serialize(run, Output.Json) : Describe(run));
            return run.Status switch
            {
                RunStatus.Succeeded or RunStatus.Partial => CliHost.ExitOk,
                RunStatus.Conflict => CliHost.ExitConflict,
                _ => CliHost.ExitFailed,
            };
        }, cancellationToken));
        return command;
    }

    public static string Describe(ArchiveRunResult run)
    {
        var seconds = Math.Max(run.Duration.TotalSeconds, 0.001);
        var header = $"Archive run {run.RunId} ({run.Trigger}): {run.Status.ToString().ToUpperInvariant()} in {Output.Duration(run.DurationMs)}"
            + $" — {Output.Number(run.TotalRead)} records read, {Output.Number(run.TotalUpserted)} rows upserted ({run.TotalRead / seconds:N0} records/s)\n\n";
        var table = Output.Table(
            ["entity", "status", "read", "upserted", "unchanged", "vanished", "dead-lettered", "pages", "lag"],
            run.Entities.Select(e => (IReadOnlyList<string>)
            [
                e.Shard is null ? e.Entity : $"{e.Entity}.{e.Shard}", e.Status.ToString(), Output.Number(e.Read), Output.Number(e.Upserted), Output.Number(e.Unchanged),
                Output.Number(e.Vanished), Output.Number(e.DeadLettered), Output.Number(e.Pages), Output.Duration(e.LagMs),
            ]));
        return header + table + (run.Error is null ? string.Empty : $"\nerror: {run.Error}\n");
    }
}
