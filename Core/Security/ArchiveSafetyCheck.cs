using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Sink;
using Npgsql;

namespace NexusArchive.Core.Security;

/// <summary>
/// Runs before every pass (unless <c>Archive:Security:SafetyCheck</c> is false) and refuses to archive when
/// Row Level Security is disabled on an archive table, or when the connected role can read Supabase's
/// <c>auth</c> schema secrets — a sign the archiver runs with an admin's credentials instead of its own role.
/// </summary>
internal interface IArchiveSafetyCheck
{
    /// <summary>Verifies the database; throws <see cref="ArchiveSafetyException"/> naming every problem found.</summary>
    Task VerifyAsync(CancellationToken cancellationToken);
}

/// <summary>The real check against PostgreSQL's catalogs (see <see cref="IArchiveSafetyCheck"/>).</summary>
internal sealed class ArchiveSafetyCheck(
    EntityCatalog entities,
    NpgsqlDataSource dataSource,
    SchemaNames schemas,
    IOptions<SecurityOptions> options,
    ILogger<ArchiveSafetyCheck> logger) : IArchiveSafetyCheck
{
    /// <summary>The <c>auth</c> tables holding credentials, sessions and tokens on Supabase.</summary>
    public static IReadOnlyList<string> AuthSecretTables { get; } =
        ["users", "identities", "sessions", "refresh_tokens", "mfa_factors", "one_time_tokens"];

    /// <summary>Verifies the database; throws <see cref="ArchiveSafetyException"/> naming every problem found.</summary>
    public async Task VerifyAsync(CancellationToken cancellationToken)
    {
        if (!options.Value.SafetyCheck)
        {
            Log.SafetyCheckDisabled(logger);
            return;
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand("SELECT current_user::text, r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r WHERE r.rolname = current_user"),
                // Archive tables that exist with RLS off (a missing table is the migrator's concern, not a leak).
                new NpgsqlBatchCommand(
                    """
                    SELECT c.relname::text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = $1 AND c.relname = ANY($2) AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity
                     ORDER BY 1
                    """)
                {
                    Parameters =
                    {
                        new() { Value = schemas.TargetName },
                        new() { Value = entities.All.Select(e => e.Table).ToArray() },
                    },
                },
                // auth tables the connected role may read (any column).
                new NpgsqlBatchCommand(
                    """
                    SELECT c.relname::text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = 'auth' AND c.relname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm')
                       AND pg_catalog.has_any_column_privilege(c.oid, 'SELECT')
                     ORDER BY 1
                    """)
                {
                    Parameters = { new() { Value = AuthSecretTables.ToArray() } },
                },
            },
        };

        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var role = reader.GetString(0);
        var bypasses = reader.GetBoolean(1);
        await reader.NextResultAsync(cancellationToken);
        var withoutRls = new List<string>();
        while (await reader.ReadAsync(cancellationToken))
        {
            withoutRls.Add(reader.GetString(0));
        }

        await reader.NextResultAsync(cancellationToken);
        var readableAuth = new List<string>();
        while (await reader.ReadAsync(cancellationToken))
        {
            readableAuth.Add(reader.GetString(0));
        }

        var problems = new List<string>();
        if (withoutRls.Count > 0)
        {
            problems.Add($"Row Level Security is disabled on {string.Join(", ", withoutRls.Select(t => schemas.TargetName + "." + t))} (run 'migrate', or ALTER TABLE … ENABLE ROW LEVEL SECURITY)");
        }

        if (readableAuth.Count > 0)
        {
            problems.Add($"role {role} can read auth schema secrets ({string.Join(", ", readableAuth.Select(t => "auth." + t))}): connect as nexus_archiver or a login role that is a member of it");
        }

        if (problems.Count > 0)
        {
            var text = string.Join("; ", problems);
            Log.SafetyCheckFailed(logger, role, text);
            throw new ArchiveSafetyException(
                $"Refusing to archive: {text}. See docs/security.md; Archive:Security:SafetyCheck=false disables this check.");
        }

        if (bypasses)
        {
            Log.RoleBypassesRls(logger, role);
        }

        Log.SafetyCheckPassed(logger, schemas.TargetName, role);
    }
}
