using NexusArchive.Core.Archiving;
using NexusArchive.Tests.Infrastructure;
using NexusArchive.Tests.Integration;

namespace NexusArchive.Tests.Security;

/// <summary>
/// Migration 0007's search function and analytics views as Supabase's roles use them (SET ROLE + request.jwt.claims,
/// as PostgREST does): Row Level Security decides the rows, nothing crosses users, anon gets nothing.
/// </summary>
public sealed class SearchAndAnalyticsSecurityTests
{
    private const string Authenticated = "authenticated";
    private const string ClaimsA = """{"sub":"u-A","role":"authenticated"}""";
    private const string ClaimsB = """{"sub":"u-B","role":"authenticated"}""";
    private static readonly string[] s_views = ["user_daily_usage", "model_daily_usage", "session_summary"];

    [Fact]
    public async Task SearchMessages_Authenticated_FindsOnlyOwnMessages()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await RowLevelSecurityTests.SeedTwoUsersAsync(h); // every message of both users reads "secret of u-…"
        Assert.Equal(RunStatus.Succeeded, (await h.RunAsync()).Status);

        var a = await RoleSql.QueryAsync(h, Authenticated, ClaimsA, "SELECT id FROM {t}.search_messages('secret') ORDER BY id");
        var b = await RoleSql.QueryAsync(h, Authenticated, ClaimsB, "SELECT id FROM {t}.search_messages('secret', 500) ORDER BY id");

        Assert.Equal(["u-A-m0", "u-A-m1", "u-A-m2", "u-A-m3", "u-A-m4"], a.Select(r => (string)r[0]!));
        Assert.Equal(["u-B-m0", "u-B-m1", "u-B-m2", "u-B-m3"], b.Select(r => (string)r[0]!));

