using StackExchange.Redis;

namespace NexusArchive.Core.Verification;

/// <summary>Helpers for pipelined Redis reads over keys found by SCAN, where a key may not be a hash.</summary>
internal static class RedisBatch
{
    /// <summary>
    /// Awaits pipelined commands; one that failed with <c>WRONGTYPE</c> (a key of another type) yields false instead of
    /// failing the batch. Any other error (connection, timeout) is thrown.
    /// </summary>
    public static async Task<bool[]> WhenAllToleratingWrongTypeAsync(IReadOnlyList<Task> tasks, CancellationToken cancellationToken)
    {
        try
        {
            await Task.WhenAll(tasks).WaitAsync(cancellationToken);
        }
        catch (RedisServerException)
        {
            // inspected per task below
        }

        var ok = new bool[tasks.Count];
        for (var i = 0; i < tasks.Count; i++)
        {
            var task = tasks[i];
            if (task.IsCompletedSuccessfully)
            {
                ok[i] = true;
            }
            else if (task.Exception?.InnerException is not RedisServerException ex || !ex.Message.StartsWith("WRONGTYPE", StringComparison.Ordinal))
            {
                await task; // rethrows the real error
            }
        }

        return ok;
    }
}
