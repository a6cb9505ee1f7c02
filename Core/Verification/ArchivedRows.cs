using NexusArchive.Core.Entities;
using NexusArchive.Core.Sink;
using Npgsql;

namespace NexusArchive.Core.Verification;

/// <summary>
/// Reads archive rows into the same value shape <see cref="Mapping.RecordMapper"/> produces (one value per
/// descriptor column, then <c>extra</c>), so a row and a mapped Redis record can be hashed and compared alike.
/// </summary>
internal static class ArchivedRows
{
    /// <summary>The column list in descriptor order, then <c>extra</c>, for SELECT text.</summary>
    public static string ColumnList(EntityDescriptor entity) =>
        string.Join(", ", entity.Columns.Select(c => c.Column).Append("extra"));

    /// <summary>The quoted table name.</summary>
    public static string Table(EntityDescriptor entity, SchemaNames schemas) => $"{schemas.Target}.{entity.Table}";

    /// <summary>Reads the current row (selected with <see cref="ColumnList"/>) starting at ordinal <paramref name="offset"/>.</summary>
    public static object?[] Read(NpgsqlDataReader reader, EntityDescriptor entity, int offset = 0)
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
        return values;
    }

    /// <summary>Position of a column in the value array (e.g. <c>updated_at</c>).</summary>
    public static int IndexOf(EntityDescriptor entity, string column)
    {
        for (var i = 0; i < entity.Columns.Count; i++)
        {
            if (entity.Columns[i].Column == column)
            {
                return i;
            }
        }

        return -1;
    }
}
