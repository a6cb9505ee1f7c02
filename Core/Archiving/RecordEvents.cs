using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Resilience;

namespace NexusArchive.Core.Archiving;

/// <summary>
/// One queued message as the queue delivered it: one record event <c>{"entity":"user","id":"u-1"}</c>, or up to
/// <see cref="RecordEventProcessor.MaxRecordsPerMessage"/> as <c>{"records":[{"entity":"user","id":"u-1"}, …]}</c>.
/// </summary>
/// <param name="QueueName">The queue it came from (recorded with a dead letter).</param>
/// <param name="MessageId">The queue's id of the message.</param>
/// <param name="Body">The message text.</param>
/// <param name="DequeueCount">How many times the queue has handed this message out, this time included.</param>
public sealed record RecordEventMessage(string QueueName, string MessageId, string Body, long DequeueCount);

/// <summary>
/// A queued message that can never be archived (not JSON, no entity or id, an unknown entity). Thrown so the queue
/// retries it and finally moves it to its poison queue; a dead letter with the message text and this reason was recorded.
/// </summary>
public sealed class InvalidRecordEventException(string message) : Exception(message);

/// <summary>
/// Archives queued record events (event-driven sync): each message names one record (or a few); concurrent messages are grouped
/// into one call of <see cref="ArchiveRecordsService"/> (group commit: a batch forms while the previous one commits, so a
/// lone event waits for nothing and a burst shares one COPY → staging → MERGE). Processing a message twice is harmless:
/// the second finds the version archived (<see cref="RecordOutcome.Unchanged"/>) or archives a newer one.
/// </summary>
public sealed class RecordEventProcessor : IAsyncDisposable
{
    /// <summary>The <c>dead_letters.entity</c> of a queued message that could not be read.</summary>
    public const string DeadLetterEntity = "queue";

    /// <summary>The <c>dead_letters.reason_category</c> of a queued message that could not be read.</summary>
    public const string DeadLetterCategory = "invalid_event";

    /// <summary>The most records one message may name (<c>{"records": […]}</c>; a Storage message holds at most 64 KiB).</summary>
    public const int MaxRecordsPerMessage = 100;

    /// <summary>The longest message text kept with its dead letter.</summary>
    internal const int MaxKeptBodyChars = 8192;

