using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Configuration;
using NexusArchive.Core.Diagnostics;
using NexusArchive.Core.Security;
using Npgsql;

namespace NexusArchive.Core.Sink;

/// <summary>One forward-only migration shipped in <c>Core/Sink/Migrations</c>.</summary>
public sealed record Migration(int Version, string Name, string Sql);

/// <summary>
/// Applies the embedded, versioned, forward-only migrations. Each runs in its own transaction together with
/// its row in <c>{bookkeeping}.schema_migrations</c>; an advisory lock keeps two migrators from racing.
/// </summary>
public sealed partial class Migrator
{
    private const long MigrationLockKey = 0x4E58_4D49_4752; // "NXMIGR"
    private const string SearchBlockBegin = "-- search-language: begin";
    private const string SearchBlockEnd = "-- search-language: end";


    /// <summary>The opt-in message search index (<c>Archive:SearchIndex</c>, docs/queries.md).</summary>
    internal const string SearchIndex = "messages_content_search_idx";

    /// <summary>
    /// The opt-in GIN index: exactly the expression <c>search_messages</c> (0007) filters on, so searches that bypass
    /// Row Level Security (service_role, the owner) use it. One statement: CONCURRENTLY refuses to run in a transaction.
    /// </summary>
    internal const string SearchIndexSql =
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS " + SearchIndex + " ON {{target}}.messages " +
        "USING gin (to_tsvector({{search_language}}::regconfig, coalesce(content, '')))";

    private readonly NpgsqlDataSource _dataSource;
    private readonly SchemaNames _schemas;
    private readonly IOptions<ArchiveOptions> _archive;
    private readonly IOptions<SecurityOptions> _security;
    private readonly ILogger<Migrator> _logger;

    internal Migrator(
        NpgsqlDataSource dataSource,
        SchemaNames schemas,
        IOptions<ArchiveOptions> archive,
        IOptions<SecurityOptions> security,
        ILogger<Migrator> logger)
    {
        _dataSource = dataSource;
        _schemas = schemas;
        _archive = archive;
        _security = security;
        _logger = logger;
    }

    [GeneratedRegex(@"^NexusArchive\.Migrations\.(\d{4})_([a-z0-9_]+)\.sql$")]
    private static partial Regex ResourceName();

    /// <summary>All shipped migrations in version order.</summary>
    public static IReadOnlyList<Migration> All { get; } = Load();

    /// <summary>Applies every migration not yet recorded; returns the versions applied now.</summary>
    public async Task<IReadOnlyList<int>> MigrateAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var applied = new List<int>();
        foreach (var migration in All)
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using (var prepare = new NpgsqlCommand(
                $"""
                SELECT pg_advisory_xact_lock({MigrationLockKey});
                CREATE SCHEMA IF NOT EXISTS {_schemas.Bookkeeping};
                CREATE TABLE IF NOT EXISTS {_schemas.Bookkeeping}.schema_migrations (
                    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
                """,
                connection,
                transaction))
            {
                await prepare.ExecuteNonQueryAsync(cancellationToken);
            }

            await using (var check = new NpgsqlCommand($"SELECT 1 FROM {_schemas.Bookkeeping}.schema_migrations WHERE version = $1", connection, transaction))
            {
                check.Parameters.Add(new() { Value = migration.Version });
                if (await check.ExecuteScalarAsync(cancellationToken) is not null)
                {
                    await transaction.RollbackAsync(cancellationToken);
                    continue;
                }
            }

            await using (var apply = new NpgsqlCommand(Render(migration.Sql), connection, transaction))
            {
                await apply.ExecuteNonQueryAsync(cancellationToken);
            }

            await using (var record = new NpgsqlCommand($"INSERT INTO {_schemas.Bookkeeping}.schema_migrations (version, name) VALUES ($1, $2)", connection, transaction))
            {
                record.Parameters.Add(new() { Value = migration.Version });
                record.Parameters.Add(new() { Value = migration.Name });
                await record.ExecuteNonQueryAsync(cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
            Log.MigrationApplied(_logger, migration.Version, migration.Name);
            applied.Add(migration.Version);
        }

        await WriteOwnerClaimAsync(connection, cancellationToken);
        await ApplySearchAsync(connection, cancellationToken);
        return applied;
    }

