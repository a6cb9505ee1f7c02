using System.Globalization;
using System.Text;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Mapping;
using NexusArchive.Tests.Infrastructure;

namespace NexusArchive.Tests.Integration;

/// <summary>
/// The sink's riskiest path: a row the mapper accepts but PostgreSQL rejects (class 22/23) is isolated by bisecting
/// the page under savepoints. Only that row becomes a dead letter; the rest of the page lands and the checkpoint moves on.
/// </summary>
public sealed class BisectionTests
{
    private const int PageSize = 200;

    [Theory]
    [InlineData(new[] { 0, 100, 199 })] // first, middle and last row of the page
    [InlineData(new[] { 99, 100 })] // adjacent, on both sides of the first split
    [InlineData(new[] { 42, 43 })] // adjacent, deep in one half
    public async Task Run_RowsRejectedByACheckConstraint_AreIsolatedAndTheRestOfThePageLands(int[] bad)
    {
        await using var h = await ArchiveHarness.CreateAsync(s => s["Archive:PageSize"] = PageSize.ToString(CultureInfo.InvariantCulture));
        // A rule only the database knows: the mapper cannot foresee it, so the page's MERGE fails on these rows.
        await h.QueryAsync("ALTER TABLE {t}.messages ADD CONSTRAINT no_forbidden CHECK (content NOT LIKE '%FORBIDDEN%')");
        var baseMs = await h.RedisNowMsAsync() - 60_000;
        for (var i = 0; i < PageSize; i++)
        {
            await h.WriteMessageAsync(Id(i), baseMs + i, content: Content(i, bad.Contains(i)));
        }

        var rawInRedis = new Dictionary<string, List<(string Field, byte[] Value)>>();
        foreach (var i in bad)
        {
            rawInRedis[Id(i)] = Sorted((await h.Redis.HashGetAllAsync(h.Layout.RecordKey(EntityCatalog.Message, Id(i))))
                .Select(e => ((string)e.Name!, (byte[])e.Value!)));
        }

        var run = await h.RunAsync("message");

        var stats = run.Entities.Single();
        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.Equal(PageSize, stats.Read);
        Assert.Equal(PageSize - bad.Length, stats.Upserted);
        Assert.Equal(bad.Length, stats.DeadLettered);

        // Exactly the bad rows are open dead letters, rejected by the database, with the constraint named and the raw hash.
        var letters = await h.QueryAsync(
            "SELECT record_id, redis_key, score, status, reason_category, reason, raw_fields::text AS raw, last_run_id FROM {b}.dead_letters ORDER BY record_id");
        Assert.Equal(bad.Select(Id).Order(StringComparer.Ordinal), letters.Select(l => (string)l["record_id"]!));
        foreach (var letter in letters)
        {
            var id = (string)letter["record_id"]!;
            Assert.Equal("open", letter["status"]);
            Assert.Equal(DeadLetterReasons.Rejected, letter["reason_category"]);
            Assert.Contains("no_forbidden", (string)letter["reason"]!);
            Assert.Contains("23514", (string)letter["reason"]!); // check_violation
            Assert.Equal(h.Layout.RecordKey(EntityCatalog.Message, id).ToString(), letter["redis_key"]);
            Assert.Equal(baseMs + Index(id), (double)letter["score"]!);
            Assert.Equal(run.RunId, letter["last_run_id"]);
            var raw = Sorted(RawPayload.Decode((string)letter["raw"]!).Select(p => (Encoding.UTF8.GetString(p.Key), p.Value)));
            Assert.Equal(rawInRedis[id].Select(p => p.Field), raw.Select(p => p.Field));
            Assert.Equal(rawInRedis[id].Select(p => p.Value), raw.Select(p => p.Value));
        }

        // Every other row is archived exactly, once.
        var expected = Enumerable.Range(0, PageSize).Where(i => !bad.Contains(i)).Select(i => (Id(i), Content(i, false), baseMs + i)).ToList();
        Assert.Equal(expected, await ArchivedAsync(h));

        // The checkpoint is past the whole page, bad rows included: they wait in the dead-letter table, not in Redis.
        var checkpoint = (await h.QueryAsync("SELECT score, member FROM {b}.checkpoints WHERE entity = 'message'")).Single();
        Assert.Equal(baseMs + PageSize - 1, (double)checkpoint["score"]!);
        Assert.Equal(Encoding.UTF8.GetBytes(Id(PageSize - 1)), (byte[])checkpoint["member"]!);
        Assert.Equal((double)(baseMs + PageSize - 1), stats.CheckpointScore);
        Assert.Equal("Succeeded", (await h.QueryAsync("SELECT status FROM {b}.runs WHERE run_id = $1", run.RunId)).Single()["status"]);
    }

