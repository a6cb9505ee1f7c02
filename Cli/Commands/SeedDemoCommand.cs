using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Demo;

namespace NexusArchive.Cli.Commands;

internal static class SeedDemoCommand
{
    public static Command Create()
    {
        var defaults = new DemoDataShape();
        var users = new Option<int>("--users") { Description = "Number of users.", DefaultValueFactory = _ => defaults.Users };
        var sessions = new Option<int>("--sessions-per-user") { Description = "Sessions per user.", DefaultValueFactory = _ => defaults.SessionsPerUser };
        var messages = new Option<int>("--messages-per-session") { Description = "Messages per session.", DefaultValueFactory = _ => defaults.MessagesPerSession };
        var seed = new Option<int>("--seed") { Description = "Random seed (the same seed writes the same records).", DefaultValueFactory = _ => defaults.Seed };
        var force = new Option<bool>("--force") { Description = "Write the data set again even if it is already there (new timestamps = new versions)." };
        var command = new Command("seed-demo", "Write a realistic demo data set into Redis through the Lua record writer.") { users, sessions, messages, seed, force };
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async (services, ct) =>
        {
            var shape = defaults with
            {
                Users = parse.GetValue(users),
                SessionsPerUser = parse.GetValue(sessions),
                MessagesPerSession = parse.GetValue(messages),
                Seed = parse.GetValue(seed),
            };
            var seeder = services.GetRequiredService<DemoDataSeeder>();
            if (!parse.GetValue(force) && await seeder.IsSeededAsync(shape))
            {
                Console.WriteLine($"Demo data set {shape.Seed} is already in Redis; nothing written (use --force to write new versions).");
                return CliHost.ExitOk;
            }

            var summary = await seeder.SeedAsync(shape, ct);
            Console.WriteLine(
                $"Seeded {Output.Number(summary.Total)} records: {summary.Users} users, {summary.Sessions} sessions, {summary.Messages} messages " +
                $"({summary.Edits} edited, {summary.SoftDeletes} soft-deleted), {summary.Attachments} attachments.");
            return CliHost.ExitOk;
        }, cancellationToken));
        return command;
    }
}
