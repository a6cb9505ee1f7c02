using System.CommandLine;
using NexusArchive.Cli.Commands;

var root = new RootCommand("NexusArchive: archive NexusChat's Redis data into PostgreSQL, and operate the archive.")
{
    MigrateCommand.Create(),
    ArchiveCommand.Create(),
    ReshardCommand.Create(),
    StatusCommand.Create(),
    CostCommand.Create(),
    DeadLettersCommand.Create(),
    SeedDemoCommand.Create(),
    VerifyCommand.Create(),
    RestoreCommand.Create(),
    BackfillCommand.Create(),
    OffloadCommand.Create(),
    AdminCommands.Export(),
    AdminCommands.Erase(),
};

return await root.Parse(args).InvokeAsync();
