using System.Runtime.CompilerServices;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Resilience;
using NexusArchive.Core.Sink;
using Npgsql;

namespace NexusArchive.Core.Verification;

/// <summary>
/// Reads archive rows as the <see cref="ArchiveRow"/> <see cref="Mapping.RecordMapper"/> produces, so a row and a
/// mapped Redis record can be hashed and compared alike.
/// </summary>
internal static class ArchivedRows
{
    /// <summary>The column list in descriptor order, then <c>extra</c>, for SELECT text.</summary>
    public static string ColumnList(EntityDescriptor entity) =>
        string.Join(", ", entity.Columns.Select(c => c.Column).Append("extra"));

    /// <summary>The quoted table name.</summary>
    public static string Table(EntityDescriptor entity, SchemaNames schemas) => $"{schemas.Target}.{entity.Table}";

    /// <summary>Reads the current row (selected with <see cref="ColumnList"/>) starting at ordinal <paramref name="offset"/>.</summary>
    public static ArchiveRow Read(NpgsqlDataReader reader, EntityDescriptor entity, int offset = 0)
    {
        var columns = entity.Columns;
        var values = new object?[columns.Count + 1];
        for (var i = 0; i < columns.Count; i++)
        {
            var ordinal = offset + i;
            values[i] = reader.IsDBNull(ordinal) ? null : columns[i].Kind switch
            {
                ColumnKind.Timestamp => reader.GetFieldValue<DateTime>(ordinal),
                ColumnKind.Integer => reader.GetInt64(ordinal),
                _ => reader.GetString(ordinal),
            };
        }

        var extra = offset + columns.Count;
        values[columns.Count] = reader.IsDBNull(extra) ? null : reader.GetString(extra);
        return new ArchiveRow(entity, values);
    }

    /// <summary>
    /// Streams the archived rows of one entity within a scope in id order, one keyset page at a time
    /// (<c>WHERE id &gt; last ORDER BY id LIMIT n</c>): memory stays one page however large the archive.
    /// <paramref name="whereSql"/> narrows the rows further (a boolean SQL expression over the unaliased table).
    /// </summary>
    public static IAsyncEnumerable<List<ArchiveRow>> PagesAsync(
        PostgresAccess postgres,
        EntityDescriptor entity,
        ArchiveScope scope,
        int batchSize,
        CancellationToken cancellationToken,
        string? whereSql = null) =>
        KeysetPagesAsync(postgres, entity, scope, batchSize, ColumnList(entity), whereSql, reader => Read(reader, entity), row => row.Id, cancellationToken);

    /// <summary>
    /// Like <see cref="PagesAsync"/>, but each row is only its id and <paramref name="flagSql"/> (a boolean SQL
    /// expression over the table) evaluated for it.
    /// </summary>
    public static IAsyncEnumerable<List<(string Id, bool Flag)>> FlaggedIdPagesAsync(
        PostgresAccess postgres,
        EntityDescriptor entity,
        ArchiveScope scope,
        int batchSize,
        string flagSql,
        CancellationToken cancellationToken) =>
        KeysetPagesAsync<(string Id, bool Flag)>(
            postgres, entity, scope, batchSize, $"id, {flagSql}", null, reader => (reader.GetString(0), reader.GetBoolean(1)), row => row.Id, cancellationToken);

    private static async IAsyncEnumerable<List<T>> KeysetPagesAsync<T>(
        PostgresAccess postgres,
        EntityDescriptor entity,
        ArchiveScope scope,
        int batchSize,
        string columns,
        string? whereSql,
        Func<NpgsqlDataReader, T> read,
        Func<T, string> idOf,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var sql = $"SELECT {columns} FROM {Table(entity, postgres.Schemas)} WHERE id > $1 AND {scope.SqlFilter(entity, postgres.Schemas, "$3")}"
            + (whereSql is null ? string.Empty : $" AND {whereSql}") + " ORDER BY id LIMIT $2";
        var last = string.Empty;
        while (true)
        {
            // Each page is one read, retried as a whole through the nexus-postgres pipeline.
            var after = last;
            var rows = await postgres.Calls.RunAsync(ct => ReadPageAsync(after, ct), cancellationToken);

            if (rows.Count == 0)
            {
                yield break;
            }

            yield return rows;
            if (rows.Count < batchSize)
            {
                yield break;
            }

            last = idOf(rows[^1]);
        }

        async Task<List<T>> ReadPageAsync(string after, CancellationToken ct)
        {
            var rows = new List<T>(batchSize);
            await using var command = postgres.DataSource.CreateCommand(sql);
            command.Parameters.Add(new() { Value = after });
            command.Parameters.Add(new() { Value = batchSize });
            command.Parameters.Add(new() { Value = (object?)scope.Id ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                rows.Add(read(reader));
            }

            return rows;
        }
    }
}
