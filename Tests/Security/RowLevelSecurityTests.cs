using System.Globalization;
using NexusArchive.Core.Archiving;
using NexusArchive.Core.Entities;
using NexusArchive.Tests.Infrastructure;
using Npgsql;

namespace NexusArchive.Tests.Security;

/// <summary>Row Level Security and grants of migration 0002, checked with real roles on the real server.</summary>
public sealed class RowLevelSecurityTests
{
    private const string Authenticated = "authenticated";
    private const string ClaimsA = """{"sub":"u-A","role":"authenticated"}""";
    private static readonly string[] s_tables = ["users", "chat_sessions", "messages", "attachment_refs"];

    /// <summary>Two users' data: A owns 1 user row, 3 sessions, 5 messages, 2 attachments; B owns 1, 2, 4, 1.</summary>
    internal static async Task SeedTwoUsersAsync(ArchiveHarness h)
    {
        var t = await h.RedisNowMsAsync() - 60_000;
        var created = t.ToString(CultureInfo.InvariantCulture);
        foreach (var (user, sessions, messages, attachments) in new[] { ("u-A", 3, 5, 2), ("u-B", 2, 4, 1) })
        {
            await h.WriteAsync(EntityCatalog.User, user, t, ("email", $"{user}@example.test"), ("createdAt", created));
            for (var i = 0; i < sessions; i++)
            {
                await h.WriteAsync(EntityCatalog.Session, $"{user}-s{i}", t, ("userId", user), ("title", "chat"), ("createdAt", created));
            }

            for (var i = 0; i < messages; i++)
            {
                await h.WriteMessageAsync($"{user}-m{i}", t, content: $"secret of {user}", session: $"{user}-s0", user: user);
            }

            for (var i = 0; i < attachments; i++)
            {
                await h.WriteAsync(EntityCatalog.Attachment, $"{user}-a{i}", t, ("messageId", $"{user}-m0"), ("userId", user), ("fileName", "f.txt"), ("createdAt", created));
            }
        }
    }

    [Fact]
    public async Task Authenticated_UserA_SeesExactlyOwnRowsInAllFourTables()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await SeedTwoUsersAsync(h);
        Assert.Equal(RunStatus.Succeeded, (await h.RunAsync()).Status);

        var expected = new Dictionary<string, long> { ["users"] = 1, ["chat_sessions"] = 3, ["messages"] = 5, ["attachment_refs"] = 2 };
        foreach (var table in s_tables)
        {
            var ownerColumn = table == "users" ? "id" : "user_id";
            var rows = await RoleSql.QueryAsync(h, Authenticated, ClaimsA, $"SELECT count(*), count(*) FILTER (WHERE {ownerColumn} <> 'u-A') FROM {{t}}.{table}");
            Assert.Equal(expected[table], (long)rows[0][0]!);
            Assert.Equal(0L, (long)rows[0][1]!);
        }

        // Spot checks: A's row is there with its content, B's row is invisible even when asked for by id.
        var own = await RoleSql.QueryAsync(h, Authenticated, ClaimsA, "SELECT content FROM {t}.messages WHERE id = 'u-A-m3'");
        Assert.Equal("secret of u-A", Assert.Single(own)[0]);
        Assert.Empty(await RoleSql.QueryAsync(h, Authenticated, ClaimsA, "SELECT 1 FROM {t}.messages WHERE id = 'u-B-m0'"));
        Assert.Empty(await RoleSql.QueryAsync(h, Authenticated, ClaimsA, "SELECT 1 FROM {t}.users WHERE id = 'u-B'"));
        Assert.Single(await RoleSql.QueryAsync(h, Authenticated, """{"sub":"u-B"}""", "SELECT 1 FROM {t}.users WHERE id = 'u-B'"));

