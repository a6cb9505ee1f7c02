using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Core.Restore;
using NexusArchive.Core.Source;
using NexusArchive.Tests.Infrastructure;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace NexusArchive.Tests.Integration;

/// <summary>
/// The record writer (<c>write-record.lua</c>) against a real redis-server: every bad write is refused before anything
/// changes, with an error that names the problem; good writes still work; writes at or below the late horizon land in
/// the late set.
/// </summary>
public sealed class WriterContractTests(ITestOutputHelper output)
{
    private const string Id = "m-42";

    /// <summary>One bad write: the keys and arguments, given the harness and the Redis clock, and the error it must get.</summary>
    private sealed record BadWrite(Func<ArchiveHarness, long, (RedisKey[] Keys, RedisValue[] Args)> Call, Func<ArchiveHarness, long, string> Error);

    private static readonly RedisValue[] s_validFields = ["sessionId", "s-1", "userId", "u-1", "role", "user", "createdAt", "1767225600000"];

    private static readonly Dictionary<string, BadWrite> s_badWrites = new()
    {
        ["updatedAt in seconds"] = Message(now => [Id, Sec(now), "merge", "always"],
            (_, now) => $"message m-42: updatedAt {Sec(now)} looks like seconds; send epoch milliseconds or \"*\""),
        ["updatedAt in microseconds"] = Message(now => [Id, Ms(now * 1000), "merge", "always"],
            (_, now) => $"message m-42: updatedAt {Ms(now * 1000)} looks like microseconds; send epoch milliseconds or \"*\""),
        ["updatedAt zero"] = Message(_ => [Id, "0", "merge", "always"],
            (_, _) => "message m-42: updatedAt 0 is not a positive epoch milliseconds value; send epoch milliseconds or \"*\""),
        ["updatedAt negative"] = Message(now => [Id, "-" + Ms(now), "merge", "always"],
            (_, now) => $"message m-42: updatedAt -{Ms(now)} is not a positive epoch milliseconds value; send epoch milliseconds or \"*\""),
        ["updatedAt far future"] = Message(now => [Id, Ms(now + Days(30)), "merge", "always"],
            (_, now) => $"message m-42: updatedAt {Ms(now + Days(30))} lies more than 1 day ahead of the Redis clock (…"),
        ["updatedAt not a number"] = Message(_ => [Id, "1.7e12", "merge", "always"],
            (_, _) => "message m-42: updatedAt \"1.7e12\" is not whole epoch milliseconds; send epoch milliseconds or \"*\""),
        ["createdAt in seconds"] = Message(now => [Id, "*", "merge", "always", "createdAt", Sec(now)],
            (_, now) => $"message m-42: createdAt {Sec(now)} looks like seconds; send epoch milliseconds"),
        ["createdAt ISO before 2000"] = Message(_ => [Id, "*", "merge", "always", "createdAt", "1970-01-21T10:57:11Z"],
            (_, _) => "message m-42: createdAt \"1970-01-21T10:57:11Z\" lies before 2000-01-01; send epoch milliseconds"),
        ["createdAt ISO not a date"] = Message(_ => [Id, "*", "merge", "always", "createdAt", "2026-02-30T00:00:00Z"],
            (_, _) => "message m-42: createdAt \"2026-02-30T00:00:00Z\" is neither epoch milliseconds nor ISO-8601 (YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM]); send epoch milliseconds"),
        ["deletedAt \"0\""] = Message(_ => [Id, "*", "merge", "always", "deletedAt", "0"],
            (_, _) => "message m-42: deletedAt 0 is not a positive epoch milliseconds value; send epoch milliseconds, or \"\" for not deleted"),
        ["replace with odd field args"] = Message(_ => [Id, "*", "replace", "always", "sessionId", "s-1", "userId"],
            (_, _) => "message m-42: 3 field arguments passed; fields come as field, value pairs (an even count)"),
        ["mode \"Replace\""] = Message(_ => [Id, "*", "Replace", "always", .. s_validFields],
            (_, _) => "message m-42: mode \"Replace\" must be exactly merge or replace"),
        ["condition \"sometimes\""] = Message(_ => [Id, "*", "merge", "sometimes"],
            (_, _) => "message m-42: condition \"sometimes\" must be exactly always or if-newer"),
        ["KEYS[1] of id A, ARGV[1] = B"] = new((h, _) => (h.Writer.Keys(EntityCatalog.Message, Id), ["m-43", "*", "merge", "always", .. s_validFields]),
            (h, _) => $"message m-43: KEYS[1] \"{h.Prefix}:message:m-42\" is not the record key of id m-43 (expected \"{h.Prefix}:message:m-43\")"),
        ["keys of two entities mixed"] = new((h, _) => ([.. h.Writer.Keys(EntityCatalog.Message, Id)[..2], .. h.Writer.Keys(EntityCatalog.User, Id)[2..]], [Id, "*", "merge", "always"]),
            (h, _) => $"message m-42: KEYS[3] \"{h.Prefix}:writes:user\" does not belong to message under prefix \"{h.Prefix}\" (expected \"{h.Prefix}:writes:message\")"),
        ["record key of another entity"] = new((h, _) => ([h.Layout.RecordKey(EntityCatalog.User, Id), .. h.Writer.Keys(EntityCatalog.Message, Id)[1..]], [Id, "*", "merge", "always"]),
            (h, _) => $"message m-42: KEYS[1] \"{h.Prefix}:user:m-42\" is not the record key of id m-42 (expected \"{h.Prefix}:message:m-42\")"),
        ["fewer than 5 keys (the old 3-key call)"] = new((h, _) => (h.Writer.Keys(EntityCatalog.Message, Id)[..3], [Id, "*", "merge", "always", .. s_validFields]),
            (_, _) => "3 keys passed; the writer needs exactly 5: KEYS[1] record hash {prefix}:{entity}:{id}, KEYS[2] change index {prefix}:changes:{entity}, "
                + "KEYS[3] write counter {prefix}:writes:{entity}, KEYS[4] late horizon {prefix}:archive:horizon:{entity}, KEYS[5] late set {prefix}:late:{entity}"),
        ["unknown entity"] = new((h, _) => ([$"{h.Prefix}:chat:{Id}", $"{h.Prefix}:changes:chat", $"{h.Prefix}:writes:chat", $"{h.Prefix}:archive:horizon:chat", $"{h.Prefix}:late:chat"], [Id, "*", "merge", "always"]),
            (h, _) => $"KEYS[2] \"{h.Prefix}:changes:chat\" is not the change index {{prefix}}:changes:{{entity}} of a known entity (attachment, message, session, user)"),
        ["key prefix with ':'"] = new((h, _) => (new RecordWriter(new RedisLayout(h.Prefix + ":x")).Keys(EntityCatalog.Message, Id), [Id, "*", "merge", "always", .. s_validFields]),
            (h, _) => $"message m-42: key prefix \"{h.Prefix}:x\" is invalid: use 1-64 letters, digits, _ . - and at most one {{hash tag}}"),
        ["missing required field on a new record"] = Message(_ => ["m-new", "*", "merge", "always", "content", "hi"], "m-new",
            (_, _) => "message m-new: a new record must carry every required field; missing: sessionId, userId, role, createdAt"),
        ["replace without a required field"] = Message(now => [Id, "*", "replace", "always", "sessionId", "s-1", "userId", "u-1", "role", "user"],
            (_, _) => "message m-42: a replace must carry every required field; missing: createdAt"),
        ["required field empty"] = Message(_ => [Id, "*", "merge", "always", "userId", ""],
            (_, _) => "message m-42: required field userId is empty"),
        ["non-integer tokenCount"] = Message(_ => [Id, "*", "merge", "always", "tokenCount", "12.5"],
            (_, _) => "message m-42: tokenCount \"12.5\" is not a 64-bit decimal integer"),
        ["integer beyond 64 bits"] = Message(_ => [Id, "*", "merge", "always", "tokenCount", "9223372036854775808"],
            (_, _) => "message m-42: tokenCount 9223372036854775808 is not a 64-bit decimal integer"),
        ["bad role"] = Message(_ => [Id, "*", "merge", "always", "role", "wizard"],
            (_, _) => "message m-42: role \"wizard\" must be one of user|assistant|system|tool"),
        ["role in another case"] = Message(_ => [Id, "*", "merge", "always", "role", "User"],
            (_, _) => "message m-42: role \"User\" must be one of user|assistant|system|tool"),
        ["metadata a JSON array"] = Message(_ => [Id, "*", "merge", "always", "metadata", "[1,2]"],
            (_, _) => "message m-42: metadata \"[1,2]\" is not a JSON object"),
        ["metadata not JSON"] = Message(_ => [Id, "*", "merge", "always", "metadata", "{\"a\":"],
            (_, _) => "message m-42: metadata \"{\"a\":\" is not valid JSON"),
        ["metadata with trailing content"] = Message(_ => [Id, "*", "merge", "always", "metadata", "{} {}"],
            (_, _) => "message m-42: metadata \"{} {}\" is not valid JSON"),
        ["metadata with \\u0000"] = Message(_ => [Id, "*", "merge", "always", "metadata", "{\"a\":\"\\u0000\"}"],
            (_, _) => "message m-42: metadata contains \\u0000, which PostgreSQL jsonb cannot store"),
        ["NUL in text"] = Message(_ => [Id, "*", "merge", "always", "content", "a\0b"],
            (_, _) => "message m-42: content contains NUL, which PostgreSQL text cannot store"),
        ["id field differs from ARGV[1]"] = Message(_ => [Id, "*", "merge", "always", "id", "m-43"],
            (_, _) => "message m-42: field id \"m-43\" differs from ARGV[1] m-42"),
        ["if-newer that would be skipped, still checked"] = Message(now => [Id, Ms(now - Days(1)), "merge", "if-newer", "role", "wizard"],
            (_, _) => "message m-42: role \"wizard\" must be one of user|assistant|system|tool"),
    };

