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
/// Checks <c>ArchiveSchedule</c> when the worker starts. A bad schedule does not stop the worker: the host would only
/// restart it in a loop (on Azure, a crash loop whose cause is easy to miss), while the HTTP functions (status, verify,
/// a manual kick) still work without the timer. Instead the problem is logged as the Critical event
/// <c>ArchiveScheduleInvalid</c> (2003, alerted on in <c>infra/</c>) and status answers 503 until it is fixed.
/// </summary>
internal sealed class ArchiveScheduleCheck(
    IOptions<FunctionsOptions> options,
    StartupProblems problems,
    ILogger<ArchiveScheduleCheck> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (FunctionsOptionsValidator.ValidateSchedule(FunctionsOptions.ArchiveScheduleSetting, options.Value.ArchiveSchedule, "0 */5 * * * *") is { } failure)
        {
            problems.Add(failure);
            Log.ArchiveScheduleInvalid(logger, failure);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>
/// Checks <c>VerifySchedule</c> when the worker starts, the way <see cref="ArchiveScheduleCheck"/> checks
/// <c>ArchiveSchedule</c>: a bad or missing schedule keeps the worker up (archiving goes on), is logged as the Critical
/// event <c>VerifyScheduleInvalid</c> (2007, alerted on in <c>infra/</c>) and makes status answer 503 until it is fixed,
/// because without the scheduled verify a gap would again go unnoticed.
/// </summary>
internal sealed class VerifyScheduleCheck(
    IOptions<FunctionsOptions> options,
    StartupProblems problems,
    ILogger<VerifyScheduleCheck> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (FunctionsOptionsValidator.ValidateSchedule(FunctionsOptions.VerifyScheduleSetting, options.Value.VerifySchedule, "0 15 * * * *") is { } failure)
        {
            problems.Add(failure);
            Log.VerifyScheduleInvalid(logger, failure);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
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