        // No claims at all: nothing.
        foreach (var table in s_tables)
        {
            Assert.Empty(await RoleSql.QueryAsync(h, Authenticated, null, $"SELECT 1 FROM {{t}}.{table}"));
        }
    }

    [Fact]
    public async Task Authenticated_CannotWriteAnyTableNorSeeBookkeeping()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await SeedTwoUsersAsync(h);
        await h.RunAsync();

        foreach (var table in s_tables)
        {
            var ownerColumn = table == "users" ? "id" : "user_id";
            Assert.Equal("42501", await RoleSql.FailureAsync(h, Authenticated, ClaimsA, $"UPDATE {{t}}.{table} SET extra = '{{}}' WHERE {ownerColumn} = 'u-A'"));
            Assert.Equal("42501", await RoleSql.FailureAsync(h, Authenticated, ClaimsA, $"DELETE FROM {{t}}.{table} WHERE {ownerColumn} = 'u-A'"));
            Assert.Equal("42501", await RoleSql.FailureAsync(h, Authenticated, ClaimsA, $"TRUNCATE {{t}}.{table}"));
        }

        Assert.Equal("42501", await RoleSql.FailureAsync(h, Authenticated, ClaimsA,
            "INSERT INTO {t}.users (id, created_at, updated_at) VALUES ('u-A2', now(), now())"));
        Assert.Equal("42501", await RoleSql.FailureAsync(h, Authenticated, ClaimsA,
            "INSERT INTO {t}.messages (id, session_id, user_id, role, created_at, updated_at) VALUES ('x', 's', 'u-A', 'user', now(), now())"));

        foreach (var table in new[] { "runs", "checkpoints", "dead_letters", "schema_migrations", "settings" })
        {
            Assert.Equal("42501", await RoleSql.FailureAsync(h, Authenticated, ClaimsA, $"SELECT * FROM {{b}}.{table}"));
        }

        foreach (var role in new[] { Authenticated, "anon" })
        {
            var privileges = await h.QueryAsync("SELECT has_schema_privilege($1, $2, 'USAGE') AS usage, has_schema_privilege($1, $2, 'CREATE') AS create", role, h.BookkeepingSchema);
            Assert.False((bool)privileges[0]["usage"]!);
            Assert.False((bool)privileges[0]["create"]!);
        }

        // Every archive table has RLS on; the bookkeeping tables too.
        var withoutRls = await h.QueryAsync(
            "SELECT n.nspname || '.' || c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY($1) AND c.relkind = 'r' AND NOT c.relrowsecurity AND c.relname <> 'schema_migrations'",
            (object)new[] { h.TargetSchema, h.BookkeepingSchema });
        Assert.Empty(withoutRls);
    }

    [Fact]
    public async Task Anon_SeesNothing()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await SeedTwoUsersAsync(h);
        await h.RunAsync();

        foreach (var table in s_tables)
        {
            Assert.Equal("42501", await RoleSql.FailureAsync(h, "anon", """{"sub":"u-A","role":"anon"}""", $"SELECT * FROM {{t}}.{table}"));
            Assert.Equal("42501", await RoleSql.FailureAsync(h, "anon", null, $"INSERT INTO {{t}}.{table} DEFAULT VALUES"));
        }

        Assert.Equal("42501", await RoleSql.FailureAsync(h, "anon", null, "SELECT * FROM {b}.runs"));
    }

    [Fact]
    public async Task OwnerClaim_Configured_PoliciesUseThatClaim()
    {
        await using var h = await ArchiveHarness.CreateAsync(s => s["Archive:Security:OwnerClaim"] = "nexus_uid");
        await SeedTwoUsersAsync(h);
        await h.RunAsync();

        Assert.Equal("nexus_uid", (await h.QueryAsync("SELECT value FROM {b}.settings WHERE key = 'owner_claim'"))[0]["value"]);
        var claims = """{"sub":"auth0|someone-else","nexus_uid":"u-B"}""";
        var rows = await RoleSql.QueryAsync(h, Authenticated, claims, "SELECT id FROM {t}.chat_sessions ORDER BY id");
        Assert.Equal(["u-B-s0", "u-B-s1"], rows.Select(r => (string)r[0]!));
        Assert.Empty(await RoleSql.QueryAsync(h, Authenticated, ClaimsA, "SELECT 1 FROM {t}.messages"));
    }

    [Fact]
    public async Task Archiver_LoginRoleMember_ArchivesButCannotDropAlterTruncateOrDelete()
    {
        await using var admin = await ArchiveHarness.CreateAsync();
        await SeedTwoUsersAsync(admin);
        var archiverConnection = await RoleSql.CreateLoginAsync(TestServers.Instance.PostgresAdminConnectionString, "nexus_archiver", "archiver-pw");
        await using var archiver = await admin.SameArchiveAsync(archiverConnection);

        var run = await archiver.RunAsync();

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.Equal(9, await admin.CountAsync("messages"));
        Assert.Equal(3, await admin.CountAsync("attachment_refs"));
        Assert.Equal("archiver", await ScalarAsync(archiver, "SELECT CASE WHEN pg_has_role(current_user, 'nexus_archiver', 'MEMBER') THEN 'archiver' END"));

        foreach (var sql in new[]
        {
            "DROP TABLE {t}.messages",
            "ALTER TABLE {t}.messages DISABLE ROW LEVEL SECURITY",
            "ALTER TABLE {t}.users ADD COLUMN evil text",
            "DROP POLICY archiver_all ON {t}.users",
            "TRUNCATE {t}.chat_sessions",
            "DELETE FROM {t}.messages",
            "DROP TABLE {b}.runs",
            "CREATE TABLE {t}.evil (id int)",
            "CREATE SCHEMA evil_schema",
        })
        {
            var ex = await Assert.ThrowsAsync<PostgresException>(() => ScalarAsync(archiver, sql));
            Assert.True(ex.SqlState == "42501", $"{sql}: {ex.SqlState} {ex.MessageText}");
        }

        Assert.Equal(9, await admin.CountAsync("messages"));
    }

    private static async Task<string?> ScalarAsync(ArchiveHarness h, string sql)
    {
        await using var command = h.DataSource.CreateCommand(h.Schemas(sql));
        return (await command.ExecuteScalarAsync())?.ToString();
    }
}
