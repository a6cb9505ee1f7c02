using Microsoft.Extensions.Logging;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Sink;

namespace NexusArchive.Core.Archiving;

/// <summary>
/// Keeps one entity's lease alive while a pass works it, whether or not pages commit: a pass that reads a long
/// look-back overlap (or a slow page) must never lose its lease to nobody. Renews every third of
/// <c>Archive:LeaseTimeout</c>; if the lease turns out to be gone (it expired and another pass took the entity), the
/// work is cancelled through <see cref="WorkToken"/> and <see cref="Lost"/> says why. A renewal that fails on a
/// transient error is logged and tried again at the next tick (the next page commit would fail the same way).
/// </summary>
internal sealed class LeaseKeeper : IAsyncDisposable
{
    private readonly CancellationTokenSource _work;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _renewing;

    private LeaseKeeper(IArchiveSink sink, EntityPass pass, TimeSpan leaseTimeout, TimeProvider timeProvider, ILogger logger, CancellationToken cancellationToken)
    {
        _work = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _renewing = RenewAsync(sink, pass, leaseTimeout / 3, timeProvider, logger);
    }

    /// <summary>The caller's token, also cancelled when the lease is lost.</summary>
    public CancellationToken WorkToken => _work.Token;

    /// <summary>True once a renewal found the lease no longer ours.</summary>
    public bool Lost { get; private set; }

    public static LeaseKeeper Start(IArchiveSink sink, EntityPass pass, TimeSpan leaseTimeout, TimeProvider timeProvider, ILogger logger, CancellationToken cancellationToken) =>
        new(sink, pass, leaseTimeout, timeProvider, logger, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _renewing;
        _stop.Dispose();
        _work.Dispose();
    }

    private async Task RenewAsync(IArchiveSink sink, EntityPass pass, TimeSpan period, TimeProvider timeProvider, ILogger logger)
    {
        using var timer = new PeriodicTimer(period, timeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                try
                {
                    if (!await sink.RenewAsync(pass.Entity, pass.RunId, _stop.Token))
                    {
                        Lost = true;
                        Log.LeaseLost(logger, pass.RunId, pass.Entity.Name);
                        await _work.CancelAsync();
                        return;
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.LeaseRenewalFailed(logger, pass.Entity.Name, ex);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // the pass finished with the entity
        }
    }
}
