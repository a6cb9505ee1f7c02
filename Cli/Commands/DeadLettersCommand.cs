using System.CommandLine;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.DeadLetters;
using NexusArchive.Core.Entities;

namespace NexusArchive.Cli.Commands;

/// <summary><c>dead-letters list|replay|discard</c>: operate the records that could not be archived.</summary>
internal static class DeadLettersCommand
{
    public static Command Create() => new("dead-letters", "List, replay or discard dead letters (records that could not be archived).")
    {
        List(),
        Replay(),
        Discard(),
    };

    private static Command List()
    {
        var (entity, ids, all, json) = Options("Also show resolved and discarded dead letters.");
        var limit = new Option<int>("--limit") { Description = "Show at most this many.", DefaultValueFactory = _ => 200 };
        var command = new Command("list", "Show dead letters: entity, id, category, reason, attempts, first and last seen.") { entity, ids, all, json, limit };
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async (services, ct) =>
        {
            if (!TryFilter(parse, services.GetRequiredService<EntityCatalog>(), entity, ids, parse.GetValue(all), out var filter))
            {
                return CliHost.ExitConfiguration;
            }

            var entries = await services.GetRequiredService<DeadLetterService>().ListAsync(filter, parse.GetValue(limit), ct);
            Console.WriteLine(parse.GetValue(json)
                ? JsonSerializer.Serialize(entries, Output.Json)
                : Output.Table(
                    ["id", "entity", "record", "category", "reason", "attempts", "first seen", "last seen", "status"],
                    entries.Select(e => (IReadOnlyList<string>)
                    [
                        e.DeadLetterId.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Entity, e.RecordId, e.Category,
                        e.Reason.Length > 80 ? e.Reason[..77] + "..." : e.Reason, Output.Number(e.Attempts),
                        Output.Time(e.FirstSeenAt), Output.Time(e.LastSeenAt), e.Status,
                    ])) + $"{entries.Count} dead letter(s)");
            return CliHost.ExitOk;
        }, cancellationToken));
        return command;
    }

    private static Command Replay()
    {
        var (entity, ids, all, json) = Options("Replay every open dead letter (of --entity, if given).");
        var command = new Command("replay", "Re-read the current Redis record of open dead letters and archive it; resolved on success.") { entity, ids, all, json };
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async (services, ct) =>
        {
            if (!TryFilter(parse, services.GetRequiredService<EntityCatalog>(), entity, ids, includeClosed: false, out var filter) || !RequireSelection(parse, ids, all))
            {
                return CliHost.ExitConfiguration;
            }

            var results = await services.GetRequiredService<DeadLetterService>().ReplayAsync(filter, ct);
            Console.WriteLine(parse.GetValue(json)
                ? JsonSerializer.Serialize(results, Output.Json)
                : Output.Table(
                    ["id", "entity", "record", "outcome", "detail"],
                    results.Select(r => (IReadOnlyList<string>)
                    [
                        r.DeadLetterId.ToString(System.Globalization.CultureInfo.InvariantCulture), r.Entity, r.RecordId, r.Outcome.ToString(), r.Detail ?? string.Empty,
                    ])) + $"{results.Count(r => r.Outcome == ReplayOutcome.Resolved)} of {results.Count} resolved");
            return results.Any(r => r.Outcome == ReplayOutcome.Busy) ? CliHost.ExitConflict : CliHost.ExitOk;
        }, cancellationToken));
        return command;
    }

    private static Command Discard()
    {
        var (entity, ids, all, json) = Options("Discard every open dead letter (of --entity, if given).");
        var command = new Command("discard", "Mark open dead letters as discarded (kept for audit, no longer counted as open).") { entity, ids, all, json };
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async (services, ct) =>
        {
            if (!TryFilter(parse, services.GetRequiredService<EntityCatalog>(), entity, ids, includeClosed: false, out var filter) || !RequireSelection(parse, ids, all))
            {
                return CliHost.ExitConfiguration;
            }

            var count = await services.GetRequiredService<DeadLetterService>().DiscardAsync(filter, ct);
            Console.WriteLine(parse.GetValue(json) ? JsonSerializer.Serialize(new { discarded = count }, Output.Json) : $"{count} dead letter(s) discarded");
            return CliHost.ExitOk;
        }, cancellationToken));
        return command;
    }

    private static (Option<string?> Entity, Option<string[]> Ids, Option<bool> All, Option<bool> Json) Options(string allDescription) =>
        (new Option<string?>("--entity") { Description = "Only this entity: user, session, message, attachment." },
         new Option<string[]>("--id") { Description = "Only these record ids (repeatable).", AllowMultipleArgumentsPerToken = true },
         new Option<bool>("--all") { Description = allDescription },
         new Option<bool>("--json") { Description = "Print the result as JSON." });

    private static bool TryFilter(ParseResult parse, EntityCatalog catalog, Option<string?> entity, Option<string[]> ids, bool includeClosed, out DeadLetterFilter filter)
    {
        var name = parse.GetValue(entity);
        filter = new DeadLetterFilter(name, parse.GetValue(ids), includeClosed);
        if (name is not null && catalog.Find(name) is null)
        {
            Console.Error.WriteLine($"Unknown entity '{name}'; known: {string.Join(", ", catalog.All.Select(e => e.Name))}.");
            return false;
        }

        return true;
    }

    private static bool RequireSelection(ParseResult parse, Option<string[]> ids, Option<bool> all)
    {
        if (parse.GetValue(ids) is { Length: > 0 } || parse.GetValue(all))
        {
            return true;
        }

        Console.Error.WriteLine("Name the dead letters with --id (repeatable) or pass --all.");
        return false;
    }
}
