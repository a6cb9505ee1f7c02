using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Sink;

namespace NexusArchive.Cli.Commands;

internal static class MigrateCommand
{
    public static Command Create()
    {
        var command = new Command("migrate", "Apply pending database migrations (archive tables, bookkeeping schema).");
        command.SetAction((_, cancellationToken) => CliHost.RunAsync(async (services, ct) =>
        {
            var migrator = services.GetRequiredService<Migrator>();
            var applied = await migrator.MigrateAsync(ct);
            var all = await migrator.GetAppliedAsync(ct);
            Console.WriteLine(applied.Count == 0
                ? $"Database is up to date (migrations {string.Join(", ", all)})."
                : $"Applied migrations {string.Join(", ", applied)}; database now at {all.Max()}.");
            return CliHost.ExitOk;
        }, cancellationToken));
        return command;
    }
}
