using NexusArchive.Tests.Infrastructure;

namespace NexusArchive.Tests.Integration;

/// <summary>The MERGE must probe the archive by primary key, never scan it: a page costs what the page holds.</summary>
public sealed class MergePlanTests
{
    [Fact]
    public async Task Merge_OnLargeArchive_UsesThePrimaryKeyNotASequentialScan()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await h.QueryAsync("""
            INSERT INTO {t}.messages (id, session_id, user_id, role, content, created_at, updated_at)
            SELECT 'm-' || g, 's-' || (g / 20), 'u-1', 'user', repeat('x', 200), now() - interval '1 day', now() - interval '1 day' FROM generate_series(1, 50000) g;
            ANALYZE {t}.messages;
            SELECT 1
            """);
        await h.WriteMessageAsync("m-17", await h.RedisNowMsAsync() - 10_000, content: "edited");

        var run = await h.RunAsync("message");
        Assert.Equal(1, run.Entities.Single().Upserted);

        // The sink's own SQL and session settings, explained inside one transaction like a page.
        var sql = typeof(NexusArchive.Core.Sink.PostgresArchiveSink).Assembly.GetType("NexusArchive.Core.Sink.EntitySql")!;
        var entitySql = sql.GetMethod("For")!.Invoke(null, [NexusArchive.Core.Entities.EntityCatalog.Message, new NexusArchive.Core.Sink.SchemaNames(h.TargetSchema, h.BookkeepingSchema)])!;
        string Prop(string name) => (string)sql.GetProperty(name)!.GetValue(entitySql)!;
        await using var connection = await h.DataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using (var setup = new Npgsql.NpgsqlCommand($"SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; {Prop("CreateStaging")}; INSERT INTO {Prop("StagingTable")} (id, session_id, user_id, role, created_at, updated_at) SELECT 'm-' || g, 's', 'u', 'user', now(), now() FROM generate_series(1, 2000) g", connection, transaction))
        {
            await setup.ExecuteNonQueryAsync();
        }

        await using var explain = new Npgsql.NpgsqlCommand("EXPLAIN " + Prop("Merge"), connection, transaction);
        var plan = new List<string>();
        await using (var reader = await explain.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                plan.Add(reader.GetString(0));
            }
        }

        var text = string.Join('\n', plan);
        Assert.Contains("Nested Loop", text);
        Assert.Contains("messages_pkey", text);
        Assert.DoesNotContain("Seq Scan on messages", text);
    }
}
