using System.Globalization;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Source;
using NexusArchive.Tests.Infrastructure;
using StackExchange.Redis;

namespace NexusArchive.Tests.Integration;

/// <summary>The record writer (<c>write-record.lua</c>) against a real redis-server: the 5-key contract and the late set.</summary>
public sealed class WriterContractTests
{
    [Fact]
    public async Task Write_FewerThanFiveKeys_IsRefusedNamingTheKeysAndChangesNothing()
    {
        await using var h = await ArchiveHarness.CreateAsync(migrate: false);

        var ex = await Assert.ThrowsAsync<RedisServerException>(() => h.Redis.ScriptEvaluateAsync(EmbeddedScripts.WriteRecord,
            h.Writer.Keys(EntityCatalog.Message, "m-1")[..3], ["m-1", "*", "merge", "always", "role", "user"]));

        Assert.Equal("ERR nexus: 3 keys passed; the writer needs exactly 5: KEYS[1] record hash {prefix}:{entity}:{id}, KEYS[2] change index {prefix}:changes:{entity}, "
            + "KEYS[3] write counter {prefix}:writes:{entity}, KEYS[4] late horizon {prefix}:archive:horizon:{entity}, KEYS[5] late set {prefix}:late:{entity}", ex.Message);
        Assert.False(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Message, "m-1")));
        Assert.False(await h.Redis.KeyExistsAsync(h.Layout.WriteCounterKey(EntityCatalog.Message)));
    }

    [Fact]
    public async Task Write_AtOrBelowTheLateHorizon_LandsInTheLateSet_AboveItOrWithoutOneDoesNot()
    {
        await using var h = await ArchiveHarness.CreateAsync(migrate: false);
        var now = await h.RedisNowMsAsync();
        var late = h.Layout.LateSetKey(EntityCatalog.Message);
        await h.WriteMessageAsync("m-before-any-pass", now - 50_000);
        Assert.False(await h.Redis.KeyExistsAsync(late)); // no horizon yet: nothing is late

        var horizon = now - 10_000;
        await h.Redis.StringSetAsync(h.Layout.LateHorizonKey(EntityCatalog.Message), Ms(horizon));
        await h.WriteMessageAsync("m-below", horizon - 1);
        await h.WriteMessageAsync("m-at", horizon);
        await h.WriteMessageAsync("m-above", horizon + 1);
        await h.Writer.WriteAsync(h.Redis, EntityCatalog.Message, "m-stamped", Fields("now"));

        var entries = (await h.Redis.SortedSetRangeByRankWithScoresAsync(late)).ToDictionary(e => (string)e.Element!, e => e.Score);
        Assert.Equal(new Dictionary<string, double> { ["m-below"] = horizon - 1, ["m-at"] = horizon }, entries);

        // A late write that is skipped by if-newer is not a write: nothing is added.
        await h.Writer.WriteAsync(h.Redis, EntityCatalog.Message, "m-above", Fields("older"), horizon - 5, WriteMode.Replace, onlyIfNewer: true);
        Assert.Equal(2, await h.Redis.SortedSetLengthAsync(late));

        // A horizon raised past the Redis clock makes a stamped write late too.
        await h.Redis.StringSetAsync(h.Layout.LateHorizonKey(EntityCatalog.Message), Ms(now + 60_000));
        var stamped = await h.Writer.WriteAsync(h.Redis, EntityCatalog.Message, "m-stamped", Fields("again"));
        Assert.Equal(stamped.Score, await h.Redis.SortedSetScoreAsync(late, "m-stamped"));
    }

    private static KeyValuePair<string, RedisValue>[] Fields(string content) =>
        [new("sessionId", "s-1"), new("userId", "u-1"), new("role", "user"), new("content", content), new("createdAt", "1767225600000")];

    private static string Ms(long ms) => ms.ToString(CultureInfo.InvariantCulture);
}