    public static TheoryData<string> BadWrites => [.. s_badWrites.Keys];

    [Theory]
    [MemberData(nameof(BadWrites))]
    public async Task Write_Bad_IsRefusedNamingTheProblemAndRedisIsUnchanged(string name)
    {
        await using var h = await ArchiveHarness.CreateAsync(migrate: false);
        var now = await SeedLiveStateAsync(h);
        var before = await SnapshotAsync(h);
        var bad = s_badWrites[name];
        var (keys, args) = bad.Call(h, now);

        var ex = await Assert.ThrowsAsync<RedisServerException>(() => h.Redis.ScriptEvaluateAsync(EmbeddedScripts.WriteRecord, keys, args));

        output.WriteLine($"{name} → {ex.Message}");
        var expected = "ERR nexus: " + bad.Error(h, now);
        if (expected.EndsWith('…'))
        {
            Assert.StartsWith(expected[..^1], ex.Message, StringComparison.Ordinal);
        }
        else
        {
            Assert.Equal(expected, ex.Message);
        }

        Assert.Equal(before, await SnapshotAsync(h));
    }

    [Fact]
    public async Task WriteAsync_RefusedThroughRecordWriter_ThrowsTheScriptsError()
    {
        await using var h = await ArchiveHarness.CreateAsync(migrate: false);
        var now = await SeedLiveStateAsync(h);
        var before = await SnapshotAsync(h);

        var ex = await Assert.ThrowsAsync<RedisServerException>(() =>
            h.Writer.WriteAsync(h.Redis, EntityCatalog.Message, Id, [new("createdAt", Sec(now))], now, WriteMode.Replace));

        Assert.StartsWith("ERR nexus: message m-42: createdAt ", ex.Message, StringComparison.Ordinal);
        Assert.Equal(before, await SnapshotAsync(h));
    }

