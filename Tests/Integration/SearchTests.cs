using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Sink;
using NexusArchive.Tests.Infrastructure;
using Npgsql;

namespace NexusArchive.Tests.Integration;

/// <summary>
/// <c>search_messages</c> (migration 0007) on messages written through the Lua writer and archived by a real pass.
/// These run as the admin that owns the tables; Tests/Security/SearchAndAnalyticsSecurityTests.cs runs them as
/// Supabase's roles.
/// </summary>
public sealed class SearchTests
{
    private static readonly string s_long = string.Concat(Enumerable.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit. ", 20))
        + "Here the needle hides. " + string.Concat(Enumerable.Repeat("Sed do eiusmod tempor incididunt ut labore. ", 20));

    /// <summary>Written in this order, one minute apart: a later message is newer.</summary>
    private static readonly (string Id, string Content)[] s_messages =
    [
        ("m-fox", "The quick brown fox jumps over the lazy dog"),
        ("m-fox-far", "A brown dog sleeps while somewhere a quick fox waits"),
        ("m-cat", "The quick cat watches the brown bird"),
        ("m-both", "Fox and cat: the quick brown fox and the quick brown cat, quick brown again"),
        ("m-german", "Der schnelle braune Fuchs springt über den faulen Hund"),
        ("m-deleted", "A deleted message about the quick brown fox"),
        ("m-long", s_long),
    ];

    private static async Task<ArchiveHarness> ArchivedAsync(Action<Dictionary<string, string?>>? configure = null)
    {
        var h = await ArchiveHarness.CreateAsync(configure);
        var t = await h.RedisNowMsAsync() - 60_000;
        var i = 0;
        foreach (var (id, content) in s_messages)
        {
            var created = (t - ((s_messages.Length - i++) * 60_000)).ToString(CultureInfo.InvariantCulture);
            (string, string)[] fields = [("sessionId", "s-1"), ("userId", "u-1"), ("role", "user"), ("content", content), ("createdAt", created)];
            await h.WriteAsync(EntityCatalog.Message, id, t, id == "m-deleted" ? [.. fields, ("deletedAt", created)] : fields);
        }

        Assert.Equal(RunStatus.Succeeded, (await h.RunAsync()).Status);
        return h;
    }

    private static Task<List<Dictionary<string, object?>>> SearchAsync(ArchiveHarness h, string query, int? max = null) =>
        max is null
            ? h.QueryAsync("SELECT * FROM {t}.search_messages($1)", query)
            : h.QueryAsync("SELECT * FROM {t}.search_messages($1, $2)", query, max.Value);

    private static string[] Ids(List<Dictionary<string, object?>> rows) => [.. rows.Select(r => (string)r["id"]!)];

    [Fact]
    public async Task SearchMessages_Phrase_FindsOnlyMessagesWithTheWordsInThatOrder()
    {
        await using var h = await ArchivedAsync();

        var phrase = Ids(await SearchAsync(h, "\"quick brown fox\""));
        var words = Ids(await SearchAsync(h, "quick brown fox"));

        Assert.Equal(["m-both", "m-fox"], phrase.Order());
        Assert.Equal(["m-both", "m-fox", "m-fox-far"], words.Order());
    }

    [Fact]
    public async Task SearchMessages_Exclusion_And_Or_FollowWebSearchSyntax()
    {
        await using var h = await ArchivedAsync();

        Assert.Equal(["m-fox", "m-fox-far"], Ids(await SearchAsync(h, "fox -cat")).Order());
        Assert.Equal(["m-both", "m-cat", "m-fox", "m-fox-far"], Ids(await SearchAsync(h, "fox or cat")).Order());
        Assert.Equal(["m-german"], Ids(await SearchAsync(h, "fuchs or needle -lorem")));
        Assert.Empty(await SearchAsync(h, "giraffe"));
        Assert.Empty(await SearchAsync(h, string.Empty));
    }

    [Fact]
    public async Task SearchMessages_BetterMatchFirst_NewerFirstAmongEquals()
    {
        await using var h = await ArchivedAsync();

        var rows = await SearchAsync(h, "quick brown fox");

        // m-both holds the words most often and closest together; m-fox has them adjacent once; m-fox-far far apart.
        Assert.Equal(["m-both", "m-fox", "m-fox-far"], Ids(rows));
        var ranks = rows.Select(r => (float)r["rank"]!).ToArray();
        Assert.True(ranks[0] > ranks[1] && ranks[1] > ranks[2], string.Join(", ", ranks));

        // "dog" once in m-fox and once in m-fox-far: equal rank, the newer (m-fox-far) first.
        Assert.Equal(["m-fox-far", "m-fox"], Ids(await SearchAsync(h, "dog")));
    }

    [Fact]
    public async Task SearchMessages_Snippet_HighlightsTheMatch_AndShowsOnlyFragmentsOfLongMessages()
    {
        await using var h = await ArchivedAsync();

        var fox = Assert.Single(await SearchAsync(h, "\"lazy dog\""));
        var needle = Assert.Single(await SearchAsync(h, "needle"));

        Assert.Equal("The quick brown fox jumps over the «lazy» «dog»", fox["snippet"]);
        var snippet = (string)needle["snippet"]!;
        Assert.Contains("«needle»", snippet, StringComparison.Ordinal);
        Assert.True(snippet.Length < s_long.Length / 3, snippet);
        Assert.Equal("s-1", needle["session_id"]);
        Assert.IsType<DateTime>(needle["created_at"]);
    }

    [Fact]
    public async Task SearchMessages_SoftDeleted_NeverReturned()
    {
        await using var h = await ArchivedAsync();

        Assert.DoesNotContain("m-deleted", Ids(await SearchAsync(h, "deleted")));
        Assert.Empty(await SearchAsync(h, "deleted message"));
        Assert.Equal(1, await h.ScalarAsync("SELECT count(*) FROM {t}.messages WHERE id = 'm-deleted' AND deleted_at IS NOT NULL"));
    }

    [Fact]
    public async Task SearchMessages_MaxResults_ClampedTo1Through500()
    {
        await using var h = await ArchivedAsync();

        Assert.Single(await SearchAsync(h, "quick", 1));
        Assert.Equal(2, (await SearchAsync(h, "quick", 2)).Count);
        Assert.Single(await SearchAsync(h, "quick", 0));
        Assert.Single(await SearchAsync(h, "quick", -5));
        Assert.Equal(4, (await SearchAsync(h, "quick", int.MaxValue)).Count);
        Assert.Equal(4, (await SearchAsync(h, "quick")).Count);
        Assert.Equal(4, (await h.QueryAsync("SELECT * FROM {t}.search_messages('quick', NULL)")).Count);
    }

    private const string IndexOn = "Archive:SearchIndex";

    private static async Task<object?> IndexAsync(ArchiveHarness h) =>
        (await h.QueryAsync("SELECT to_regclass($1)::text AS r", $"{h.TargetSchema}.messages_content_search_idx"))[0]["r"];

    [Fact]
    public async Task SearchIndex_Default_NoFullTextIndexOnMessages_SearchStillWorks()
    {
        await using var h = await ArchivedAsync();

        Assert.Null(await IndexAsync(h));
        Assert.Equal(0L, await h.ScalarAsync("SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND indexdef ILIKE '%to_tsvector%'", h.TargetSchema));
        Assert.Equal(["m-fox", "m-fox-far"], Ids(await SearchAsync(h, "fox -cat")).Order());
    }

    [Fact]
    public async Task SearchIndex_On_BuildsAValidIndex_ThatAQueryBypassingRlsUses()
    {
        await using var h = await ArchivedAsync(s => s[IndexOn] = "true");

        Assert.NotNull(await IndexAsync(h));
        Assert.Equal(1L, await h.ScalarAsync("SELECT indisvalid::int FROM pg_index WHERE indexrelid = $1::regclass", $"{h.TargetSchema}.messages_content_search_idx"));

        // The function's statement, as EXPLAIN shows it (a table this small would be read sequentially: forbid that to
        // see whether the expression can use the index at all; it can only when it repeats the index expression).
        var plan = string.Join('\n', (await PlanAsync(h,
            "SELECT id FROM {t}.messages m WHERE to_tsvector('simple'::regconfig, coalesce(m.content, '')) @@ websearch_to_tsquery('simple'::regconfig, 'quick brown') AND m.deleted_at IS NULL")));
        Assert.Contains("Bitmap Index Scan on messages_content_search_idx", plan, StringComparison.Ordinal);

        // And search_messages itself (the owner bypasses RLS, as service_role does on Supabase): scans inside count.
        await using var connection = await h.DataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        var scans = await LastRowAsync(connection, transaction, h.Schemas(
            """
            SET LOCAL enable_seqscan = off;
            SELECT count(*) FROM {t}.search_messages('quick brown');
            SELECT pg_stat_get_xact_numscans('{t}.messages_content_search_idx'::regclass);
            """));
        Assert.Equal(1L, scans[0]);
    }

    [Fact]
    public async Task SearchMessages_UnderRls_ReadsTheUsersMessagesByUserId_NotTheGinIndex()
    {
        await using var h = await ArchivedAsync(s => s[IndexOn] = "true");
        await using var connection = await h.DataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();

        // Even with the opt-in index present and sequential scans forbidden, a signed-in user's search goes through the
        // user_id index: @@ is not leakproof, so RLS's user_id condition must be applied first.
        var scans = await LastRowAsync(connection, transaction, h.Schemas(
            """
            SELECT set_config('role', 'authenticated', true), set_config('request.jwt.claims', '{"sub":"u-1","role":"authenticated"}', true);
            SET LOCAL enable_seqscan = off;
            SELECT count(*) FROM {t}.search_messages('quick brown');
            RESET ROLE;
            SELECT pg_stat_get_xact_numscans('{t}.messages_content_search_idx'::regclass), pg_stat_get_xact_numscans('{t}.messages_user_id_idx'::regclass);
            """));

        Assert.Equal([0L, 1L], scans);
    }

    [Fact]
    public async Task SearchIndex_TurnedOffLater_MigrateDropsIt_TurnedOnAgain_BuildsIt()
    {
        await using var h = await ArchivedAsync(s => s[IndexOn] = "true");
        Assert.NotNull(await IndexAsync(h));

        await using (var off = await ArchiveHarness.CreateAsync(s => Reuse(h, s, IndexOn, "false")))
        {
            Assert.Null(await IndexAsync(h));
        }

        await using var on = await ArchiveHarness.CreateAsync(s => Reuse(h, s, IndexOn, "true"));
        Assert.NotNull(await IndexAsync(h));
        Assert.Equal(["m-fox", "m-fox-far"], Ids(await SearchAsync(h, "fox -cat")).Order());
    }

    [Fact]
    public async Task SearchIndex_InvalidAfterAFailedBuild_MigrateBuildsItAgain()
    {
        await using var h = await ArchivedAsync(s => s[IndexOn] = "true");

        // What a CREATE INDEX CONCURRENTLY that failed half-way leaves behind: the index, marked invalid.
        await h.QueryAsync("UPDATE pg_index SET indisvalid = false WHERE indexrelid = $1::regclass", $"{h.TargetSchema}.messages_content_search_idx");
        var before = await h.ScalarAsync("SELECT $1::regclass::oid::bigint", $"{h.TargetSchema}.messages_content_search_idx");

        await h.Services.GetRequiredService<Migrator>().MigrateAsync(CancellationToken.None);

        Assert.NotEqual(before, await h.ScalarAsync("SELECT $1::regclass::oid::bigint", $"{h.TargetSchema}.messages_content_search_idx"));
        Assert.Equal(1L, await h.ScalarAsync("SELECT indisvalid::int FROM pg_index WHERE indexrelid = $1::regclass", $"{h.TargetSchema}.messages_content_search_idx"));
    }

    [Fact]
    public async Task SearchLanguage_German_Stems_Simple_DoesNot()
    {
        await using var simple = await ArchivedAsync();
        await using var german = await ArchivedAsync(s =>
        {
            s["Archive:SearchLanguage"] = "german";
            s[IndexOn] = "true";
        });

        // "Hunde" (plural) stems to the same lexeme as "Hund" in German; 'simple' only finds the exact word.
        Assert.Empty(await SearchAsync(simple, "Hunde"));
        Assert.Equal(["m-german"], Ids(await SearchAsync(german, "Hunde")));
        Assert.Equal(["m-german"], Ids(await SearchAsync(simple, "FUCHS")));

        var definition = await german.QueryAsync("SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'messages_content_search_idx'", german.TargetSchema);
        Assert.Contains("'german'::regconfig", (string)Assert.Single(definition)["indexdef"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Migrate_SearchLanguageChangedLater_RebuildsIndexAndFunction()
    {
        await using var h = await ArchivedAsync(s => s[IndexOn] = "true");
        Assert.Empty(await SearchAsync(h, "Hunde"));

        // The same archive, migrated again by a host configured with another language.
        await using var german = await ArchiveHarness.CreateAsync(s =>
        {
            Reuse(h, s, IndexOn, "true");
            s["Archive:SearchLanguage"] = "german";
        });

        Assert.Equal(["m-german"], Ids(await SearchAsync(h, "Hunde")));
        Assert.Equal("german", (await h.QueryAsync("SELECT value FROM {b}.settings WHERE key = 'search_language'"))[0]["value"]);
        var indexes = await h.QueryAsync("SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexdef LIKE '%to_tsvector%'", h.TargetSchema);
        Assert.Contains("'german'::regconfig", (string)Assert.Single(indexes)["indexdef"]!, StringComparison.Ordinal);

        // Grants survive the rebuild (CREATE OR REPLACE keeps them).
        var granted = await h.QueryAsync("SELECT has_function_privilege('authenticated', $1, 'EXECUTE') AS e", $"{h.TargetSchema}.search_messages(text, integer)");
        Assert.True((bool)granted[0]["e"]!);
    }

    [Fact]
    public async Task Migrate_Again_SameLanguageAndIndexPresent_LeavesTheIndexAlone()
    {
        await using var h = await ArchivedAsync(s => s[IndexOn] = "true");
        var before = await h.ScalarAsync("SELECT $1::regclass::oid::bigint", $"{h.TargetSchema}.messages_content_search_idx");

        await h.Services.GetRequiredService<Migrator>().MigrateAsync(CancellationToken.None);

        Assert.Equal(before, await h.ScalarAsync("SELECT $1::regclass::oid::bigint", $"{h.TargetSchema}.messages_content_search_idx"));
    }

    [Fact]
    public async Task Migrate_IndexOnButDropped_BuildsItAgain()
    {
        await using var h = await ArchivedAsync(s => s[IndexOn] = "true");
        await h.QueryAsync("DROP INDEX {t}.messages_content_search_idx");

        await h.Services.GetRequiredService<Migrator>().MigrateAsync(CancellationToken.None);

        var indexes = await h.QueryAsync("SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'messages_content_search_idx'", h.TargetSchema);
        Assert.Contains("to_tsvector('simple'::regconfig, COALESCE(content, ''::text))", (string)Assert.Single(indexes)["indexdef"]!, StringComparison.Ordinal);
        Assert.Equal(["m-fox", "m-fox-far"], Ids(await SearchAsync(h, "fox -cat")).Order());
    }

    /// <summary>The settings of <paramref name="h"/> (same servers, database and schemas) with one changed.</summary>
    private static void Reuse(ArchiveHarness h, Dictionary<string, string?> s, string key, string value)
    {
        foreach (var (k, v) in h.Settings)
        {
            s[k] = v;
        }

        s[key] = value;
    }

    private static async Task<List<string>> PlanAsync(ArchiveHarness h, string sql)
    {
        await using var connection = await h.DataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using (var off = new NpgsqlCommand("SET LOCAL enable_seqscan = off", connection, transaction))
        {
            await off.ExecuteNonQueryAsync();
        }

        await using var command = new NpgsqlCommand("EXPLAIN " + h.Schemas(sql), connection, transaction);
        await using var reader = await command.ExecuteReaderAsync();
        var lines = new List<string>();
        while (await reader.ReadAsync())
        {
            lines.Add(reader.GetString(0));
        }

        return lines;
    }

    /// <summary>Runs a multi-statement batch; returns the last row of the last statement that returned rows.</summary>
    private static async Task<long[]> LastRowAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await using var reader = await command.ExecuteReaderAsync();
        long[] last = [];
        do
        {
            while (await reader.ReadAsync())
            {
                last = [.. Enumerable.Range(0, reader.FieldCount).Select(i => reader.GetValue(i) is long n ? n : -1)];
            }
        }
        while (await reader.NextResultAsync());

        return last;
    }
}
