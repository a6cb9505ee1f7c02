using NexusArchive.Core.Archiving;
using NexusArchive.Core.Security;
using NexusArchive.Tests.Infrastructure;
using Npgsql;

namespace NexusArchive.Tests.Security;

/// <summary>The pre-pass safety check: refuses to archive into tables without RLS or with a role that can read auth secrets.</summary>
public sealed class SafetyCheckTests
{
    [Fact]
    public async Task Run_RlsDisabledOnATargetTable_RefusesWithClearMessageAndWritesNothing()
    {
        await using var h = await ArchiveHarness.CreateAsync();
        await RowLevelSecurityTests.SeedTwoUsersAsync(h);
        await h.QueryAsync("ALTER TABLE {t}.messages DISABLE ROW LEVEL SECURITY");

        var run = await h.RunAsync();

        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.Contains($"Row Level Security is disabled on {h.TargetSchema}.messages", run.Error);
        Assert.Contains("Archive:Security:SafetyCheck", run.Error);
        Assert.Equal(0, await h.CountAsync("users"));
        Assert.Equal(0, await h.CountAsync("messages"));
        var history = await h.QueryAsync("SELECT status, error FROM {b}.runs WHERE run_id = $1", run.RunId);
        Assert.Equal("Failed", history[0]["status"]);
        Assert.Contains("Refusing to archive", (string)history[0]["error"]!);
    }

    [Fact]
    public async Task Run_SafetyCheckDisabled_ArchivesDespiteRlsOff()
    {
        await using var h = await ArchiveHarness.CreateAsync(s => s["Archive:Security:SafetyCheck"] = "false");
        await RowLevelSecurityTests.SeedTwoUsersAsync(h);
        await h.QueryAsync("ALTER TABLE {t}.messages DISABLE ROW LEVEL SECURITY");

        var run = await h.RunAsync();

        Assert.Equal(RunStatus.Succeeded, run.Status);
        Assert.Equal(9, await h.CountAsync("messages"));
    }

    [Fact]
    public async Task Run_RoleCanReadAuthUsers_Refuses_ArchiverRoleWithoutThatGrantRuns()
    {
        // Own database: an auth.users table here must not affect the other tests' shared database.
        var adminConnection = TestServers.Instance.CreateDatabase("authusers");
        await using (var connection = new NpgsqlConnection(adminConnection))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("CREATE SCHEMA auth; CREATE TABLE auth.users (id uuid PRIMARY KEY, encrypted_password text)", connection);
            await command.ExecuteNonQueryAsync();
        }

        await using var admin = await ArchiveHarness.CreateAsync(s => s["ConnectionStrings:Postgres"] = adminConnection);
        await RowLevelSecurityTests.SeedTwoUsersAsync(admin);

        // The admin (a superuser here, like the postgres role on Supabase) can read auth.users: refused.
        var asAdmin = await admin.RunAsync();
        Assert.Equal(RunStatus.Failed, asAdmin.Status);
        Assert.Contains("can read auth schema secrets (auth.users)", asAdmin.Error);
        Assert.Equal(0, await admin.CountAsync("messages"));

        // The least-privilege archiver cannot: it runs.
        var archiverConnection = new NpgsqlConnectionStringBuilder(await RoleSql.CreateLoginAsync(adminConnection, "nexus_archiver", "pw-1")) { Database = new NpgsqlConnectionStringBuilder(adminConnection).Database }.ConnectionString;
        await using var archiver = await admin.SameArchiveAsync(archiverConnection);
        var asArchiver = await archiver.RunAsync();
        Assert.True(asArchiver.Status == RunStatus.Succeeded, asArchiver.Error);
        Assert.Equal(9, await admin.CountAsync("messages"));

        // Someone grants the archiver SELECT on auth.users: refused again.
        await admin.QueryAsync("GRANT USAGE ON SCHEMA auth TO nexus_archiver; GRANT SELECT (id) ON auth.users TO nexus_archiver");
        var afterGrant = await archiver.RunAsync();
        Assert.Equal(RunStatus.Failed, afterGrant.Status);
        Assert.Contains("can read auth schema secrets (auth.users)", afterGrant.Error);
        Assert.Contains(nameof(ArchiveSafetyException), afterGrant.Error);
    }
}
