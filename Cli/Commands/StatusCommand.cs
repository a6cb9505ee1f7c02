using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Cost;
using NexusArchive.Core.Verification;

namespace NexusArchive.Cli.Commands;

internal static class StatusCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print the status as JSON." };
        var command = new Command("status", "Show checkpoints, lag and backlog per entity, recent runs, open dead letters and the last verification.") { json };
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async (services, ct) =>
        {
            var status = await services.GetRequiredService<StatusService>().GetAsync(ct);
            Console.WriteLine(parse.GetValue(json) ? JsonSerializer.Serialize(status, Output.Json) : Describe(status));
            return CliHost.ExitOk;
        }, cancellationToken));
        return command;
    }

    private static string Describe(ArchiveStatus status)
    {
        var entities = Output.Table(
            ["entity", "checkpoint", "lag", "backlog", "archived rows (est.)", "open dead letters", "leased"],
            status.Entities.Select(e => (IReadOnlyList<string>)
            [
                e.Entity, Output.Time(e.Checkpoint), Output.Duration(e.LagMs), Output.Number(e.Backlog),
                Output.Number(e.ArchivedRows), Output.Number(e.OpenDeadLetters), e.Leased ? "yes" : "no",
            ]));
        var runs = Output.Table(
            ["started", "trigger", "status", "duration", "error"],
            status.RecentRuns.Select(r => (IReadOnlyList<string>)
            [
                Output.Time(r.StartedAt), r.Trigger, r.Status,
                Output.Duration(r.FinishedAt is { } f ? (f - r.StartedAt).TotalMilliseconds : null), r.Error ?? string.Empty,
            ]));
        return $"Redis time {Output.Time(status.RedisNow)}; open dead letters: {Output.Number(status.OpenDeadLetters)}\n\n{entities}{DescribeStreams(status.Entities)}\nRecent runs\n{runs}"
            + $"\n{Describe(status.LastVerification)}\n{Describe(status.Offload)}\n{Describe(status.Cost)}\n";
    }

    /// <summary>The change streams of sharded entities (docs/scaling.md); nothing when every entity has its one stream.</summary>
    private static string DescribeStreams(IReadOnlyList<EntityStatus> entities)
    {
        var sharded = entities.Where(e => e.Streams is not null).ToList();
        if (sharded.Count == 0)
        {
            return string.Empty;
        }

        var layout = string.Join("\n", sharded.Select(e =>
            $"{e.Entity}: {e.Shards!.Count} shard(s)"
            + (e.Shards.Draining is { } d ? $", draining the layout of {d}" : string.Empty)
            + $"; {Output.Number(e.Shards.LeftToDrain)} entries left to drain"));
        var streams = Output.Table(
            ["stream", "role", "checkpoint", "lag", "backlog", "entries", "leased"],
            sharded.SelectMany(e => e.Streams!).Select(s => (IReadOnlyList<string>)
            [
                s.Stream, s.Role switch { StreamRole.Current => "current", StreamRole.Draining => "draining", _ => "NOT IN LAYOUT" },
                Output.Time(s.Checkpoint), Output.Duration(s.LagMs), Output.Number(s.Backlog), Output.Number(s.Entries), s.Leased ? "yes" : "no",
            ]));
        var strays = sharded.SelectMany(e => e.Streams!).Where(s => s.Role == StreamRole.NotInLayout)
            .Select(s => $"WARNING: {s.Stream} is not in the shard layout but holds {Output.Number(s.Entries)} entries no pass works (docs/scaling.md)\n");
        return $"\nShards\n{layout}\n\n{streams}{string.Concat(strays)}";
    }

    private static string Describe(CostReport? cost)
    {
        if (cost is null)
        {
            return "Cost: not measured";
        }

        var month = cost.Projections.Single(p => p.Days == 0);
        var year = cost.Projections.Single(p => p.Days == 365);
        var commands = cost.RedisCommandsCounted ? Output.Number((long)Math.Round(cost.RedisCommandsPerDay)) : "unknown";
        return $"Cost: {Output.Number(cost.PostgresBytes)} bytes in PostgreSQL, +{Output.Number((long)Math.Round(cost.PostgresBytesPerDay))} bytes/day, "
            + $"{commands} Redis commands/day; ${month.TotalPerMonth.ToString("0.00", CultureInfo.InvariantCulture)}/month now, "
            + $"${year.TotalPerMonth.ToString("0.00", CultureInfo.InvariantCulture)}/month in 365 days (prices as of {cost.Prices.AsOf}; `cost` shows the details)";
    }

    private static string Describe(OffloadSummary offload)
    {
        var now = $"Cold storage: {Output.Number(offload.OffloadedSessions)} sessions offloaded, {Output.Number(offload.BytesFreed)} bytes of Redis freed";
        return offload.LastRun is not { } r
            ? now + "; no offload has run (`offload --dry-run` shows what would go)"
            : now + $"; last offload {Output.Time(r.StartedAt)} ({r.Trigger}): {r.Status}, {Output.Number(r.SessionsOffloaded)} sessions, "
                + $"{Output.Number(r.RecordsRemoved)} keys, {Output.Number(r.BytesFreed)} bytes ({r.BytesMethod}), {Output.Number(r.SessionsSkipped)} stayed"
                + (r.Error is null ? string.Empty : $" — {r.Error}");
    }

    private static string Describe(VerificationSummary? verification)
    {
        if (verification is null)
        {
            return "Last verification: none yet (run `verify --since`, or let the Functions app's ArchiveVerifyTimer run)";
        }

        var v = verification;
        var outcome = v.Status == VerificationStatus.Failed
            ? $"FAILED: {v.Error}"
            : $"{Output.Number(v.RecordsChecked)} records checked, {Output.Number(v.Gaps)} gaps, {Output.Number(v.Differences)} differences";
        var examples = v.ExampleIds.Count > 0 ? $" (e.g. {string.Join(", ", v.ExampleIds.Take(5))})" : string.Empty;
        return $"Last verification: {Output.Time(v.FinishedAt)} ({v.Kind}, {v.Trigger}, #{v.VerificationId}): {outcome}{examples}";
    }
}
