using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Sink;

namespace NexusArchive.Functions;

/// <summary>
/// What the worker found wrong at start-up that does not stop it: a schedule the host would refuse (the host then
/// disables that timer and nothing else shows it) or migrations that could not be applied. <c>GET /api/archive/status</c>
/// answers 503 with these problems while there are any, and each was logged as a Critical event.
/// </summary>
public sealed class StartupProblems
{
    private readonly List<string> _problems = [];

    /// <summary>The problems found so far, in the order found.</summary>
    public IReadOnlyList<string> Current
    {
        get
        {
            lock (_problems)
            {
                return [.. _problems];
            }
        }
    }

    internal void Add(string problem)
    {
        lock (_problems)
        {
            _problems.Add(problem);
        }
    }
}

/// <summary>
/// Checks the three timer schedules and the settings of the archive queue and the fan-out queue when the worker starts. A bad or missing schedule does not stop the worker: the host
/// would only restart it in a loop (on Azure, a crash loop whose cause is easy to miss), while the HTTP functions
/// (status, verify, a manual kick, session restore) and the other timers still work. Instead each problem is logged as a
/// Critical event (<c>ArchiveScheduleInvalid</c> 2003, <c>VerifyScheduleInvalid</c> 2007, <c>OffloadScheduleInvalid</c>
/// 2008, <c>ArchiveQueueInvalid</c> 2050, <c>ShardQueueInvalid</c> 2065; alerted on in <c>infra/</c>) and status answers 503
/// until it is fixed: without the archive timer nothing is archived, without the verify timer a gap would again go
/// unnoticed, without the offload timer Redis keeps growing, without the queue trigger every queued event waits for the
/// timer, without the fan-out queue's name the host does not index the archive timer at all.
/// </summary>
internal sealed class ScheduleCheck(
    IOptions<FunctionsOptions> options,
    StartupProblems problems,
    ILogger<ScheduleCheck> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        Check(FunctionsOptions.ArchiveScheduleSetting, settings.ArchiveSchedule, "0 */5 * * * *", Log.ArchiveScheduleInvalid);
        Check(FunctionsOptions.VerifyScheduleSetting, settings.VerifySchedule, "0 15 * * * *", Log.VerifyScheduleInvalid);
        Check(FunctionsOptions.OffloadScheduleSetting, settings.OffloadSchedule, "0 30 3 * * *", Log.OffloadScheduleInvalid);
        if (FunctionsOptionsValidator.ValidateQueue(settings) is { } queueFailure)
        {
            problems.Add(queueFailure);
            Log.ArchiveQueueInvalid(logger, queueFailure);
        }

        if (FunctionsOptionsValidator.ValidateShardQueue(settings) is { } shardFailure)
        {
            problems.Add(shardFailure);
            Log.ShardQueueInvalid(logger, shardFailure);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private void Check(string setting, string? schedule, string example, Action<ILogger, string> logInvalid)
    {
        if (FunctionsOptionsValidator.ValidateSchedule(setting, schedule, example) is { } failure)
        {
            problems.Add(failure);
            logInvalid(logger, failure);
        }
    }
}

/// <summary>
/// Applies pending migrations when the worker starts, if <c>Archive:MigrateOnStartup</c> is true (a first deployment
/// creates its tables). Needs a role that may create them; production archives as <c>nexus_archiver</c> with this off.
/// A failure is logged (Critical, <c>StartupMigrationFailed</c>) and listed by status; the worker keeps running.
/// </summary>
internal sealed class StartupMigration(
    Migrator migrator,
    IOptions<ArchiveOptions> options,
    StartupProblems problems,
    ILogger<StartupMigration> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.Value.MigrateOnStartup)
        {
            return;
        }

        try
        {
            var applied = await migrator.MigrateAsync(cancellationToken);
            Log.StartupMigrationApplied(logger, applied.Count);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            var error = ErrorText.Describe(ex);
            problems.Add($"Archive:MigrateOnStartup: migrations failed: {error}");
            Log.StartupMigrationFailed(logger, error, ex);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
