using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Resilience;

namespace NexusArchive.Core.Verification;

/// <summary>
/// How both verifications record themselves: their row in <see cref="VerificationHistory"/> (through the
/// <c>nexus-postgres</c> pipeline) and the closing events <c>VerificationFinished</c> (3002, which the gaps alert in
/// <c>infra/main.bicep</c> queries) and <c>VerificationFailed</c> (3004).
/// </summary>
internal sealed class VerificationRecorder(
    VerificationHistory history,
    PostgresCalls postgres,
    IOptions<ArchiveOptions> options,
    TimeProvider timeProvider)
{
    /// <summary>Inserts the starting row; returns the resume points an incremental run continues from.</summary>
    public Task<Dictionary<string, VerifyResumePoint>> StartAsync(VerificationRecord record, CancellationToken cancellationToken) =>
        postgres.RunAsync(ct => history.StartAsync(record, ct), cancellationToken);

    /// <summary>Writes the progress so far (an incremental run, after each entity: its results and resume point).</summary>
    public Task SaveProgressAsync(VerificationRecord record, CancellationToken cancellationToken) =>
        postgres.RunAsync(ct => history.UpdateAsync(record, ct), cancellationToken);

    /// <summary>Records a verification that checked everything it set out to check, and logs <c>VerificationFinished</c>.</summary>
    public async Task SucceedAsync(VerificationRecord record, long startedTimestamp, ILogger logger)
    {
        record.Status = VerificationStatus.Succeeded;
        await FinishAsync(record, startedTimestamp, logger);
    }

    /// <summary>Records a verification an error stopped, and logs <c>VerificationFailed</c> and <c>VerificationFinished</c>.</summary>
    public async Task FailAsync(VerificationRecord record, long startedTimestamp, Exception exception, ILogger logger)
    {
        record.Status = VerificationStatus.Failed;
        record.Error = ErrorText.Describe(exception);
        Log.VerificationFailed(logger, record.Id, record.Kind, record.Trigger, record.Error, exception);
        await FinishAsync(record, startedTimestamp, logger);
    }

    private async Task FinishAsync(VerificationRecord record, long startedTimestamp, ILogger logger)
    {
        var elapsed = timeProvider.GetElapsedTime(startedTimestamp);
        record.FinishedAt = record.StartedAt + elapsed;
        try
        {
            // Recorded even when the caller cancelled: history must say how the verification ended.
            using var timeout = new CancellationTokenSource(options.Value.BookkeepingTimeout, timeProvider);
            await postgres.RunAsync(ct => history.UpdateAsync(record, ct), timeout.Token);
        }
        catch (Exception ex)
        {
            Log.VerificationHistoryFailed(logger, record.Id, ex);
        }

        Log.VerificationFinished(
            logger,
            record.Id,
            record.Kind,
            record.Trigger,
            record.Status.ToString(),
            elapsed.TotalMilliseconds,
            record.RecordsChecked,
            record.Gaps,
            record.Differences,
            record.ExampleIds.Count == 0 ? "none" : string.Join(", ", record.ExampleIds));
    }
}
