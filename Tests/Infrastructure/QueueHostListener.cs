using System.Text.Json;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;

namespace NexusArchive.Tests.Infrastructure;

/// <summary>The queue settings of the repository's <c>host.json</c> (<c>extensions.queues</c>), which the host applies.</summary>
public sealed record HostQueueSettings(int BatchSize, int MaxDequeueCount, TimeSpan VisibilityTimeout, string MessageEncoding)
{
    public static HostQueueSettings FromRepositoryHostJson()
    {
        var path = Repository.Path("host.json");
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        var queues = document.RootElement.GetProperty("extensions").GetProperty("queues");
        return new(
            queues.GetProperty("batchSize").GetInt32(),
            queues.GetProperty("maxDequeueCount").GetInt32(),
            TimeSpan.Parse(queues.GetProperty("visibilityTimeout").GetString()!, System.Globalization.CultureInfo.InvariantCulture),
            queues.GetProperty("messageEncoding").GetString()!);
    }
}

/// <summary>
/// Plays the Functions host's queue listener against Azurite, with host.json's settings (the real host does this in
/// production; docs/functions.md records the run under it): receives up to <c>batchSize</c> messages, runs the function
/// for each at once, deletes a message whose function completed; a failed one becomes visible again after
/// <c>visibilityTimeout</c>, and once it has been handed out <c>maxDequeueCount</c> times it moves to <c>{queue}-poison</c>.
/// </summary>
public sealed class QueueHostListener(QueueClient queue, QueueClient poison, HostQueueSettings settings, Func<QueueMessage, CancellationToken, Task> function)
{
    private int _completed;
    private int _failed;
    private int _poisoned;

    public int Completed => _completed;

    public int Failed => _failed;

    public int Poisoned => _poisoned;

    /// <summary>
    /// Processes messages until <paramref name="producer"/> (the app enqueueing, if any) has finished and the queue has
    /// then stayed empty (nothing visible, nothing in flight) for <paramref name="idle"/>.
    /// </summary>
    public async Task DrainAsync(TimeSpan idle, CancellationToken cancellationToken, Task? producer = null)
    {
        var lastWork = TimeProvider.System.GetTimestamp();
        while (producer is { IsCompleted: false } || TimeProvider.System.GetElapsedTime(lastWork) < idle)
        {
            cancellationToken.ThrowIfCancellationRequested();
            QueueMessage[] messages = (await queue.ReceiveMessagesAsync(settings.BatchSize, TimeSpan.FromMinutes(2), cancellationToken)).Value;
            if (messages.Length == 0)
            {
                await Task.Delay(50, cancellationToken);
                continue;
            }

            await Task.WhenAll(messages.Select(m => HandleAsync(m, cancellationToken)));
            lastWork = TimeProvider.System.GetTimestamp();
        }

        if (producer is not null)
        {
            await producer;
        }
    }

    private async Task HandleAsync(QueueMessage message, CancellationToken cancellationToken)
    {
        try
        {
            await function(message, cancellationToken);
            await queue.DeleteMessageAsync(message.MessageId, message.PopReceipt, cancellationToken);
            Interlocked.Increment(ref _completed);
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            Interlocked.Increment(ref _failed);
            if (message.DequeueCount >= settings.MaxDequeueCount)
            {
                await poison.SendMessageAsync(message.Body, cancellationToken: cancellationToken);
                await queue.DeleteMessageAsync(message.MessageId, message.PopReceipt, cancellationToken);
                Interlocked.Increment(ref _poisoned);
            }
            else
            {
                await queue.UpdateMessageAsync(message.MessageId, message.PopReceipt, visibilityTimeout: settings.VisibilityTimeout, cancellationToken: cancellationToken);
            }
        }
    }
}
