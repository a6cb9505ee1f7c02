using NexusArchive.Core.Entities;

namespace NexusArchive.Core.Archiving;

/// <summary>When a pass must stop between pages: its time budget is spent or the caller cancelled.</summary>
internal sealed class PassBudget(TimeProvider timeProvider, long startedTimestamp, TimeSpan budget)
{
    /// <summary>True (with the reason for the log) when no further page may start.</summary>
    public bool IsSpent(CancellationToken cancellationToken, out string? reason)
    {
        reason = cancellationToken.IsCancellationRequested ? "cancelled"
            : timeProvider.GetElapsedTime(startedTimestamp) >= budget ? "time budget" : null;
        return reason is not null;
    }
}

/// <summary>Everything one entity's part of a pass works with: who runs it, the bounds fixed at its start, its counts.</summary>
internal sealed class EntityPass
{
    public required ArchiveRunResult Run { get; init; }

    public required EntityDescriptor Entity { get; init; }

    /// <summary>This entity's counts in <see cref="Run"/>, filled in as pages commit.</summary>
    public required EntityRunStats Stats { get; init; }

    /// <summary>Redis' clock when the run started.</summary>
    public required DateTimeOffset RedisNow { get; init; }

    /// <summary>The highest change score read: Redis-now minus the settle window (epoch ms).</summary>
    public required double UpperBound { get; init; }

    /// <summary>Records stamped after this are dead-lettered as future timestamps.</summary>
    public required DateTimeOffset LatestAllowed { get; init; }

    public required PassBudget Budget { get; init; }

    /// <summary>
    /// True when the writers no longer write to this stream (a reshard drains it): after a successful pass its archived
    /// entries move to the streams their ids belong to now.
    /// </summary>
    public bool IsDraining { get; init; }

    public Guid RunId => Run.RunId;
}
