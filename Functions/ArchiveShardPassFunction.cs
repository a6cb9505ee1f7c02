using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using NexusArchive.Core.Archiving;

namespace NexusArchive.Functions;

/// <summary>
/// The worker side of the fan-out over shards (docs/functions.md, "Fan-out over shards"): a Storage queue trigger on
/// <c>%ArchiveShardQueueName%</c> (connection <c>ArchiveQueue</c>). Each message, enqueued by the archive timer, names
/// one change stream (<c>{"entity":"message","shard":3,"of":4}</c>); the function runs one pass over exactly that stream
/// with trigger <c>queue</c>. The host runs as many instances as the queue needs; the stream's lease keeps two of them
/// off one stream.
/// <list type="bullet">
/// <item>Another pass holds the stream (<see cref="RunStatus.Conflict"/>): it is being worked, so the message completes.</item>
/// <item><see cref="RunStatus.Failed"/>: logged, and the message completes. The run is in the history and alerted on like
/// any failed run; the next timer tick enqueues the stream again from its checkpoint, so a host retry would only add a
/// second attempt at once against a dependency that just failed, and a poison message for what is no bad message.</item>
/// <item><see cref="RunStatus.Partial"/> (time budget): completes; the stream still has work and the next tick enqueues it.</item>
/// <item>A message that names no stream (not the JSON shape, unknown entity, shard out of range): logged and thrown, so the
/// host retries it and then moves it to <c>{queue}-poison</c>.</item>
/// </list>
/// </summary>
public sealed class ArchiveShardPassFunction(ArchiveService archive, ILogger<ArchiveShardPassFunction> logger)
{
    /// <summary>The function's name (also in <c>AzureWebJobs.ArchiveShardPass.Disabled</c>).</summary>
    public const string Name = "ArchiveShardPass";

    /// <summary>The run history's trigger of a pass started from the fan-out queue.</summary>
    public const string Trigger = "queue";

    [Function(Name)]
    public async Task RunAsync(
        [QueueTrigger($"%{FunctionsOptions.ArchiveShardQueueNameSetting}%", Connection = FunctionsOptions.ArchiveQueueConnection)] string message,
        FunctionContext context,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var messageId = context.BindingContext.BindingData.TryGetValue("Id", out var id) && id is not null ? id.ToString()!.Trim('"') : context.InvocationId;
        ShardWork work;
        ArchiveRunResult run;
        try
        {
            work = ShardWork.Parse(message);
            run = await archive.RunAsync(work.ToRunRequest(Trigger), cancellationToken);
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            Log.ShardMessageInvalid(logger, messageId, ex.Message);
            throw;
        }

        var stream = work.Of == 1 ? work.Entity : $"{work.Entity}.{work.Shard}of{work.Of}";
        switch (run.Status)
        {
            case RunStatus.Conflict:
                Log.ShardPassConflict(logger, run.RunId, stream);
                break;
            case RunStatus.Failed:
                Log.ShardPassFailed(logger, run.RunId, stream, run.Error);
                break;
        }
    }
}