    [Theory]
    [InlineData(new[] { 0, 100, 199 })]
    [InlineData(new[] { 99, 100 })]
    public async Task Run_RejectedRowFixedInRedis_IsArchivedAndItsDeadLetterResolved(int[] bad)
    {
        await using var h = await ArchiveHarness.CreateAsync(s => s["Archive:PageSize"] = PageSize.ToString(CultureInfo.InvariantCulture));
        await h.QueryAsync("ALTER TABLE {t}.messages ADD CONSTRAINT no_forbidden CHECK (content NOT LIKE '%FORBIDDEN%')");
        var now = await h.RedisNowMsAsync();
        var baseMs = now - 60_000;
        for (var i = 0; i < PageSize; i++)
        {
            await h.WriteMessageAsync(Id(i), baseMs + i, content: Content(i, bad.Contains(i)));
        }

        var first = await h.RunAsync("message");
        Assert.Equal((RunStatus.Succeeded, (long)bad.Length), (first.Status, first.Entities.Single().DeadLettered));
        Assert.Equal(bad.Length, await h.ScalarAsync("SELECT count(*) FROM {b}.dead_letters WHERE status = 'open'"));

        // The source fixes the records: rewritten without the forbidden word, at a newer updatedAt.
        var fixedMs = now - 10_000;
        foreach (var i in bad)
        {
            await h.WriteMessageAsync(Id(i), fixedMs, content: $"message {i} fixed");
        }

        var second = await h.RunAsync("message");

        var stats = second.Entities.Single();
        Assert.Equal(RunStatus.Succeeded, second.Status);
        Assert.Equal(bad.Length, stats.Upserted);
        Assert.Equal(0, stats.DeadLettered);
        var expected = Enumerable.Range(0, PageSize)
            .Select(i => bad.Contains(i) ? (Id(i), $"message {i} fixed", fixedMs) : (Id(i), Content(i, false), baseMs + i))
            .ToList();
        Assert.Equal(expected, await ArchivedAsync(h));
        var letters = await h.QueryAsync("SELECT record_id, status, closed_at FROM {b}.dead_letters ORDER BY record_id");
        Assert.Equal(bad.Select(Id).Order(StringComparer.Ordinal), letters.Select(l => (string)l["record_id"]!));
        Assert.All(letters, l => Assert.Equal("resolved", l["status"]));
        Assert.All(letters, l => Assert.NotNull(l["closed_at"]));
        Assert.Equal((double)fixedMs, stats.CheckpointScore);
    }

    private static string Id(int i) => $"m-{i:D3}";

    private static int Index(string id) => int.Parse(id[2..], CultureInfo.InvariantCulture);

    private static string Content(int i, bool forbidden) => forbidden ? $"message {i} FORBIDDEN" : $"message {i}";

    private static List<(string Field, byte[] Value)> Sorted(IEnumerable<(string Field, byte[] Value)> pairs) =>
        [.. pairs.OrderBy(p => p.Field, StringComparer.Ordinal)];

    private static async Task<List<(string Id, string Content, long UpdatedAtMs)>> ArchivedAsync(ArchiveHarness h) =>
        [.. (await h.QueryAsync("SELECT id, content, (extract(epoch FROM updated_at) * 1000)::bigint AS updated_ms FROM {t}.messages ORDER BY id"))
            .Select(r => ((string)r["id"]!, (string)r["content"]!, (long)r["updated_ms"]!))];
}
