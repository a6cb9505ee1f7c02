using System.Diagnostics;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Tests.Infrastructure;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace NexusArchive.Tests.Faults;

/// <summary>Fault 5: a corpus of bad inputs, each landing where it should, with good records all around it.</summary>
public sealed class BadInputCorpusTests(ITestOutputHelper output)
{
    private sealed record Case(string Name, string Id, ExpectedOutcome Outcome, string? Category, Func<ArchiveHarness, string, long, Task> Write);

    [Fact]
    public async Task Run_BadInputCorpus_EachLandsWhereItShouldAndEveryGoodNeighbourLands()
    {
        var clock = Stopwatch.StartNew();
        await using var harness = await ArchiveHarness.CreateAsync(s => s["Archive:PageSize"] = "4"); // cases spread over many pages
        var cases = new List<Case>
        {
            new("missing id", "bad-no-id", ExpectedOutcome.DeadLetter, DeadLetterReasons.MissingField, (h, id, at) => Raw(h, id, at, ("sessionId", "s"), ("userId", "u"), ("role", "user"), ("createdAt", Ms(at)), ("updatedAt", Ms(at)))),
            new("missing required field", "bad-no-session", ExpectedOutcome.DeadLetter, DeadLetterReasons.MissingField, (h, id, at) => h.WriteUncheckedAsync(EntityCatalog.Message, id, at, ("userId", "u"), ("role", "user"), ("createdAt", Ms(at)))),
            new("wrong type", "bad-type", ExpectedOutcome.DeadLetter, DeadLetterReasons.InvalidInteger, (h, id, at) => Unchecked(h, id, at, ("tokenCount", "twelve"))),
            new("unparseable timestamp", "bad-ts", ExpectedOutcome.DeadLetter, DeadLetterReasons.InvalidTimestamp, (h, id, at) => Unchecked(h, id, at, ("createdAt", "yesterday-ish"))),
            new("far-future createdAt", "bad-future-field", ExpectedOutcome.DeadLetter, DeadLetterReasons.FutureTimestamp, (h, id, at) => Unchecked(h, id, at, ("createdAt", Ms(at + (400L * 86_400_000))))),
            new("far-future updatedAt (score)", "bad-future-score", ExpectedOutcome.DeadLetter, DeadLetterReasons.FutureTimestamp, (h, id, at) => Unchecked(h, id, at + (30L * 86_400_000))),
            new("invalid JSON metadata", "bad-json", ExpectedOutcome.DeadLetter, DeadLetterReasons.InvalidJson, (h, id, at) => Unchecked(h, id, at, ("metadata", "{\"a\":"))),
            new("NUL character", "bad-nul", ExpectedOutcome.DeadLetter, DeadLetterReasons.InvalidText, (h, id, at) => Unchecked(h, id, at, ("content", "before\0after"))),
            new("invalid UTF-8 bytes", "bad-utf8", ExpectedOutcome.DeadLetter, DeadLetterReasons.InvalidText, (h, id, at) => RawBytes(h, id, at, [0xC3, 0x28, 0xFF])),
            new("unknown role", "bad-role", ExpectedOutcome.DeadLetter, DeadLetterReasons.InvalidValue, (h, id, at) => Unchecked(h, id, at, ("role", "wizard"))),
            new("id field differs from member (duplicate id)", "bad-dup-id", ExpectedOutcome.DeadLetter, DeadLetterReasons.IdMismatch, (h, id, at) => Raw(h, id, at, ("id", "good-000"), ("sessionId", "s"), ("userId", "u"), ("role", "user"), ("createdAt", Ms(at)), ("updatedAt", Ms(at)))),
            new("5 MB content", "big-5mb", ExpectedOutcome.Row, null, (h, id, at) => Good(h, id, at, ("content", new string('z', 5 * 1024 * 1024)))),
            new("orphan message (no session)", "orphan", ExpectedOutcome.Row, null, (h, id, at) => Good(h, id, at, ("sessionId", "no-such-session"))),
            new("index member with no hash", "ghost", ExpectedOutcome.Vanished, null, (h, id, at) => h.Redis.SortedSetAddAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message), id, at)),
            new("hash with no index entry", "unindexed", ExpectedOutcome.Vanished, null, (h, id, at) => h.Redis.HashSetAsync(h.Layout.RecordKey(EntityCatalog.Message, id), [new("id", id), new("sessionId", "s"), new("userId", "u"), new("role", "user"), new("createdAt", Ms(at)), new("updatedAt", Ms(at))])),
            new("duplicate id across pages (edited between passes)", "dup-edited", ExpectedOutcome.Row, null, (h, id, at) => Good(h, id, at, ("content", "first version"))),
        };

        var now = await harness.RedisNowMsAsync();
        var at = now - 120_000;
        var good = 0;
        foreach (var c in cases)
        {
            await harness.WriteMessageAsync($"good-{good++:D3}", at++, content: $"neighbour before {c.Name}");
            await c.Write(harness, c.Id, at++);
            await harness.WriteMessageAsync($"good-{good++:D3}", at++, content: $"neighbour after {c.Name}");
        }

        var first = await harness.RunAsync("message");
        // The duplicate: the same id comes back in a later page of the next pass with a newer version.
        await harness.WriteMessageAsync("dup-edited", now - 10_000, content: "second version");
        var second = await harness.RunAsync("message");
        Assert.Equal(RunStatus.Succeeded, first.Status);
        Assert.Equal(RunStatus.Succeeded, second.Status);

        var report = await ArchiveComparison.CompareAsync(harness, EntityCatalog.Message);
        foreach (var c in cases.Where(c => c.Id != "unindexed"))
        {
            Assert.True(report.Outcomes.TryGetValue(c.Id, out var outcome), $"{c.Name}: not in the source index");
            Assert.True((c.Outcome, c.Category) == outcome, $"{c.Name}: expected {c.Outcome} {c.Category}, got {outcome.Outcome} {outcome.Category}");
        }

        Assert.False(report.Outcomes.ContainsKey("unindexed"));
        Assert.Empty(await harness.QueryAsync("SELECT id FROM {t}.messages WHERE id = 'unindexed'"));
        Assert.Equal("second version", (await harness.QueryAsync("SELECT content FROM {t}.messages WHERE id = 'dup-edited'"))[0]["content"]);
        Assert.Equal(1, first.Entities[0].Vanished);
        Assert.Equal(cases.Count(c => c.Outcome == ExpectedOutcome.DeadLetter),
            await harness.ScalarAsync("SELECT count(*) FROM {b}.dead_letters WHERE status = 'open'"));
        var badUtf8 = (await harness.QueryAsync("SELECT raw_fields::text AS raw FROM {b}.dead_letters WHERE record_id = 'bad-utf8'"))[0]["raw"] as string;
        Assert.Contains(Convert.ToBase64String([0xC3, 0x28, 0xFF]), badUtf8!); // raw bytes preserved exactly
        output.WriteLine(FaultKit.Summary("bad-input-corpus", scenarios: cases.Count, faults: cases.Count(c => c.Outcome != ExpectedOutcome.Row) + 1, report, clock.Elapsed));
        ArchiveComparison.AssertEqual(report);
        Assert.Equal(good + 3, report.Rows); // every good neighbour, the 5 MB message, the orphan and the edited duplicate
    }

    private static string Ms(long ms) => FaultKit.Ms(ms);

    private static Task Good(ArchiveHarness h, string id, long at, params (string Field, string Value)[] overrides) =>
        h.WriteAsync(EntityCatalog.Message, id, at, [.. Fields(at, overrides).Select(f => (f.Key, f.Value))]);

    private static Dictionary<string, string> Fields(long at, (string Field, string Value)[] overrides)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["sessionId"] = "s-1", ["userId"] = "u-1", ["role"] = "user", ["content"] = "fine", ["createdAt"] = Ms(at),
        };
        foreach (var (field, value) in overrides)
        {
            fields[field] = value;
        }

        return fields;
    }

    /// <summary>
    /// <see cref="Good"/> around the Lua writer: the writer refuses these inputs at write time (WriterContractTests), so
    /// they reach Redis only from a client that bypasses it, or from before the writer checked writes.
    /// </summary>
    private static Task Unchecked(ArchiveHarness h, string id, long at, params (string Field, string Value)[] overrides) =>
        h.WriteUncheckedAsync(EntityCatalog.Message, id, at, [.. Fields(at, overrides).Select(f => (f.Key, f.Value))]);

    /// <summary>Bypasses the Lua writer (which always sets id and updatedAt) to write a hash exactly as given.</summary>
    private static async Task Raw(ArchiveHarness h, string id, long at, params (string Field, string Value)[] fields)
    {
        await h.Redis.HashSetAsync(h.Layout.RecordKey(EntityCatalog.Message, id), [.. fields.Select(f => new HashEntry(f.Field, f.Value))]);
        await h.Redis.SortedSetAddAsync(h.Layout.ChangeIndexKey(EntityCatalog.Message), id, at);
    }

    private static async Task RawBytes(ArchiveHarness h, string id, long at, byte[] content)
    {
        await Good(h, id, at);
        await h.Redis.HashSetAsync(h.Layout.RecordKey(EntityCatalog.Message, id), "content", content);
    }
}