        // Asking for words only the other user's messages hold finds nothing ("u-b" is a lexeme of B's messages only).
        Assert.Empty(await RoleSql.QueryAsync(h, Authenticated, ClaimsA, "SELECT id FROM {t}.search_messages('\"u-B\"')"));
        Assert.Empty(await RoleSql.QueryAsync(h, Authenticated, null, "SELECT id FROM {t}.search_messages('secret')"));
        Assert.Empty(await RoleSql.QueryAsync(h, Authenticated, """{"sub":"u-nobody"}""", "SELECT id FROM {t}.search_messages('secret')"));
    }

    [Fact]
    public async Task AnalyticsViews_Authenticated_AggregateOnlyOwnRows()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await AnalyticsViewsTests.SeedKnownDataSetAsync(h);
        const string U1 = """{"sub":"u-1"}""";
        const string U2 = """{"sub":"u-2"}""";

        Assert.Equal(["u-1 2025-03-01 3 1 115", "u-1 2025-03-02 3 2 250"],
            AnalyticsViewsTests.Lines(await RoleSql.QueryAsync(h, Authenticated, U1, "SELECT user_id, day::text, messages, sessions_started, tokens FROM {t}.user_daily_usage ORDER BY day")));
        Assert.Equal(["u-2 2025-03-01 2 1 77"],
            AnalyticsViewsTests.Lines(await RoleSql.QueryAsync(h, Authenticated, U2, "SELECT user_id, day::text, messages, sessions_started, tokens FROM {t}.user_daily_usage ORDER BY day")));

        // Per model: the caller's own messages only (u-2: m-7 without a model, m-8 gpt-4o).
        Assert.Equal(["- 2025-03-01 1 7", "gpt-4o 2025-03-01 1 70"],
            AnalyticsViewsTests.Lines(await RoleSql.QueryAsync(h, Authenticated, U2, "SELECT model, day::text, messages, tokens FROM {t}.model_daily_usage ORDER BY model NULLS FIRST, day")));
        Assert.Equal(["- 2025-03-01 2 15", "- 2025-03-02 1 0", "claude-3 2025-03-02 1 200", "gpt-4o 2025-03-01 1 100", "gpt-4o 2025-03-02 1 50"],
            AnalyticsViewsTests.Lines(await RoleSql.QueryAsync(h, Authenticated, U1, "SELECT model, day::text, messages, tokens FROM {t}.model_daily_usage ORDER BY model NULLS FIRST, day")));

        Assert.Equal(["s-1 4 165", "s-2 2 200", "s-4 0 0"],
            AnalyticsViewsTests.Lines(await RoleSql.QueryAsync(h, Authenticated, U1, "SELECT session_id, messages, tokens FROM {t}.session_summary ORDER BY session_id")));
        Assert.Empty(await RoleSql.QueryAsync(h, Authenticated, U1, "SELECT 1 FROM {t}.session_summary WHERE session_id = 's-3'"));

        // No claims: nothing in any view.
        foreach (var view in s_views)
        {
            Assert.Empty(await RoleSql.QueryAsync(h, Authenticated, null, $"SELECT 1 FROM {{t}}.{view}"));
        }
    }

    [Fact]
    public async Task Anon_CannotSearchNorReadViews()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await RowLevelSecurityTests.SeedTwoUsersAsync(h);
        await h.RunAsync();

        // In the tests' own schema anon lacks USAGE; on Supabase's public schema it has USAGE but neither EXECUTE nor
        // SELECT here. Either way: permission denied. Granting USAGE proves the object grants alone keep it out.
        await h.QueryAsync($"GRANT USAGE ON SCHEMA {h.TargetSchema} TO anon");
        Assert.Equal("42501", await RoleSql.FailureAsync(h, "anon", """{"sub":"u-A","role":"anon"}""", "SELECT * FROM {t}.search_messages('secret')"));
        foreach (var view in s_views)
        {
            Assert.Equal("42501", await RoleSql.FailureAsync(h, "anon", """{"sub":"u-A","role":"anon"}""", $"SELECT * FROM {{t}}.{view}"));
        }

        await h.QueryAsync($"REVOKE USAGE ON SCHEMA {h.TargetSchema} FROM anon");
    }

    [Fact]
    public async Task Grants_And_SecurityInvoker_AsMigration0007Declares()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        var function = $"{h.TargetSchema}.search_messages(text, integer)";

        // Every view in the archive schema runs with the caller's rights, or RLS would be the view owner's (none).
        var views = await h.QueryAsync(
            "SELECT c.relname::text AS name, coalesce('security_invoker=true' = ANY(c.reloptions), false) AS invoker FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'v' ORDER BY 1",
            h.TargetSchema);
        Assert.Equal(["model_daily_usage", "session_summary", "user_daily_usage"], views.Select(v => (string)v["name"]!));
        Assert.All(views, v => Assert.True((bool)v["invoker"]!, $"{v["name"]} is not security_invoker"));

        var definer = await h.QueryAsync("SELECT prosecdef, provolatile::text AS volatility, proconfig FROM pg_proc WHERE oid = $1::regprocedure", function);
        Assert.False((bool)definer[0]["prosecdef"]!);
        Assert.Equal("s", definer[0]["volatility"]);
        Assert.Equal(["search_path=\"\""], (string[])definer[0]["proconfig"]!);

        var privileges = await h.QueryAsync(
            """
            SELECT r AS role,
                   has_function_privilege(r, $1::regprocedure, 'EXECUTE') AS execute,
                   has_table_privilege(r, $2, 'SELECT') AS usage_view,
                   has_table_privilege(r, $3, 'SELECT') AS sessions_view
              FROM unnest(ARRAY['authenticated', 'service_role', 'anon', 'nexus_archiver']) r ORDER BY 1
            """,
            function, $"{h.TargetSchema}.user_daily_usage", $"{h.TargetSchema}.session_summary");
        Assert.Equal(
            ["anon False False False", "authenticated True True True", "nexus_archiver False False False", "service_role True True True"],
            privileges.Select(p => $"{p["role"]} {p["execute"]} {p["usage_view"]} {p["sessions_view"]}"));

        // Nothing is granted to PUBLIC (every role).
        var publicGrants = await h.QueryAsync(
            """
            SELECT count(*) AS n FROM (
                SELECT (aclexplode(proacl)).grantee FROM pg_proc WHERE oid = $1::regprocedure
                UNION ALL
                SELECT (aclexplode(c.relacl)).grantee FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $2 AND c.relkind = 'v') g
             WHERE grantee = 0
            """,
            function, h.TargetSchema);
        Assert.Equal(0L, publicGrants[0]["n"]);
    }

    [Fact]
    public async Task Authenticated_CannotWriteThroughTheViews()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await AnalyticsViewsTests.SeedKnownDataSetAsync(h);

        foreach (var view in s_views)
        {
            var state = await RoleSql.FailureAsync(h, Authenticated, """{"sub":"u-1"}""", $"DELETE FROM {{t}}.{view}");
            Assert.True(state is "42501" or "55000", $"{view}: {state}"); // no privilege, or not an updatable view
        }
    }
}
