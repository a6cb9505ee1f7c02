using System.CommandLine;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Scaling;

namespace NexusArchive.Cli.Commands;

internal static class ReshardCommand
{
    public static Command Create()
    {
        var entity = new Option<string?>("--entity") { Description = "The entity to reshard (user, session, message, attachment). Without it: every entity in Archive:Shards." };
        var shards = new Option<int?>("--shards") { Description = "The new shard count, 1-256. Without it: the entity's Archive:Shards setting." };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON." };
        var command = new Command(
            "reshard",
            "Change an entity's shard count on the live system: writers switch at once, archive passes drain the old layout (docs/scaling.md).")
        {
            entity, shards, json,
        };
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async (services, ct) =>
        {
            var configured = services.GetRequiredService<IOptions<ArchiveOptions>>().Value.Shards;
            var wanted = (parse.GetValue(entity), parse.GetValue(shards)) switch
            {
                ({ } e, { } n) => [(e, n)],
                ({ } e, null) => configured.TryGetValue(e, out var n) ? [(e, n)]
                    : throw new ArgumentException($"--shards is missing and Archive:Shards:{e} is not set: say how many shards {e} should have."),
                (null, { }) => throw new ArgumentException("--shards needs --entity."),
                (null, null) => configured.Count > 0 ? configured.Select(c => (c.Key, c.Value)).ToList()
                    : throw new ArgumentException("Name --entity and --shards, or set Archive:Shards:{entity} (docs/scaling.md)."),
            };

            var service = services.GetRequiredService<ReshardService>();
            var results = new List<ReshardResult>();
            foreach (var (name, count) in wanted)
            {
                results.Add(await service.ReshardAsync(name, count, ct));
            }

            Console.WriteLine(parse.GetValue(json) ? JsonSerializer.Serialize(results, Output.Json) : string.Join('\n', results.Select(Describe)));
            return CliHost.ExitOk;
        }, cancellationToken));
        return command;
    }

    private static string Describe(ReshardResult r) => r.From == r.To
        ? $"{r.Entity}: already {r.To} shard(s); nothing changed."
        : $"{r.Entity}: {r.From} → {r.To} shard(s). Writers use the new layout now; archive passes drain "
          + (r.Draining is { } d ? $"the {d} old shards" : "the unsharded index") + " into it (watch `nexus-archive status`).";
}
