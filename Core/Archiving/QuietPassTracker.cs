using NexusArchive.Core.Source;

namespace NexusArchive.Core.Archiving;

/// <summary>
/// With <c>Archive:QuietPasses</c>, per entity, where this process's last successful pass left it: the write counter
/// (and Redis server) read before its first page, and the checkpoint it committed. While both are unchanged nothing was
/// written since, so the look-back overlap holds what that pass already read and is not read again
/// (docs/performance.md, "No-op pass"). Process-local by design: a new process re-reads the overlap once.
/// </summary>
internal sealed class QuietPassTracker
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (WriteCount Writes, ChangeCursor Checkpoint)> _quietSince = new(StringComparer.Ordinal);

    /// <summary>
    /// True when the overlap can be skipped: the last successful pass of this process ended at <paramref name="checkpoint"/>
    /// with the same write count. Forgets the entry either way; <see cref="Remember"/> sets it again after a successful pass.
    /// </summary>
    public bool TakeUnchanged(string entity, WriteCount? writes, ChangeCursor? checkpoint) =>
        _quietSince.TryRemove(entity, out var quiet) && writes is { } w && checkpoint is { } c && quiet.Writes == w && quiet.Checkpoint.Equals(c);

    /// <summary>Records where a successful pass left the entity.</summary>
    public void Remember(string entity, WriteCount writes, ChangeCursor committed) => _quietSince[entity] = (writes, committed);
}
