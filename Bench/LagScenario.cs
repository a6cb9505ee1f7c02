using System.Globalization;
using System.Text.Json;
using Azure.Storage.Queues;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Source;
using Npgsql;
using StackExchange.Redis;

namespace NexusArchive.Bench;

/// <summary>
/// <c>--lag [--lag-seconds S] [--lag-rate R]</c>: a writer adds R messages a second through the Lua writer for S seconds
/// (stamp <c>*</c>: <c>updated_at</c> is Redis <c>TIME</c> at the write), and each path archives them in a warm process:
/// (a) the timer alone, a pass every 10 s on the clock (<c>*/10 * * * * *</c>) with the production settle window (5 s);
/// (b) the queue path, an event per write into Azurite (<c>NEXUS_BENCH_QUEUE</c>, started by bench.sh) drained the way the
/// host's listener drains it (batches of 32, polling backing off to 2 s) through <see cref="RecordEventProcessor"/>;
/// (c) the records path, one <see cref="ArchiveRecordsService"/> call per write. Lag = <c>archived_at</c> (PostgreSQL
/// <c>now()</c> of the committing transaction, a few ms before its commit) − <c>updated_at</c>; p50/p95/p99 per path.
/// </summary>
internal sealed class LagScenario(BenchServers servers, Report report, int seconds, int ratePerSecond)
{
    private static readonly TimeSpan s_timerPeriod = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan s_maxPolling = TimeSpan.FromSeconds(2);

    public async Task RunAsync()
    {
        await servers.ResetAsync();
        var queueConnection = Environment.GetEnvironmentVariable("NEXUS_BENCH_QUEUE")
            ?? throw new InvalidOperationException("--lag needs NEXUS_BENCH_QUEUE (a storage connection string for Azurite's queue service); scripts/bench.sh --lag starts Azurite and sets it.");

        await using (var timer = servers.Services(settleWindow: "00:00:05"))
        {
            await MeasureAsync("a", "timer alone (pass every 10 s, settle window 5 s)", timer, (_, ct) => RunTimerAsync(timer, ct), null);
        }

        var queue = new QueueClient(queueConnection, $"bench-lag-{Guid.NewGuid():N}"[..30], new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None });
        await queue.CreateIfNotExistsAsync();
        await using (var queued = servers.Services())
        {
            await MeasureAsync(
                "b",
                "queue path (Azurite, host-like polling ≤ 2 s, grouped commits)",
                queued,
                (_, ct) => DrainQueueAsync(queue, queued.GetRequiredService<RecordEventProcessor>(), ct),
                id => queue.SendMessageAsync(JsonSerializer.Serialize(new { entity = "message", id })));
        }

        await queue.DeleteIfExistsAsync();
        await using (var named = servers.Services())
        {
            var records = named.GetRequiredService<ArchiveRecordsService>();
            await MeasureAsync("c", "records path (one call per write)", named, null, id => records.ArchiveAsync([new RecordRef("message", id)], CancellationToken.None));
        }
    }

    private async Task MeasureAsync(string path, string title, IServiceProvider services, Func<IServiceProvider, CancellationToken, Task>? drive, Func<string, Task>? afterWrite)
    {
        var writer = services.GetRequiredService<RecordWriter>();
        var database = services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        using var stop = new CancellationTokenSource();
        var driver = drive?.Invoke(services, stop.Token) ?? Task.CompletedTask;
        var followUps = new List<Task>();
        var total = seconds * ratePerSecond;
        var started = TimeProvider.System.GetTimestamp();
        for (var n = 0; n < total; n++)
        {
            var due = TimeSpan.FromSeconds((double)n / ratePerSecond) - TimeProvider.System.GetElapsedTime(started);
            if (due > TimeSpan.Zero)
            {
                await Task.Delay(due);
            }

            var id = $"lag-{path}-{n:D6}";
            var createdAt = TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
            await writer.WriteAsync(database, EntityCatalog.Message, id,
                [new("sessionId", "s-lag"), new("userId", "u-lag"), new("role", "user"), new("content", "lag probe"), new("createdAt", createdAt)]);
            if (afterWrite is not null)
            {
                followUps.Add(afterWrite(id));
            }
        }

        await Task.WhenAll(followUps);
        await using var dataSource = NpgsqlDataSource.Create(servers.Postgres);
        var waited = TimeProvider.System.GetTimestamp();
        while (await CountAsync(dataSource, path) < total && TimeProvider.System.GetElapsedTime(waited) < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(200);
        }

        await stop.CancelAsync();
        await driver.ContinueWith(_ => { }, TaskScheduler.Default);
        var lags = await LagsAsync(dataSource, path);
        if (lags.Count < total)
        {
            throw new InvalidOperationException($"path ({path}): only {lags.Count} of {total} written records reached PostgreSQL within 60 s of the last write");
        }

        report.Note(
            $"lag ({path}) {title}",
            $"p50 {Report.Percentile(lags, 0.50):N0} ms",
            $"p95 {Report.Percentile(lags, 0.95):N0} ms, p99 {Report.Percentile(lags, 0.99):N0} ms, max {lags[^1]:N0} ms; {total:N0} writes at {ratePerSecond}/s for {seconds} s");
    }

    /// <summary>A pass at every multiple of 10 s of the wall clock, as the timer trigger fires <c>*/10 * * * * *</c>.</summary>
    private static async Task RunTimerAsync(IServiceProvider services, CancellationToken stopping)
    {
        var archive = services.GetRequiredService<ArchiveService>();
        while (!stopping.IsCancellationRequested)
        {
            var now = TimeProvider.System.GetUtcNow();
            var next = TimeSpan.FromTicks(s_timerPeriod.Ticks - (now.Ticks % s_timerPeriod.Ticks));
            try
            {
                await Task.Delay(next, stopping);
                await archive.RunAsync(new ArchiveRunRequest("bench-timer"), stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Receives up to 32 messages, archives them at once, deletes them; on an empty queue waits, doubling from 100 ms up to
    /// host.json's <c>maxPollingInterval</c> (2 s), and starts again at 100 ms after a message — as the host's listener.
    /// </summary>
    private static async Task DrainQueueAsync(QueueClient queue, RecordEventProcessor processor, CancellationToken stopping)
    {
        var wait = TimeSpan.FromMilliseconds(100);
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var messages = (await queue.ReceiveMessagesAsync(32, TimeSpan.FromSeconds(30), stopping)).Value;
                if (messages.Length == 0)
                {
                    await Task.Delay(wait, stopping);
                    wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, s_maxPolling.Ticks));
                    continue;
                }

                wait = TimeSpan.FromMilliseconds(100);
                await Task.WhenAll(messages.Select(async m =>
                {
                    await processor.ProcessAsync(new RecordEventMessage(queue.Name, m.MessageId, m.Body.ToString(), m.DequeueCount), stopping);
                    await queue.DeleteMessageAsync(m.MessageId, m.PopReceipt, stopping);
                }));
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private static async Task<long> CountAsync(NpgsqlDataSource dataSource, string path)
    {
        await using var command = dataSource.CreateCommand("SELECT count(*) FROM public.messages WHERE id LIKE $1");
        command.Parameters.Add(new() { Value = $"lag-{path}-%" });
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private static async Task<List<double>> LagsAsync(NpgsqlDataSource dataSource, string path)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT extract(epoch FROM archived_at - updated_at)::float8 * 1000 FROM public.messages WHERE id LIKE $1 ORDER BY 1");
        command.Parameters.Add(new() { Value = $"lag-{path}-%" });
        var lags = new List<double>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            lags.Add(reader.GetDouble(0));
        }

        return lags;
    }

}