    /// <summary>Versions recorded as applied (empty when the bookkeeping schema does not exist yet).</summary>
    public async Task<IReadOnlyList<int>> GetAppliedAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var exists = new NpgsqlCommand("SELECT to_regclass($1) IS NOT NULL", connection);
        exists.Parameters.Add(new() { Value = _schemas.Bookkeeping + ".schema_migrations" });
        if (!(bool)(await exists.ExecuteScalarAsync(cancellationToken))!)
        {
            return [];
        }

        await using var query = new NpgsqlCommand($"SELECT version FROM {_schemas.Bookkeeping}.schema_migrations ORDER BY version", connection);
        await using var reader = await query.ExecuteReaderAsync(cancellationToken);
        var versions = new List<int>();
        while (await reader.ReadAsync(cancellationToken))
        {
            versions.Add(reader.GetInt32(0));
        }

        return versions;
    }

    /// <summary>Stores <c>Archive:Security:OwnerClaim</c> where the Row Level Security policies read it (migration 0002).</summary>
    private async Task WriteOwnerClaimAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var claim = _security.Value.OwnerClaim;
        await using var command = new NpgsqlCommand(
            $"""
            INSERT INTO {_schemas.Bookkeeping}.settings (key, value) VALUES ('owner_claim', $1)
            ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value WHERE settings.value IS DISTINCT FROM EXCLUDED.value
            """,
            connection);
        command.Parameters.Add(new() { Value = claim });
        if (await command.ExecuteNonQueryAsync(cancellationToken) > 0)
        {
            Log.OwnerClaimConfigured(_logger, claim);
        }
    }

    /// <summary>
    /// Brings message search in line with the settings after the migrations: runs the search-language block of the
    /// newest migration holding one (0007: <c>search_messages</c>) again when <c>Archive:SearchLanguage</c> differs from
    /// the configuration recorded in <c>{bookkeeping}.settings</c> (dropping an opt-in index built for the old one), then
    /// builds or drops the opt-in GIN index so that it exists exactly when <c>Archive:SearchIndex</c> is true.
    /// </summary>
    private async Task ApplySearchAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        if (SearchLanguageBlock(All) is not { } block)
        {
            return;
        }

        await ApplySearchLanguageAsync(connection, block, cancellationToken);
        await ApplySearchIndexAsync(connection, cancellationToken);
    }

    /// <summary>One transaction under the migration lock: replaces <c>search_messages</c> for a changed language.</summary>
    private async Task ApplySearchLanguageAsync(NpgsqlConnection connection, string block, CancellationToken cancellationToken)
    {
        var language = _archive.Value.SearchLanguage;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var lockCommand = new NpgsqlCommand($"SELECT pg_advisory_xact_lock({MigrationLockKey})", connection, transaction))
        {
            await lockCommand.ExecuteNonQueryAsync(cancellationToken);
        }

        string? previous;
        await using (var read = new NpgsqlCommand($"SELECT value FROM {_schemas.Bookkeeping}.settings WHERE key = 'search_language'", connection, transaction))
        {
            previous = await read.ExecuteScalarAsync(cancellationToken) as string;
        }

        if (previous == language)
        {
            await transaction.RollbackAsync(cancellationToken);
            return;
        }

        // An index built for another configuration would never match search_messages' expression again: drop it (quick,
        // it only removes the file); ApplySearchIndexAsync builds the new one if the setting asks for it.
        await using (var apply = new NpgsqlCommand($"DROP INDEX IF EXISTS {_schemas.Target}.{SearchIndex};\n" + Render(block), connection, transaction))
        {
            await apply.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        Log.SearchLanguageApplied(_logger, language, previous ?? "(none)");
    }

    /// <summary>
    /// Makes the opt-in GIN index exist (valid) when <c>Archive:SearchIndex</c> is true and not exist when it is false.
    /// <c>CREATE INDEX CONCURRENTLY</c> (and <c>DROP INDEX CONCURRENTLY</c>) run outside a transaction, so archive passes
    /// keep writing while the index is built; a build that failed half-way leaves an invalid index, which the next run
    /// drops and builds again. A session advisory lock of its own (one per target schema) keeps two migrators from building
    /// the same index at once: the one that does not get it leaves the work to the other (waiting on a lock would hold a
    /// snapshot the build waits for).
    /// </summary>
    private async Task ApplySearchIndexAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var wanted = _archive.Value.SearchIndex;
        // Per target schema: a migrator building another archive's index in the same database is no reason to skip this one.
        var lockKey = Bookkeeping.AdvisoryLockKey.For("search_index:" + _schemas.Target);
        await using (var tryLock = new NpgsqlCommand($"SELECT pg_try_advisory_lock({lockKey})", connection))
        {
            if (!(bool)(await tryLock.ExecuteScalarAsync(cancellationToken))!)
            {
                Log.SearchIndexBusy(_logger, wanted);
                return;
            }
        }

        try
        {
            bool? valid;
            await using (var read = new NpgsqlCommand("SELECT (SELECT indisvalid FROM pg_catalog.pg_index WHERE indexrelid = to_regclass($1))", connection))
            {
                read.Parameters.Add(new() { Value = $"{_schemas.Target}.{SearchIndex}" });
                valid = await read.ExecuteScalarAsync(cancellationToken) as bool?;
            }

            if (valid is not null && (!wanted || valid == false))
            {
                await ExecuteUnboundedAsync(connection, $"DROP INDEX CONCURRENTLY IF EXISTS {_schemas.Target}.{SearchIndex}", cancellationToken);
                if (!wanted)
                {
                    Log.SearchIndexDropped(_logger);
                    return;
                }
            }

            if (wanted && valid != true)
            {
                var started = Stopwatch.GetTimestamp();
                await ExecuteUnboundedAsync(connection, Render(SearchIndexSql), cancellationToken);
                Log.SearchIndexBuilt(_logger, _archive.Value.SearchLanguage, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        }
        finally
        {
            // A connection broken mid-build has lost its session locks already; only an open one must give it back.
            if (connection.State == System.Data.ConnectionState.Open)
            {
                await using var unlock = new NpgsqlCommand($"SELECT pg_advisory_unlock({lockKey})", connection);
                await unlock.ExecuteNonQueryAsync(CancellationToken.None);
            }
        }
    }

    private static async Task ExecuteUnboundedAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.CommandTimeout = 0; // building the index reads and parses every message
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The text between the search-language markers of the newest migration that has them (null when none has).</summary>
    internal static string? SearchLanguageBlock(IReadOnlyList<Migration> migrations)
    {
        foreach (var migration in migrations.OrderByDescending(m => m.Version))
        {
            var begin = migration.Sql.IndexOf(SearchBlockBegin, StringComparison.Ordinal);
            var end = migration.Sql.IndexOf(SearchBlockEnd, StringComparison.Ordinal);
            if (begin >= 0 && end > begin)
            {
                return migration.Sql[begin..end];
            }
        }

        return null;
    }

    private string Render(string sql) =>
        sql.Replace("{{target}}", _schemas.Target, StringComparison.Ordinal)
           .Replace("{{bookkeeping}}", _schemas.Bookkeeping, StringComparison.Ordinal)
           .Replace("{{search_language}}", SearchLanguages.Literal(_archive.Value.SearchLanguage), StringComparison.Ordinal);

    private static List<Migration> Load()
    {
        var assembly = typeof(Migrator).Assembly;
        var migrations = new List<Migration>();
        foreach (var name in assembly.GetManifestResourceNames())
        {
            var match = ResourceName().Match(name);
            if (!match.Success)
            {
                continue;
            }

            using var stream = assembly.GetManifestResourceStream(name)!;
            using var reader = new StreamReader(stream);
            migrations.Add(new Migration(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), match.Groups[2].Value, reader.ReadToEnd()));
        }

        return [.. migrations.OrderBy(m => m.Version)];
    }
}
