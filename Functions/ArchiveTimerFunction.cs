using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using NexusArchive.Core.Archiving;

namespace NexusArchive.Functions;

/// <summary>
/// The scheduled pass. The host runs a timer as a singleton across instances; a kick or a CLI run can still
/// overlap it, and then Core's per-entity lock makes this pass report <see cref="RunStatus.Conflict"/> and exit.
/// The pass is bounded by <c>Archive:TimeBudget</c> (below <c>functionTimeout</c>), so a big backlog drains over
/// several runs, each ending between pages with its checkpoint committed.
/// </summary>
public sealed class ArchiveTimerFunction(ArchiveService archive, ILogger<ArchiveTimerFunction> logger)
{
    public const string Trigger = "timer";

    [Function("ArchiveTimer")]
    public async Task RunAsync([TimerTrigger("%ArchiveSchedule%", RunOnStartup = false)] TimerInfo timer, CancellationToken cancellationToken)
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
