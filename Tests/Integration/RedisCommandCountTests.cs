using System.Globalization;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Entities;
using NexusArchive.Tests.Infrastructure;
using NexusArchive.Tests.Security;
using StackExchange.Redis;

namespace NexusArchive.Tests.Integration;

/// <summary>
/// The Redis commands a pass records in run history (<see cref="EntityRunStats.RedisCommands"/>) are the commands Redis
/// counted (<c>INFO commandstats</c>, what Upstash bills), on a redis-server of its own so no other test adds to them.
/// </summary>
public sealed class RedisCommandCountTests
{
    // The client library's own traffic (handshake, heartbeats) and this test's INFO calls: not the pass's commands.
    private static readonly HashSet<string> s_notThePass = new(StringComparer.Ordinal)
    {
        "info", "ping", "echo", "client", "config", "cluster", "subscribe", "hello", "auth", "select", "command", "script",
    };

    [Fact]
    public async Task Pass_RecordsTheCommandsRedisCounted_AndAQuietPassStaysUnderTenPerEntity()
    {
        var password = "count-" + Guid.NewGuid().ToString("N")[..8];
        using var redis = ChildServer.StartRedisWithPassword(password);
        await using var h = await ArchiveHarness.CreateAsync(s =>
        {
            s["ConnectionStrings:Redis"] = $"redis://default:{password}@127.0.0.1:{redis.Port}";
            s["Archive:PageSize"] = "100";
        });
        var now = await h.RedisNowMsAsync();
        for (var i = 0; i < 250; i++)
        {
            await h.WriteMessageAsync($"m-{i:D4}", now - 60_000 + i);
        }

        await using var admin = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{redis.Port},password={password},allowAdmin=true");
        var server = admin.GetServer(admin.GetEndPoints()[0]);
        await server.ConfigResetStatisticsAsync();
        var load = await h.RunAsync();
        var loadCounted = await PassCommandsAsync(server);
        Assert.Equal(RunStatus.Succeeded, load.Status);
        Assert.Equal(loadCounted, load.Entities.Sum(e => e.RedisCommands));
        var messages = load.Entities.Single(e => e.Entity == EntityCatalog.Message.Name);
        Assert.Equal(250, messages.Upserted);
        Assert.True(messages.RedisCommands <= 250 * 1.1, $"{messages.RedisCommands} commands for 250 messages");

        // A fresh process (the quiet mark is kept with the checkpoint), nothing written since.
        await using var fresh = await h.SameArchiveAsync(h.Settings["ConnectionStrings:Postgres"]!);
        await server.ConfigResetStatisticsAsync();
        var quiet = await fresh.RunAsync();
        var quietCounted = await PassCommandsAsync(server);
        Assert.Equal(RunStatus.Succeeded, quiet.Status);
        Assert.Equal(quietCounted, quiet.Entities.Sum(e => e.RedisCommands));
        Assert.All(quiet.Entities, e => Assert.True(e.RedisCommands <= 10, $"{e.Entity}: {e.RedisCommands} commands in a quiet pass"));
    }

    private static async Task<long> PassCommandsAsync(IServer server)
    {
        var stats = await server.InfoAsync("commandstats");
        long calls = 0;
        foreach (var (key, value) in stats.SelectMany(g => g))
        {
            // cmdstat_get:calls=2,usec=...
            var command = key.StartsWith("cmdstat_", StringComparison.Ordinal) ? key["cmdstat_".Length..] : null;
            if (command is null || s_notThePass.Contains(command.Split('|')[0]))
            {
                continue;
            }

            var field = value.Split(',').First(f => f.StartsWith("calls=", StringComparison.Ordinal));
            calls += long.Parse(field["calls=".Length..], CultureInfo.InvariantCulture);
        }

        return calls;
    }
}
