using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Source;
using StackExchange.Redis;

namespace NexusArchive.Bench;

/// <summary>The writes the scenarios archive: <see cref="BenchData"/> seeded and edited through the Lua writer, pipelined.</summary>
internal sealed class RedisWorkload(BenchServers servers)
{
    /// <summary>Seeds messages <paramref name="from"/> to <paramref name="from"/> + <paramref name="count"/> with their users and sessions.</summary>
    /// <returns>The records written and the seconds it took.</returns>
    public async Task<(long Written, double Seconds)> SeedAsync(BenchData data, long from, long count)
    {
        await using var services = servers.Services();
        var writer = services.GetRequiredService<RecordWriter>();
        var database = services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        var clock = Stopwatch.StartNew();
        var pending = new List<Task>(20_000);
        long written = 0;

        async Task Flush()
        {
            await Task.WhenAll(pending);
            pending.Clear();
        }

        var sessions = (from + count + BenchData.MessagesPerSession - 1) / BenchData.MessagesPerSession;
        var users = (sessions + BenchData.SessionsPerUser - 1) / BenchData.SessionsPerUser;
        for (long u = from / (BenchData.MessagesPerSession * BenchData.SessionsPerUser); u < users; u++)
        {
            var ts = data.CreatedMs(u * BenchData.MessagesPerSession * BenchData.SessionsPerUser);
            pending.Add(writer.WriteAsync(database, EntityCatalog.User, $"u-{u:D7}",
                [new("email", $"user{u}@example.com"), new("displayName", $"User {u}"), new("createdAt", ts.ToString(CultureInfo.InvariantCulture))], ts));
            written++;
        }

        for (long s = from / BenchData.MessagesPerSession; s < sessions; s++)
        {
            var ts = data.CreatedMs(s * BenchData.MessagesPerSession);
            pending.Add(writer.WriteAsync(database, EntityCatalog.Session, $"s-{s:D8}",
                [new("userId", $"u-{s / BenchData.SessionsPerUser:D7}"), new("title", "Benchmark conversation"), new("model", "gpt-4o"), new("createdAt", ts.ToString(CultureInfo.InvariantCulture))], ts));
            written++;
            if (pending.Count >= 20_000)
            {
                await Flush();
            }
        }

        for (var i = from; i < from + count; i++)
        {
            var (id, updated, fields) = data.MessageFields(i);
            pending.Add(writer.WriteAsync(database, EntityCatalog.Message, id, fields, updated));
            written++;
            if (pending.Count >= 20_000)
            {
                await Flush();
            }
        }

        await Flush();
        return (written, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Edits every (100 / <paramref name="percent"/>)th of the first <paramref name="n"/> messages as NexusChat would.</summary>
    /// <returns>The number of edits.</returns>
    public async Task<long> EditAsync(BenchData data, long n, int percent, int version = 1)
    {
        await using var services = servers.Services();
        var writer = services.GetRequiredService<RecordWriter>();
        var database = services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        var pending = new List<Task>();
        long edits = 0;
        for (long i = 0; i < n; i += 100 / percent)
        {
            // An edit as NexusChat makes it: stamped by the Redis server clock, so it lands after the checkpoint.
            var (id, _, fields) = data.MessageFields(i, version);
            pending.Add(writer.WriteAsync(database, EntityCatalog.Message, id, fields));
            edits++;
            if (pending.Count >= 20_000)
            {
                await Task.WhenAll(pending);
                pending.Clear();
            }
        }

        await Task.WhenAll(pending);
        return edits;
    }
}
