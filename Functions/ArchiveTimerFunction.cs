using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Diagnostics;

namespace NexusArchive.Functions;

/// <summary>
/// The scheduled pass. The host runs a timer as a singleton across instances; a kick or a CLI run can still
/// overlap it, and then Core's per-entity lock makes this pass report <see cref="RunStatus.Conflict"/> and exit.
/// The pass is bounded by <c>Archive:TimeBudget</c> (below <c>functionTimeout</c>), so a big backlog drains over
/// several runs, each ending between pages with its checkpoint committed.
/// <c>UseMonitor = true</c> on purpose: the host keeps the schedule's last occurrence in <c>AzureWebJobsStorage</c>, and
/// after a restart that missed an occurrence it runs the timer at once (<c>IsPastDue</c>), whatever <c>RunOnStartup</c>
/// says. For an archive a missed occurrence is lag, so catching up at once is what we want; the pass is idempotent.
/// <para>
/// Fan-out (docs/functions.md, "Fan-out over shards"): when a configured entity is sharded, the timer does no pass itself.
/// It returns one message per change stream with work (<see cref="ShardFanOut"/>), which the host adds to
/// <c>%ArchiveShardQueueName%</c>, and <see cref="ArchiveShardPassFunction"/> works each on as many instances as the
/// queue needs. Without shards, with <c>ArchiveShardPass</c> switched off or its settings unusable, or when the plan
/// cannot be made, it returns nothing and runs the pass as before.
/// </para>
/// </summary>
public sealed class ArchiveTimerFunction(ArchiveService archive, ShardFanOut fanOut, IOptions<FunctionsOptions> options, ILogger<ArchiveTimerFunction> logger)
{
    public const string Trigger = "timer";

    [Function("ArchiveTimer")]
    [QueueOutput($"%{FunctionsOptions.ArchiveShardQueueNameSetting}%", Connection = FunctionsOptions.ArchiveQueueConnection)]
    public async Task<string[]?> RunAsync([TimerTrigger("%ArchiveSchedule%", RunOnStartup = false, UseMonitor = true)] TimerInfo timer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(timer);
        Log.TimerFired(logger, timer.IsPastDue, timer.ScheduleStatus?.Next);

        if (await PlanAsync(cancellationToken) is { Sharded: true } plan)
        {
            Log.ShardsEnqueued(logger, plan.Work.Count, plan.Streams, plan.Busy);
            return [.. plan.Work.Select(w => w.ToMessage())];
        }

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

        return null;
    }

    /// <summary>
    /// The fan-out plan, or null when the timer should run the pass itself: fan-out switched off or its settings unusable
    /// (the host could not add the messages: the invocation would fail and nothing would be archived; the start-up check
    /// already logged <c>ShardQueueInvalid</c> and status answers 503), or the plan failed (Redis or PostgreSQL
    /// unreachable; the pass then records the failure as a failed run, as without shards).
    /// </summary>
    private async Task<ShardFanOutPlan?> PlanAsync(CancellationToken cancellationToken)
    {
        if (options.Value.ArchiveShardQueueDisabled || FunctionsOptionsValidator.ValidateShardQueue(options.Value) is not null)
        {
            return null;
        }

        try
        {
            return await fanOut.PlanAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Log.ShardPlanFailed(logger, ErrorText.Describe(ex), ex);
            return null;
        }
    }
}
