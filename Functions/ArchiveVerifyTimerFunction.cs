using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using NexusArchive.Core.Verification;

namespace NexusArchive.Functions;

/// <summary>
/// The scheduled, incremental verify (<c>%VerifySchedule%</c>, e.g. hourly): one bounded run of
/// <see cref="IncrementalVerifyService"/> from where the previous run stopped — the records changed since the last
/// verified point, and the next slice of a rolling walk over the keyspace. Core records the run in
/// <c>{bookkeeping}.verifications</c> (status shows it as <c>lastVerification</c>), records
/// <c>nexus_archive.verify.gaps</c> and logs <c>VerificationFinished</c>, which the gaps alert in <c>infra/</c> queries.
/// <c>UseMonitor = true</c> as for the archive timer: a missed occurrence runs at once after a restart; the run is
/// bounded and safe to repeat.
/// </summary>
public sealed class ArchiveVerifyTimerFunction(IncrementalVerifyService verify, ILogger<ArchiveVerifyTimerFunction> logger)
{
    public const string Trigger = "timer";

    [Function("ArchiveVerifyTimer")]
    public async Task RunAsync([TimerTrigger("%VerifySchedule%", RunOnStartup = false, UseMonitor = true)] TimerInfo timer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(timer);
        Log.VerifyTimerFired(logger, timer.IsPastDue, timer.ScheduleStatus?.Next);

        var report = await verify.RunAsync(new IncrementalVerifyRequest(Trigger), cancellationToken);
        if (report.Status == VerificationStatus.Failed)
        {
            // The verification's row and its VerificationFinished event already hold the outcome; the next tick continues
            // from the resume points of the entities that finished.
            Log.VerifyTimerFailed(logger, report.VerificationId, report.Error);
        }
    }
}
