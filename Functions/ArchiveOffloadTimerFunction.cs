using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Offload;

namespace NexusArchive.Functions;

/// <summary>
/// The scheduled offload (<c>%OffloadSchedule%</c>, e.g. daily at 03:30): one bounded run of <see cref="OffloadService"/>,
/// which removes chat sessions idle for <c>Archive:Offload:After</c> from Redis once the archive provably holds them.
/// Removing data from Redis is an operator's decision, so the timer does nothing unless <c>Archive:Offload:Enabled</c> is
/// true (off by default); it then logs <c>OffloadDisabled</c> and returns. Core records each run in
/// <c>{bookkeeping}.offload_runs</c> and logs <c>OffloadFinished</c>; a run is bounded by <c>Archive:Offload:TimeBudget</c>
/// (below <c>functionTimeout</c>) and the next one continues. An infrastructure error is recorded by Core as a failed run
/// and thrown, so the host records a failed invocation. <c>UseMonitor = true</c> as for the other timers: a missed
/// occurrence runs at once after a restart; a run is bounded and safe to repeat.
/// </summary>
public sealed class ArchiveOffloadTimerFunction(OffloadService offload, IOptions<OffloadOptions> options, ILogger<ArchiveOffloadTimerFunction> logger)
{
    public const string Trigger = "timer";

    [Function("ArchiveOffloadTimer")]
    public async Task RunAsync([TimerTrigger("%OffloadSchedule%", RunOnStartup = false, UseMonitor = true)] TimerInfo timer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(timer);
        Log.OffloadTimerFired(logger, timer.IsPastDue, timer.ScheduleStatus?.Next);
        if (!options.Value.Enabled)
        {
            Log.OffloadDisabled(logger);
            return;
        }

        var report = await offload.OffloadAsync(new OffloadRequest(Trigger: Trigger), cancellationToken);
        if (report.Status == OffloadStatus.Refused)
        {
            // Nothing left Redis: the archive cannot prove copies yet (no pass has run, or the archiver is behind).
            Log.OffloadTimerRefused(logger, report.RunId, report.RefusedBecause);
        }
    }
}
