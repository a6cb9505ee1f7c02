using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Archiving;

namespace NexusArchive.Functions;

/// <summary>
/// Event-driven archiving: a Storage queue trigger on <c>%ArchiveQueueName%</c> (connection <c>ArchiveQueue</c>). Each
/// message names one record as <c>{"entity":"message","id":"m-1"}</c>, written by the app after its write through the
/// Lua writer; the record is archived through <see cref="ArchiveRecordsService"/> together with the messages that arrive
/// meanwhile (<see cref="RecordEventProcessor"/>), and the message completes once the row is committed. A message that
/// names no record is dead-lettered and thrown, so the host retries it and then moves it to <c>{queue}-poison</c>; a
/// failure to reach Redis or PostgreSQL is thrown too, and the timer pass stays the safety net for anything poisoned.
/// </summary>
public sealed class ArchiveQueuedRecordsFunction(RecordEventProcessor events, IOptions<FunctionsOptions> options)
{
    /// <summary>The function's name (also in <c>AzureWebJobs.ArchiveQueuedRecords.Disabled</c>).</summary>
    public const string Name = "ArchiveQueuedRecords";

    [Function(Name)]
    public async Task RunAsync(
        [QueueTrigger($"%{FunctionsOptions.ArchiveQueueNameSetting}%", Connection = FunctionsOptions.ArchiveQueueConnection)] string message,
        FunctionContext context,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var data = context.BindingContext.BindingData;
        var messageId = data.TryGetValue("Id", out var id) && id is not null ? id.ToString()!.Trim('"') : context.InvocationId;
        var dequeueCount = data.TryGetValue("DequeueCount", out var count) && long.TryParse(count?.ToString()?.Trim('"'), out var parsed) ? parsed : 1;
        await events.ProcessAsync(new RecordEventMessage(options.Value.ArchiveQueueName ?? string.Empty, messageId, message ?? string.Empty, dequeueCount), cancellationToken);
    }
}
