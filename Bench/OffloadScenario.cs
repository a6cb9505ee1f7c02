using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Offload;
using NexusArchive.Core.Restore;
using NexusArchive.Core.Source;
using StackExchange.Redis;

namespace NexusArchive.Bench;

/// <summary>
/// Cold storage at scale (<c>--offload-sessions N</c>): N idle chat sessions (a user per 20 sessions, 4 messages each,
/// an attachment reference on every tenth) archived, then offloaded by the real CLI in a child process (its peak working
/// set, CPU and rate), against the baseline of reading every one of those Redis keys once, pipelined; then restoring
/// a 500-message session through <see cref="RestoreService"/> in a warm process.
/// </summary>
internal sealed class OffloadScenario(BenchServers servers, Scenarios scenarios, Report report)
{
    private const int MessagesPerSession = 4;

    public async Task RunAsync(int sessions)
    {
        await servers.ResetAsync();
        var old = await servers.RedisNowMsAsync() - (long)TimeSpan.FromDays(40).TotalMilliseconds;
        var (written, seedSeconds) = await SeedAsync(sessions, old);
        report.Note($"seed {sessions:N0} idle sessions (Lua writer, pipelined)", $"{written:N0} records in {seedSeconds:N1} s", $"{MessagesPerSession} messages per session, an attachment on every tenth");
        var archive = await scenarios.CliPassAsync();
        report.Note("  archive them (CLI pass)", $"{archive.Rows:N0} rows in {archive.Seconds:N1} s", $"{archive.Rows / archive.Seconds:N0} rows/s");

        var baselineSeconds = await ReadEveryKeyAsync(sessions);
        var baselineRate = sessions / baselineSeconds;
        report.Note("baseline: pipelined HGETALL of every key of those sessions, once", $"{baselineRate:N0} sessions/s", $"{baselineSeconds:N1} s: the least a proof of the copy must read from Redis");

        var (json, peakKb, cpu, wallSeconds) = await scenarios.RunCliAsync(["offload", "--json"], new Dictionary<string, string> { ["Archive:Offload:After"] = "30.00:00:00" });
        var offloaded = json.GetProperty("sessionsOffloaded").GetInt64();
        var bytes = json.GetProperty("bytesFreed").GetInt64();
        var seconds = json.GetProperty("durationMs").GetDouble() / 1000;
        if (offloaded != sessions)
        {
            throw new InvalidOperationException($"offload removed {offloaded} of {sessions} sessions: {json}");
        }

        report.Note("NexusArchive offload (CLI, default batch of 200)", $"{offloaded / seconds:N0} sessions/s",
            $"{offloaded:N0} sessions, {json.GetProperty("recordsRemoved").GetInt64():N0} keys in {seconds:N1} s; {offloaded / seconds / baselineRate:0.00}× the read-once baseline");
        report.Note("  Redis memory freed", $"{bytes / 1048576.0 / seconds:N1} MB/s", $"{bytes / 1048576.0:N1} MB ({json.GetProperty("bytesMethod").GetString()}), {(double)bytes / offloaded:N0} bytes per session");
        report.Note("  peak working set of the offload", $"{peakKb / 1024.0:N0} MB", "the CLI process, VmHWM");
        report.Note("  where the offload's CPU went", cpu.Describe(wallSeconds, Math.Max(1, offloaded)), "from /proc, per session");

        await RestoreBigSessionAsync(old);
    }

