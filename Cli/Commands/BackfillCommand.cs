using System.CommandLine;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Backfill;

namespace NexusArchive.Cli.Commands;

internal static class BackfillCommand
{
    public static Command Create()
    {
        var entities = new Option<string[]>("--entity") { Description = "Backfill only these entities (repeatable): user, session, message, attachment.", AllowMultipleArgumentsPerToken = true };
        var restart = new Option<bool>("--restart") { Description = "Forget the saved SCAN cursor and start from the beginning." };
        var scanCount = new Option<int>("--scan-count") { Description = "COUNT hint per SCAN call (keys visited per batch).", DefaultValueFactory = _ => 1000 };
        var json = new Option<bool>("--json") { Description = "Print the final report as JSON." };
        var command = new Command(
            "backfill",
            "Add change-index entries for record hashes written before the indexes existed (SCAN, resumable; Ctrl+C stops after the current batch).")
        {
            entities, restart, scanCount, json,
        };
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async (services, ct) =>
        {
            var display = new ProgressDisplay(TimeSpan.FromSeconds(10));
            BackfillReport report;
            try
            {
                report = await services.GetRequiredService<BackfillService>().RunAsync(
                    new BackfillRequest(parse.GetValue(entities), parse.GetValue(restart), parse.GetValue(scanCount)), display, ct);
            }
            finally
            {
                display.End();
            }

            Console.WriteLine(parse.GetValue(json) ? JsonSerializer.Serialize(report, Output.Json) : Describe(report));
            return report.Completed ? CliHost.ExitOk : CliHost.ExitFailed;
        }, cancellationToken));
        return command;
    }

    private static string Describe(BackfillReport report)
    {
        var table = Output.Table(
            ["entity", "state", "keys scanned", "indexed", "already indexed", "unparsable (score 0)", "not hashes", "checkpoint"],
            report.Entities.Select(e => (IReadOnlyList<string>)
            [
                e.Entity,
                e.RewindBlocked ? "rewind blocked" : e.Completed ? (e.Resumed ? "done (resumed)" : "done") : "interrupted",
                Output.Number(e.KeysScanned), Output.Number(e.Indexed), Output.Number(e.AlreadyIndexed), Output.Number(e.Unparsable), Output.Number(e.NotHashes),
                e.CheckpointRewoundTo is { } score ? $"rewound to {Output.Time(DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Max(0, score)))}" : "-",
            ]));
        var footer = report.Completed
            ? "Backfill complete. Run `archive` next, then `verify`.\n"
            : "Backfill did not finish: run `backfill` again to resume from the saved cursor (see docs/operations.md).\n";
        return $"Backfill in {Output.Duration(report.DurationMs)}\n\n{table}\n{footer}";
    }

    /// <summary>A live-updating line on a terminal; a plain line every <c>interval</c> when output is redirected.</summary>
    private sealed class ProgressDisplay(TimeSpan interval) : IProgress<BackfillProgress>
    {
        private readonly bool _live = !Console.IsOutputRedirected;
        private DateTimeOffset _lastLine = DateTimeOffset.MinValue;
        private int _width;

        public void Report(BackfillProgress value)
        {
            var eta = value.Eta is { } e ? Output.Duration(e.TotalMilliseconds) : "?";
            var percent = value.DatabaseSize > 0 ? 100.0 * value.KeysVisited / value.DatabaseSize : 100.0;
            var line = $"backfill {value.Entity}: {Output.Number(value.KeysScanned)} keys, {Output.Number(value.Indexed)} indexed, "
                + $"{value.KeysPerSecond:N0} keys/s, ~{percent:0}% of {Output.Number(value.DatabaseSize)} keys visited, ETA {eta}";
            if (_live)
            {
                Console.Write("\r" + line.PadRight(_width));
                _width = line.Length;
                return;
            }

            var now = TimeProvider.System.GetUtcNow();
            if (now - _lastLine >= interval)
            {
                _lastLine = now;
                Console.WriteLine(line);
            }
        }

        public void End()
        {
            if (_live && _width > 0)
            {
                Console.WriteLine();
            }
        }
    }
}