    private readonly EntityCatalog _entities;
    private readonly ArchiveRecordsService _records;
    private readonly DeadLetterStore _deadLetters;
    private readonly PostgresCalls _postgres;
    private readonly ILogger<RecordEventProcessor> _logger;
    private readonly Channel<PendingRecord> _pending = Channel.CreateUnbounded<PendingRecord>(new() { SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _startLock = new();
    private Task? _batches;

    internal RecordEventProcessor(EntityCatalog entities, ArchiveRecordsService records, DeadLetterStore deadLetters, PostgresCalls postgres, ILogger<RecordEventProcessor> logger)
    {
        _entities = entities;
        _records = records;
        _deadLetters = deadLetters;
        _postgres = postgres;
        _logger = logger;
    }

    /// <summary>
    /// Archives the records the message names, together with whatever other messages arrive meanwhile, and returns
    /// their outcomes once committed. Infrastructure failures (after the pipelines' retries) are thrown: the queue retries.
    /// </summary>
    /// <exception cref="InvalidRecordEventException">The message does not name records; its dead letter was recorded.</exception>
    public async Task<IReadOnlyList<RecordResult>> ProcessAsync(RecordEventMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var (records, problem) = Parse(message.Body, _entities);
        if (records is null)
        {
            problem ??= "the message names no record";
            Log.RecordEventRejected(_logger, message.QueueName, message.MessageId, message.DequeueCount, problem);
            var body = message.Body.Length > MaxKeptBodyChars ? message.Body[..MaxKeptBodyChars] : message.Body;
            await _postgres.RunAsync(ct => _deadLetters.RecordInvalidEventAsync(message.QueueName, message.MessageId, body, DeadLetterCategory, problem, ct), cancellationToken);
            throw new InvalidRecordEventException($"Queued message {message.MessageId} cannot be archived: {problem}");
        }

        EnsureStarted();
        var pending = records.Select(r => new PendingRecord(r, new(TaskCreationOptions.RunContinuationsAsynchronously))).ToList();
        foreach (var one in pending)
        {
            if (!_pending.Writer.TryWrite(one))
            {
                throw new ObjectDisposedException(nameof(RecordEventProcessor));
            }
        }

        return await Task.WhenAll(pending.Select(p => p.Completion.Task)).WaitAsync(cancellationToken);
    }

    /// <summary>Reads a message body: the records it names, or why it names none.</summary>
    internal static (IReadOnlyList<RecordRef>? Records, string? Problem) Parse(string? body, EntityCatalog entities)
    {
        const string Shape = "send {\"entity\": \"user\", \"id\": \"u-1\"} or {\"records\": [{\"entity\": \"user\", \"id\": \"u-1\"}, …]}";
        if (string.IsNullOrWhiteSpace(body))
        {
            return (null, $"the message is empty; {Shape}");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
        }
        catch (JsonException ex)
        {
            return (null, $"the message is not JSON ({ex.Message}); {Shape} as plain text, not base64");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return (null, $"the message is not a JSON object; {Shape}");
            }

            if (!root.TryGetProperty("records", out var list))
            {
                var (record, problem) = ParseOne(root, entities);
                return record is null ? (null, problem) : ([record], null);
            }

            if (list.ValueKind != JsonValueKind.Array || list.GetArrayLength() is 0 or > MaxRecordsPerMessage)
            {
                return (null, $"\"records\" must be an array of 1 to {MaxRecordsPerMessage} records");
            }

            var records = new List<RecordRef>(list.GetArrayLength());
            foreach (var (element, index) in list.EnumerateArray().Select((e, i) => (e, i)))
            {
                var (record, problem) = element.ValueKind == JsonValueKind.Object ? ParseOne(element, entities) : (null, "not a JSON object");
                if (record is null)
                {
                    return (null, $"records[{index}]: {problem}");
                }

                records.Add(record);
            }

            return (records, null);
        }
    }

    private static (RecordRef? Record, string? Problem) ParseOne(JsonElement element, EntityCatalog entities)
    {
        string? entity = null, id = null;
        foreach (var property in element.EnumerateObject())
        {
            if (property.NameEquals("entity") && property.Value.ValueKind == JsonValueKind.String)
            {
                entity = property.Value.GetString();
            }
            else if (property.NameEquals("id") && property.Value.ValueKind == JsonValueKind.String)
            {
                id = property.Value.GetString();
            }
        }

        if (entity is null || entities.Find(entity) is null)
        {
            return (null, $"\"entity\" must be one of {string.Join(", ", entities.All.Select(e => e.Name))} (got {(entity is null ? "none" : $"'{entity}'")})");
        }

        if (string.IsNullOrEmpty(id) || id.Contains('\0', StringComparison.Ordinal))
        {
            return (null, "\"id\" must be a non-empty string without NUL");
        }

        return (new RecordRef(entity, id), null);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _pending.Writer.TryComplete();
        await _stopping.CancelAsync();
        if (_batches is { } batches)
        {
            await batches.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        while (_pending.Reader.TryRead(out var left))
        {
            left.Completion.TrySetCanceled();
        }

        _stopping.Dispose();
    }

    private void EnsureStarted()
    {
        if (_batches is not null)
        {
            return;
        }

        lock (_startLock)
        {
            _batches ??= Task.Run(() => RunBatchesAsync(_stopping.Token));
        }
    }

    private async Task RunBatchesAsync(CancellationToken stopping)
    {
        var batch = new List<PendingRecord>(ArchiveRecordsService.MaxRecords);
        while (await _pending.Reader.WaitToReadAsync(stopping))
        {
            while (batch.Count < ArchiveRecordsService.MaxRecords && _pending.Reader.TryRead(out var next))
            {
                batch.Add(next);
            }

            try
            {
                var report = await _records.ArchiveAsync([.. batch.Select(p => p.Record)], stopping);
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Completion.TrySetResult(report.Records[i]);
                }
            }
            catch (Exception ex)
            {
                foreach (var pending in batch)
                {
                    pending.Completion.TrySetException(ex);
                }
            }

            batch.Clear();
        }
    }

    private sealed record PendingRecord(RecordRef Record, TaskCompletionSource<RecordResult> Completion);
}
