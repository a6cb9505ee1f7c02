using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using NexusArchive.Core.Archiving;

namespace NexusArchive.Functions;

/// <summary>
/// The scheduled pass. The host runs a timer as a singleton across instances; a kick or a CLI run can still
/// overlap it, and then Core's per-entity lock makes this pass report <see cref="RunStatus.Conflict"/> and exit.
/// The pass is bounded by <c>Archive:TimeBudget</c> (below <c>functionTimeout</c>), so a big backlog drains over
/// several runs, each ending between pages with its checkpoint committed.
/// <c>UseMonitor = true</c> on purpose: the host keeps the schedule's last occurrence in <c>AzureWebJobsStorage</c>, and
/// after a restart that missed an occurrence it runs the timer at once (<c>IsPastDue</c>), whatever <c>RunOnStartup</c>
/// says. For an archive a missed occurrence is lag, so catching up at once is what we want; the pass is idempotent.
/// </summary>
public sealed class ArchiveTimerFunction(ArchiveService archive, ILogger<ArchiveTimerFunction> logger)
{
    public const string Trigger = "timer";

    [Function("ArchiveTimer")]
    public async Task RunAsync([TimerTrigger("%ArchiveSchedule%", RunOnStartup = false, UseMonitor = true)] TimerInfo timer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(timer);
        Log.TimerFired(logger, timer.IsPastDue, timer.ScheduleStatus?.Next);

        var run = await archive.RunAsync(new ArchiveRunRequest(Trigger), cancellationToken);
        switch (run.Status)
        {
            case RunStatus.Conflict:
                Log.TimerConflict(logger, run.RunId);
                break;
            case RunStatus.Failed:
                // Run history and the RunFinished event already hold the outcome; the next tick retries from the checkpoint.
                Log.TimerRunFailed(logger, run.RunId, run.Error);
                break;
        }
    }
}
