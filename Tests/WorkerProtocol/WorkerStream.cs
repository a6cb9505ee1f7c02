using System.Threading.Channels;
using Grpc.Core;
using NexusArchive.Tests.WorkerProtocol.Messages;

namespace NexusArchive.Tests.WorkerProtocol;

/// <summary>
/// One worker's event stream, seen from the host: messages to the worker go out in order; messages from it wait in a
/// mailbox until the test takes the one it expects (by kind and, say, invocation id), so replies may arrive in any
/// order. <see cref="RpcLog"/> messages, which the worker sends whenever it likes, are kept aside as the worker's log.
/// </summary>
internal sealed class WorkerStream
{
    private readonly Channel<StreamingMessage> _outbound = Channel.CreateUnbounded<StreamingMessage>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Lock _gate = new();
    private readonly List<StreamingMessage> _mailbox = [];
    private readonly List<RpcLog> _logs = [];
    private TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private string? _endReason;

    /// <summary>Why the stream ended (null while it is open).</summary>
    public string? EndReason
    {
        get
        {
            lock (_gate)
            {
                return _endReason;
            }
        }
    }

    /// <summary>Everything the worker logged to the host so far.</summary>
    public IReadOnlyList<RpcLog> Logs
    {
        get
        {
            lock (_gate)
            {
                return [.. _logs];
            }
        }
    }

    /// <summary>Queues a message to the worker (the queue is unbounded; the pump writes in order).</summary>
    public void Send(StreamingMessage message)
    {
        if (!_outbound.Writer.TryWrite(message))
        {
            throw new WorkerStreamEndedException($"Cannot send {message.ContentCase}: {EndReason ?? "the stream is closed"}.");
        }
    }

    /// <summary>
    /// The next message of <paramref name="kind"/> (that <paramref name="match"/> accepts) the worker sent or sends.
    /// Throws <see cref="WorkerStreamEndedException"/> once the stream has ended without one.
    /// </summary>
    public async Task<StreamingMessage> ReceiveAsync(StreamingMessage.ContentOneofCase kind, Func<StreamingMessage, bool>? match, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task arrived;
            lock (_gate)
            {
                var index = _mailbox.FindIndex(m => m.ContentCase == kind && (match is null || match(m)));
                if (index >= 0)
                {
                    var message = _mailbox[index];
                    _mailbox.RemoveAt(index);
                    return message;
                }

                if (_endReason is not null)
                {
                    throw new WorkerStreamEndedException(_endReason);
                }

                arrived = _arrived.Task;
            }

            await arrived.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Reads the worker's messages into the mailbox and writes the host's to the worker until either side stops.</summary>
    internal async Task PumpAsync(IAsyncStreamReader<StreamingMessage> fromWorker, IServerStreamWriter<StreamingMessage> toWorker, CancellationToken cancellationToken)
    {
        using var stopWriting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var writing = WriteAsync(toWorker, stopWriting.Token);
        try
        {
            while (await fromWorker.MoveNext(cancellationToken))
            {
                Deliver(fromWorker.Current);
            }

            End("the worker closed its event stream");
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            End("the worker's connection was closed");
        }
        catch (Exception ex) when (ex is IOException or Grpc.Core.RpcException or InvalidOperationException)
        {
            End($"the event stream broke ({ex.GetType().Name}: {ex.Message})");
        }
        finally
        {
            await stopWriting.CancelAsync();
            await writing;
        }
    }

    private async Task WriteAsync(IServerStreamWriter<StreamingMessage> toWorker, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var message in _outbound.Reader.ReadAllAsync(cancellationToken))
            {
                await toWorker.WriteAsync(message, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // the stream is over
        }
        catch (Exception ex) when (ex is IOException or Grpc.Core.RpcException or InvalidOperationException)
        {
            End($"writing to the worker failed ({ex.GetType().Name}: {ex.Message})");
        }
    }

    private void Deliver(StreamingMessage message)
    {
        TaskCompletionSource arrived;
        lock (_gate)
        {
            if (message.ContentCase == StreamingMessage.ContentOneofCase.RpcLog)
            {
                _logs.Add(message.RpcLog);
            }
            else
            {
                _mailbox.Add(message);
            }

            arrived = _arrived;
            _arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        arrived.TrySetResult();
    }

    private void End(string reason)
    {
        TaskCompletionSource arrived;
        lock (_gate)
        {
            _endReason ??= reason;
            arrived = _arrived;
        }

        _outbound.Writer.TryComplete();
        arrived.TrySetResult();
    }
}

/// <summary>The worker's event stream ended while the host still expected a message.</summary>
internal sealed class WorkerStreamEndedException(string reason) : Exception(reason);
