using NexusArchive.Core.Entities;
using Npgsql;

namespace NexusArchive.Core.Sink;

/// <summary>
/// How much disk each archive table and its indexes take now: PostgreSQL's own size functions over the catalog (no
/// table is read, and no privilege on the table is needed), cheap enough for every status call.
/// </summary>
internal sealed class ArchiveTableSizes(NpgsqlDataSource dataSource, SchemaNames schemas, EntityCatalog catalog)
{
    /// <summary>
    /// Per entity: the table's bytes (heap, TOAST, free-space and visibility maps: <c>pg_table_size</c>) and its indexes'
    /// bytes (<c>pg_indexes_size</c>); 0 for a table that does not exist (not migrated).
    /// </summary>
    public async Task<IReadOnlyDictionary<string, TableSize>> ReadAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            """
            SELECT t.name, coalesce(pg_table_size(to_regclass(t.qualified)), 0), coalesce(pg_indexes_size(to_regclass(t.qualified)), 0)
              FROM unnest($1::text[], $2::text[]) AS t(name, qualified)
            """);
        command.Parameters.Add(new() { Value = catalog.All.Select(e => e.Name).ToArray() });
        command.Parameters.Add(new() { Value = catalog.All.Select(e => $"{schemas.Target}.{e.Table}").ToArray() });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var sizes = new Dictionary<string, TableSize>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            sizes[reader.GetString(0)] = new TableSize(reader.GetInt64(1), reader.GetInt64(2));
        }

        return sizes;
    }
}

/// <summary>An archive table's disk use: the table itself and all its indexes, in bytes.</summary>
internal sealed record TableSize(long TableBytes, long IndexBytes);