    [Fact]
    public async Task Write_Merge_SetsTheGivenFieldsKeepsTheOthersAndAnEditNeedsNoRequiredFields()
    {
        await using var h = await ArchiveHarness.CreateAsync(migrate: false);
        var now = await h.RedisNowMsAsync();
        await h.WriteMessageAsync(Id, now - 2000, extra: [("tokenCount", "7"), ("metadata", "{\"b\":1,\"a\":[true,null]}"), ("locale", "de")]);

        var edit = await h.WriteAsync(EntityCatalog.Message, Id, now - 1000, ("content", "edited"), ("deletedAt", ""));

        Assert.Equal(new WriteResult(true, now - 1000), edit);
        var hash = await HashAsync(h, Id);
        Assert.Equal("edited", hash["content"]);
        Assert.Equal("7", hash["tokenCount"]);
        Assert.Equal("de", hash["locale"]);
        Assert.Equal("", hash["deletedAt"]);
        Assert.Equal(Ms(now - 1000), hash["updatedAt"]);
        Assert.Equal(Id, hash["id"]);
        Assert.Equal(now - 1000, await h.Redis.SortedSetScoreAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message), Id));
        Assert.Equal(2, (long)await h.Redis.StringGetAsync(h.Layout.WriteCounterKey(EntityCatalog.Message)));
    }

    [Fact]
    public async Task Write_Replace_DropsOtherFieldsAndAnUpdatedAtFieldIsReplacedByTheScore()
    {
        await using var h = await ArchiveHarness.CreateAsync(migrate: false);
        var now = await h.RedisNowMsAsync();
        await h.WriteMessageAsync(Id, now - 2000, extra: [("tokenCount", "7"), ("locale", "de")]);

        var result = (RedisResult[])(await h.Redis.ScriptEvaluateAsync(EmbeddedScripts.WriteRecord, h.Writer.Keys(EntityCatalog.Message, Id),
            [Id, Ms(now - 1000), "replace", "always", .. s_validFields, "updatedAt", "123", "id", Id]))!;

        Assert.Equal(Ms(now - 1000), (string?)result[1]);
        var hash = await HashAsync(h, Id);
        Assert.Equal(["createdAt", "id", "role", "sessionId", "updatedAt", "userId"], hash.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(Ms(now - 1000), hash["updatedAt"]);
    }

    [Fact]
    public async Task Write_IfNewer_SkipsAnOlderOrEqualVersionAndWritesANewerOne()
    {
        await using var h = await ArchiveHarness.CreateAsync(migrate: false);
        var now = await h.RedisNowMsAsync();
        await h.WriteMessageAsync(Id, now - 2000, content: "current");

        var older = await h.Writer.WriteAsync(h.Redis, EntityCatalog.Message, Id, Fields("older"), now - 3000, WriteMode.Replace, onlyIfNewer: true);
        var equal = await h.Writer.WriteAsync(h.Redis, EntityCatalog.Message, Id, Fields("equal"), now - 2000, WriteMode.Replace, onlyIfNewer: true);
        Assert.Equal("current", (await HashAsync(h, Id))["content"]);
        var newer = await h.Writer.WriteAsync(h.Redis, EntityCatalog.Message, Id, Fields("newer"), now - 1000, WriteMode.Replace, onlyIfNewer: true);

        Assert.Equal(new WriteResult(false, now - 2000), older);
        Assert.Equal(new WriteResult(false, now - 2000), equal);
        Assert.Equal(new WriteResult(true, now - 1000), newer);
        Assert.Equal("newer", (await HashAsync(h, Id))["content"]);
    }

    [Fact]
    public async Task Write_Star_StampsUpdatedAtFromTheRedisClock()
    {
        await using var h = await ArchiveHarness.CreateAsync(migrate: false);
        var before = await h.RedisNowMsAsync();

        var result = await h.Writer.WriteAsync(h.Redis, EntityCatalog.Message, Id, Fields("stamped"));

        var after = await h.RedisNowMsAsync();
        Assert.True(result.Written);
        Assert.InRange(result.Score, before, after);
        Assert.Equal(Ms(result.Score), (await HashAsync(h, Id))["updatedAt"]);
        Assert.Equal(result.Score, await h.Redis.SortedSetScoreAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message), Id));
    }

    [Theory]
    [InlineData("2026-11-28T18:40:00.000Z")]              // JavaScript's Date.toISOString()
    [InlineData("2026-11-28T18:40:00.123456Z")]           // restore's form for sub-millisecond values
    [InlineData("2026-11-28T18:40:00.1234567Z")]
    [InlineData("2026-11-28T20:40:00+02:00")]
    [InlineData("2026-11-28T13:10:00.5-05:30")]
    [InlineData("2026-11-28T18:40:00")]                   // no offset: UTC, as the mapper reads it
    [InlineData("2024-02-29T00:00:00Z")]                  // a leap day
    public async Task Write_IsoTimestampTheWriterAccepts_TheMapperReadsAsTheSameInstant(string createdAt)
    {
        await using var h = await ArchiveHarness.CreateAsync(migrate: false);
        await h.WriteAsync(EntityCatalog.Message, Id, await h.RedisNowMsAsync(), ("sessionId", "s-1"), ("userId", "u-1"), ("role", "user"), ("createdAt", createdAt));

        Assert.True(TimestampParser.TryParse((await HashAsync(h, Id))["createdAt"], out var parsed));
        var expected = DateTimeOffset.Parse(createdAt, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
        Assert.Equal(expected, parsed);
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

    [Fact]
    public async Task Archive_SoftDeleteThenUndeleteWithAnEmptyDeletedAt_ClearsDeletedAt()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        await h.WriteMessageAsync(Id, now - 30_000, extra: [("deletedAt", Ms(now - 30_000))]);
        await h.RunAsync("message");
        Assert.NotNull((await h.QueryAsync("SELECT deleted_at FROM {t}.messages WHERE id = $1", Id))[0]["deleted_at"]);

        await h.WriteAsync(EntityCatalog.Message, Id, now - 20_000, ("deletedAt", ""));
        await h.RunAsync("message");

        Assert.Null((await h.QueryAsync("SELECT deleted_at FROM {t}.messages WHERE id = $1", Id))[0]["deleted_at"]);
    }

    [Fact]
    public async Task Restore_ArchivedValueTheWriterRefuses_IsReportedWithTheWritersErrorNamingTheRecord()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var now = await h.RedisNowMsAsync();
        // Archived before the writer and the mapper checked timestamps: seconds, stored as January 1970.
        await h.WriteMessageAsync(Id, now - 30_000);
        await h.RunAsync("message");
        await h.ScalarAsync($"WITH u AS (UPDATE {{t}}.messages SET created_at = to_timestamp({Sec(now)} / 1000.0) WHERE id = '{Id}' RETURNING 1) SELECT count(*) FROM u");
        await RedisKeys.DeletePrefixAsync(h.Redis, h.Prefix);

        var report = await h.Services.GetRequiredService<RestoreService>().RestoreAsync(new RestoreRequest(All: true), CancellationToken.None);

        var refusal = Assert.Single(report.Entities.Single(e => e.Entity == "message").Refusals);
        Assert.Equal($"ERR nexus: message {Id}: createdAt {Sec(now)} looks like seconds; send epoch milliseconds", refusal.Reason);
        Assert.False(await h.Redis.KeyExistsAsync(h.Layout.RecordKey(EntityCatalog.Message, Id)));
    }

    [Fact]
    public async Task Archive_KeyPrefixWithAHashTag_PutsEveryKeyOfAWriteInOneSlotAndArchives()
    {
        await using var h = await ArchiveHarness.CreateAsync(s => s["Archive:KeyPrefix"] = "{" + s["Archive:KeyPrefix"] + "}");
        var now = await h.RedisNowMsAsync();

        await h.WriteMessageAsync(Id, now - 20_000);
        await h.RunAsync("message");

        Assert.StartsWith("{", h.Prefix, StringComparison.Ordinal);
        Assert.Equal((11058, 2515), (ClusterSlot("somekey"), ClusterSlot("foo{hash_tag}"))); // CLUSTER KEYSLOT's documented examples
        Assert.Single(h.Writer.Keys(EntityCatalog.Message, Id).Select(ClusterSlot).Distinct());
        Assert.Equal(1, await h.CountAsync("messages"));
        var untagged = new RecordWriter(new RedisLayout("nexus")).Keys(EntityCatalog.Message, Id);
        Assert.True(untagged.Select(ClusterSlot).Distinct().Count() > 1); // why a cluster needs the hash tag
    }

    /// <summary>The writer's prefix rule is the configuration's (<see cref="Core.Configuration.Identifiers.IsKeyPrefix"/>).</summary>
    [Theory]
    [InlineData("{0}", true)]
    [InlineData("{{{0}}}", true)]
    [InlineData("{{{0}}}.v2", true)]
    [InlineData("app-{{{0}}}", true)]
    [InlineData("{{}}{0}", false)]
    [InlineData("{{{0}}}{{b}}", false)]
    [InlineData("{{{0}", false)]
    [InlineData("{0}}}", false)]
    [InlineData("{0} x", false)]
    [InlineData("{0}*", false)]
    [InlineData("{0}\n", false)]
    [InlineData("{0}-0123456789012345678901234567890123456789012345678901234567890123", false)]
    public async Task Write_KeyPrefix_AcceptedExactlyWhenTheConfigurationAcceptsIt(string pattern, bool valid)
    {
        await using var h = await ArchiveHarness.CreateAsync(migrate: false);
        var prefix = string.Format(CultureInfo.InvariantCulture, pattern, "w" + h.Prefix);
        Assert.Equal(valid, Core.Configuration.Identifiers.IsKeyPrefix(prefix));

        var write = new RecordWriter(new RedisLayout(prefix)).WriteAsync(h.Redis, EntityCatalog.Message, Id, Fields("prefixed"));

        if (valid)
        {
            Assert.True((await write).Written);
        }
        else
        {
            Assert.Contains("key prefix", (await Assert.ThrowsAsync<RedisServerException>(() => write)).Message, StringComparison.Ordinal);
        }
    }

    /// <summary>A live record, another entity's record, a horizon, a late entry and the counters: every key type the writer touches.</summary>
    private static async Task<long> SeedLiveStateAsync(ArchiveHarness h)
    {
        var now = await h.RedisNowMsAsync();
        await h.Redis.StringSetAsync(h.Layout.LateHorizonKey(EntityCatalog.Message), Ms(now - 60_000));
        await h.WriteMessageAsync(Id, now - 120_000, content: "live", extra: [("tokenCount", "7"), ("metadata", "{\"a\":1}"), ("locale", "de")]);
        await h.WriteMessageAsync("m-43", now - 30_000, content: "neighbour");
        await h.WriteAsync(EntityCatalog.User, Id, now - 30_000, ("email", "a@example.com"), ("createdAt", Ms(now - 30_000)));
        Assert.Equal(1, await h.Redis.SortedSetLengthAsync(h.Layout.LateSetKey(EntityCatalog.Message)));
        return now;
    }

    /// <summary>Every key of the harness's prefix: type, TTL and DUMP (the serialized value), so any change shows.</summary>
    private static async Task<SortedDictionary<string, string>> SnapshotAsync(ArchiveHarness h)
    {
        var multiplexer = h.Services.GetRequiredService<IConnectionMultiplexer>();
        var server = multiplexer.GetServer(multiplexer.GetEndPoints()[0]);
        var snapshot = new SortedDictionary<string, string>(StringComparer.Ordinal);
        await foreach (var key in server.KeysAsync(pattern: h.Prefix + ":*", pageSize: 1000))
        {
            var type = await h.Redis.KeyTypeAsync(key);
            var ttl = await h.Redis.KeyTimeToLiveAsync(key);
            var dump = await h.Redis.KeyDumpAsync(key);
            snapshot[key!] = $"{type} ttl={ttl} {Convert.ToBase64String(dump!)}";
        }

        Assert.NotEmpty(snapshot);
        return snapshot;
    }

    /// <summary>The Redis Cluster slot of a key: CRC16 (XMODEM) of its hash tag, or of the whole key, mod 16384.</summary>
    private static int ClusterSlot(RedisKey key)
    {
        byte[] bytes = key!;
        var open = Array.IndexOf(bytes, (byte)'{');
        var close = open < 0 ? -1 : Array.IndexOf(bytes, (byte)'}', open + 1);
        var hashed = close > open + 1 ? bytes.AsSpan(open + 1, close - open - 1) : bytes;
        var crc = 0;
        foreach (var b in hashed)
        {
            crc ^= b << 8;
            for (var i = 0; i < 8; i++)
            {
                crc = (crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1;
            }
        }

        return (crc & 0xFFFF) % 16384;
    }

    private static async Task<Dictionary<string, string>> HashAsync(ArchiveHarness h, string id) =>
        (await h.Redis.HashGetAllAsync(h.Layout.RecordKey(EntityCatalog.Message, id))).ToDictionary(e => (string)e.Name!, e => (string)e.Value!);

    private static KeyValuePair<string, RedisValue>[] Fields(string content) =>
        [new("sessionId", "s-1"), new("userId", "u-1"), new("role", "user"), new("content", content), new("createdAt", "1767225600000")];

    private static BadWrite Message(Func<long, RedisValue[]> args, Func<ArchiveHarness, long, string> error) => Message(args, Id, error);

    private static BadWrite Message(Func<long, RedisValue[]> args, string id, Func<ArchiveHarness, long, string> error) =>
        new((h, now) => (h.Writer.Keys(EntityCatalog.Message, id), args(now)), error);

    private static string Ms(long ms) => ms.ToString(CultureInfo.InvariantCulture);

    private static string Sec(long ms) => (ms / 1000).ToString(CultureInfo.InvariantCulture);

    private static long Days(int days) => days * 86_400_000L;
}