    /// <summary>A 500-message session offloaded and brought back five times in the warm process: the median restore.</summary>
    private async Task RestoreBigSessionAsync(long old)
    {
        var services = servers.Warm;
        var writer = services.GetRequiredService<RecordWriter>();
        var database = services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        var writes = new List<Task>
        {
            writer.WriteAsync(database, EntityCatalog.Session, "s-big", [new("userId", "u-big"), new("title", "A long chat"), new("createdAt", Ms(old))], old),
        };
        for (var i = 0; i < 500; i++)
        {
            writes.Add(writer.WriteAsync(database, EntityCatalog.Message, $"m-big-{i:D3}",
                [new("sessionId", "s-big"), new("userId", "u-big"), new("role", i % 2 == 0 ? "user" : "assistant"),
                 new("content", string.Concat(Enumerable.Repeat("A longer message in a long conversation. ", 12))), new("createdAt", Ms(old + i))], old + i));
        }

        await Task.WhenAll(writes);
        await scenarios.WarmPassAsync();
        var offload = services.GetRequiredService<OffloadService>();
        var restore = services.GetRequiredService<RestoreService>();
        var samples = new List<double>();
        for (var round = 0; round < 5; round++)
        {
            var gone = await offload.OffloadAsync(new OffloadRequest(Trigger: "bench"), CancellationToken.None);
            if (gone.SessionsOffloaded != 1)
            {
                throw new InvalidOperationException($"the 500-message session was not offloaded: {gone.Status} {string.Join(", ", gone.Skipped.Select(s => s.Reason))}");
            }

            var clock = Stopwatch.StartNew();
            var back = await restore.RestoreAsync(new RestoreRequest(SessionId: "s-big"), CancellationToken.None);
            samples.Add(clock.Elapsed.TotalMilliseconds);
            if (back.Written != 501)
            {
                throw new InvalidOperationException($"restore wrote {back.Written} of 501 records");
            }

            await scenarios.WarmPassAsync(); // drains the restored records from the late set, so the next offload qualifies
        }

        samples.Sort();
        report.Note("restore of an offloaded 500-message session (warm process)", $"{samples[2]:N0} ms median", $"of 5; min {samples[0]:N0} ms, max {samples[4]:N0} ms; 501 records through the Lua writer");
    }

    private async Task<(long Written, double Seconds)> SeedAsync(int sessions, long old)
    {
        await using var services = servers.Services();
        var writer = services.GetRequiredService<RecordWriter>();
        var database = services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        var clock = Stopwatch.StartNew();
        var pending = new List<Task>(20_000);
        long written = 0;
        for (var s = 0; s < sessions; s++)
        {
            var ts = old + s;
            var (session, user) = ($"s-{s:D8}", $"u-{s / 20:D7}");
            if (s % 20 == 0)
            {
                pending.Add(writer.WriteAsync(database, EntityCatalog.User, user, [new("email", $"{user}@example.com"), new("createdAt", Ms(ts))], ts));
                written++;
            }

            pending.Add(writer.WriteAsync(database, EntityCatalog.Session, session, [new("userId", user), new("title", "Benchmark conversation"), new("createdAt", Ms(ts))], ts));
            for (var m = 0; m < MessagesPerSession; m++)
            {
                pending.Add(writer.WriteAsync(database, EntityCatalog.Message, $"{session}-m{m}",
                    [new("sessionId", session), new("userId", user), new("role", m % 2 == 0 ? "user" : "assistant"),
                     new("content", "NexusChat archived message body text, a short chat turn."), new("createdAt", Ms(ts))], ts));
            }

            if (s % 10 == 0)
            {
                pending.Add(writer.WriteAsync(database, EntityCatalog.Attachment, $"{session}-a0",
                    [new("messageId", $"{session}-m0"), new("sessionId", session), new("userId", user), new("fileName", "photo.jpg"), new("sizeBytes", "48213"), new("createdAt", Ms(ts))], ts));
                written++;
            }

            written += 1 + MessagesPerSession;
            if (pending.Count >= 20_000)
            {
                await Task.WhenAll(pending);
                pending.Clear();
            }
        }

        await Task.WhenAll(pending);
        return (written, clock.Elapsed.TotalSeconds);
    }

    private async Task<double> ReadEveryKeyAsync(int sessions)
    {
        await using var services = servers.Services();
        var layout = services.GetRequiredService<RedisLayout>();
        var database = services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        var clock = Stopwatch.StartNew();
        var pending = new List<Task>(20_000);
        for (var s = 0; s < sessions; s++)
        {
            var session = $"s-{s:D8}";
            pending.Add(database.HashGetAllAsync(layout.RecordKey(EntityCatalog.Session, session)));
            for (var m = 0; m < MessagesPerSession; m++)
            {
                pending.Add(database.HashGetAllAsync(layout.RecordKey(EntityCatalog.Message, $"{session}-m{m}")));
            }

            if (s % 10 == 0)
            {
                pending.Add(database.HashGetAllAsync(layout.RecordKey(EntityCatalog.Attachment, $"{session}-a0")));
            }

            if (pending.Count >= 20_000)
            {
                await Task.WhenAll(pending);
                pending.Clear();
            }
        }

        await Task.WhenAll(pending);
        return clock.Elapsed.TotalSeconds;
    }

    private static string Ms(long ms) => ms.ToString(CultureInfo.InvariantCulture);
}
