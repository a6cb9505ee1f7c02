using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace NexusArchive.Bench;

/// <summary>
/// A loopback TCP proxy that adds network latency without limiting bandwidth (there is no netem here): every chunk read
/// from one side is stamped on arrival and written to the other side at arrival + <see cref="OneWayDelay"/>, in order,
/// so a round trip through it costs 2 × the delay while a stream of chunks keeps flowing. One unbounded
/// <see cref="Channel{T}"/> per direction of each connection carries the chunks from the reading loop to the writing
/// loop; many connections at once are fine (Npgsql pools, StackExchange.Redis keeps two).
/// </summary>
internal sealed class DelayProxy : IAsyncDisposable
{
    private const int ChunkSize = 64 * 1024;
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _targetHost;
    private readonly int _targetPort;
    private readonly long _delayTicks;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _connections = [];
    private readonly Task _accepting;
    private readonly ReleaseClock _clock = new();
    private long _exchanges;

    /// <summary>Starts listening on a free loopback port (<see cref="Port"/>) and forwarding to <paramref name="targetHost"/>:<paramref name="targetPort"/>.</summary>
    public DelayProxy(string targetHost, int targetPort, TimeSpan oneWayDelay)
    {
        _targetHost = targetHost;
        _targetPort = targetPort;
        OneWayDelay = oneWayDelay;
        _delayTicks = (long)(oneWayDelay.TotalSeconds * Stopwatch.Frequency);
        _listener.Start(512);
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    /// <summary>The loopback port clients connect to.</summary>
    public int Port { get; }

    /// <summary>The delay added to each direction.</summary>
    public TimeSpan OneWayDelay { get; }

    /// <summary>
    /// Request–reply exchanges so far, over all connections: each time a client sends after the server last sent (or
    /// first), one round trip begins. Pipelined commands in one write count once; concurrent connections each count.
    /// </summary>
    public long Exchanges => Interlocked.Read(ref _exchanges);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            lock (_connections)
            {
                _connections.RemoveAll(t => t.IsCompleted);
                _connections.Add(ConnectionAsync(client));
            }
        }
    }

    private async Task ConnectionAsync(Socket client)
    {
        using (client)
        using (var server = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            try
            {
                client.NoDelay = true;
                server.NoDelay = true;
                await server.ConnectAsync(_targetHost, _targetPort, _stop.Token);
                var turn = new StrongBox<int>(0); // who sent last: 1 the client, 2 the server
                Task[] pumps = [PumpAsync(client, server, turn, 1), PumpAsync(server, client, turn, 2)];
                if (await Task.WhenAny(pumps) is { IsFaulted: true })
                {
                    // A side that can no longer receive: close both, so the other direction ends too.
                    client.Close();
                    server.Close();
                }

                await Task.WhenAll(pumps);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // One side went away or the proxy stops: closing both sockets ends the connection for the other side too.
            }
        }
    }

    /// <summary>One direction: a reading loop stamps chunks into the channel, a writing loop releases each at its time.</summary>
    private async Task PumpAsync(Socket from, Socket to, StrongBox<int> turn, int side)
    {
        var chunks = Channel.CreateUnbounded<(byte[] Buffer, int Count, long Due)>(new() { SingleReader = true, SingleWriter = true });
        var writing = WriteAsync(chunks.Reader, to);
        try
        {
            while (true)
            {
                var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
                int count;
                try
                {
                    count = await from.ReceiveAsync(buffer.AsMemory(), SocketFlags.None, _stop.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    count = 0; // reset or closed: the end of this direction
                }

                if (count == 0)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    break;
                }

                if (Interlocked.Exchange(ref turn.Value, side) != side && side == 1)
                {
                    Interlocked.Increment(ref _exchanges);
                }

                chunks.Writer.TryWrite((buffer, count, Stopwatch.GetTimestamp() + _delayTicks));
            }
        }
        finally
        {
            chunks.Writer.TryComplete();
        }

        await writing;
    }

    private async Task WriteAsync(ChannelReader<(byte[] Buffer, int Count, long Due)> chunks, Socket to)
    {
        try
        {
            await foreach (var (buffer, count, due) in chunks.ReadAllAsync(_stop.Token))
            {
                try
                {
                    // Chunks that arrived while this one waited are due soon after it: most are released without a wait.
                    await _clock.WaitUntilAsync(due);

                    var sent = 0;
                    while (sent < count)
                    {
                        sent += await to.SendAsync(buffer.AsMemory(sent, count - sent), SocketFlags.None, _stop.Token);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }

            // The other side finished sending: pass the end of the stream on after the data it preceded.
            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // The receiving side is gone: drop what is queued (its buffers are the pool's to lose).
            while (chunks.TryRead(out var chunk))
            {
                ArrayPool<byte>.Shared.Return(chunk.Buffer);
            }

            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        Task[] open;
        lock (_connections)
        {
            open = [.. _connections];
        }

        _clock.Dispose();
        await Task.WhenAll(open);
        _stop.Dispose();
    }

    /// <summary>
    /// Releases waiting writers at their due time on one dedicated thread. <c>Task.Delay</c> was several milliseconds
    /// late on a busy machine (a timer rounded to whole milliseconds, then a thread-pool hop): 16 ms measured for a
    /// 10 ms round trip. Here a condition-variable wait ends within about half a millisecond of the due time, and the
    /// released writer continues inline on this thread, so its send does not wait for the thread pool either.
    /// </summary>
    private sealed class ReleaseClock : IDisposable
    {
        private static readonly long s_halfMillisecond = Stopwatch.Frequency / 2000;
        private readonly PriorityQueue<TaskCompletionSource, long> _waiting = new();
        private readonly object _lock = new();
        private readonly Thread _thread;
        private bool _stopped;

        public ReleaseClock()
        {
            _thread = new Thread(Run) { IsBackground = true, Name = "delay-proxy clock" };
            _thread.Start();
        }

        /// <summary>Completes at <paramref name="due"/> (a <see cref="Stopwatch"/> timestamp), give or take half a millisecond.</summary>
        public Task WaitUntilAsync(long due)
        {
            if (due - Stopwatch.GetTimestamp() < s_halfMillisecond)
            {
                return Task.CompletedTask;
            }

            var waiter = new TaskCompletionSource(); // continuations run inline on the clock thread
            lock (_lock)
            {
                if (_stopped)
                {
                    return Task.FromCanceled(new CancellationToken(canceled: true));
                }

                _waiting.Enqueue(waiter, due);
                Monitor.Pulse(_lock);
            }

            return waiter.Task;
        }

        private void Run()
        {
            var ready = new List<TaskCompletionSource>();
            while (true)
            {
                lock (_lock)
                {
                    while (ready.Count == 0)
                    {
                        if (_stopped)
                        {
                            while (_waiting.TryDequeue(out var waiter, out _))
                            {
                                waiter.TrySetCanceled();
                            }

                            return;
                        }

                        if (!_waiting.TryPeek(out _, out var due))
                        {
                            Monitor.Wait(_lock);
                            continue;
                        }

                        var now = Stopwatch.GetTimestamp();
                        if (due - now >= s_halfMillisecond)
                        {
                            Monitor.Wait(_lock, Math.Max(1, (int)Math.Round((due - now) * 1000.0 / Stopwatch.Frequency)));
                            continue;
                        }

                        while (_waiting.TryPeek(out _, out var next) && next - now < s_halfMillisecond)
                        {
                            ready.Add(_waiting.Dequeue());
                        }
                    }
                }

                foreach (var waiter in ready)
                {
                    waiter.TrySetResult();
                }

                ready.Clear();
            }
        }

        public void Dispose()
        {
            lock (_lock)
            {
                _stopped = true;
                Monitor.Pulse(_lock);
            }

            _thread.Join();
        }
    }
}
