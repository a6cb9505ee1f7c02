using NexusArchive.Tests.Infrastructure;
using Npgsql;

namespace NexusArchive.Tests.Security;

/// <summary>Runs SQL as a database role the way PostgREST/Supabase does: SET LOCAL ROLE plus request.jwt.claims.</summary>
internal static class RoleSql
{
    /// <summary>Runs <paramref name="sql"/> as <paramref name="role"/> with <paramref name="claims"/> (JSON) in a rolled-back transaction.</summary>
    public static async Task<List<object?[]>> QueryAsync(ArchiveHarness h, string role, string? claims, string sql)
    {
        await using var connection = await h.DataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using (var setup = new NpgsqlCommand("SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true)", connection, transaction))
        {
            setup.Parameters.Add(new() { Value = role });
            setup.Parameters.Add(new() { Value = claims ?? string.Empty });
            await setup.ExecuteNonQueryAsync();
        }

        await using var command = new NpgsqlCommand(h.Schemas(sql), connection, transaction);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<object?[]>();
        while (await reader.ReadAsync())
        {
            var row = new object?[reader.FieldCount];
            for (var i = 0; i < row.Length; i++)
            {
                row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            }

            rows.Add(row);
        }

        return rows;
    }

    /// <summary>Runs <paramref name="sql"/> as <paramref name="role"/> and returns the SQLSTATE it fails with (null when it succeeds).</summary>
    public static async Task<string?> FailureAsync(ArchiveHarness h, string role, string? claims, string sql)
    {
        try
        {
            await QueryAsync(h, role, claims, sql);
            return null;
        }
        catch (PostgresException ex)
        {
            return ex.SqlState;
        }
    }

    /// <summary>Creates a LOGIN role with a password that is a member of <paramref name="memberOf"/>; returns its connection string.</summary>
    public static async Task<string> CreateLoginAsync(string adminConnectionString, string memberOf, string password)
    {
        var name = $"login_{Environment.ProcessId}_{Guid.NewGuid().ToString("N")[..8]}";
        await using var connection = new NpgsqlConnection(adminConnectionString);
        await connection.OpenAsync();
        // Role names cannot be parameters; both are generated or fixed identifiers here. The group role may not exist
        // yet when this test is the first to run (migration 0002 creates it the same guarded way).
        await using (var ensure = new NpgsqlCommand(
            $"DO $$ BEGIN CREATE ROLE \"{memberOf}\" NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$", connection))
        {
            await ensure.ExecuteNonQueryAsync();
        }

        await using (var create = new NpgsqlCommand($"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}' IN ROLE \"{memberOf}\"", connection))
        {
            await create.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(adminConnectionString) { Username = name, Password = password }.ConnectionString;
    }
}
