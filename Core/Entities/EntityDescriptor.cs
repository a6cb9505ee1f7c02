namespace NexusArchive.Core.Entities;

/// <summary>
/// Everything the generic pipeline needs to know about one archived entity: where it lives in Redis,
/// which table it lands in and how each field maps. Adding an entity means one descriptor in
/// <see cref="EntityCatalog"/> and one migration that creates its table.
/// </summary>
public sealed class EntityDescriptor
{
    /// <summary>Columns every entity has, in this order, ahead of its own columns.</summary>
    internal static readonly IReadOnlyList<ColumnDescriptor> CommonLeadingColumns =
    [
        new("id", "id", ColumnKind.Text, Required: true),
    ];

    /// <summary>Columns every entity has, after its own columns.</summary>
    internal static readonly IReadOnlyList<ColumnDescriptor> CommonTrailingColumns =
    [
        new("createdAt", "created_at", ColumnKind.Timestamp, Required: true),
        new("updatedAt", "updated_at", ColumnKind.Timestamp, Required: true),
        new("deletedAt", "deleted_at", ColumnKind.Timestamp),
    ];

    private readonly byte[][] _fieldNamesUtf8;

    public EntityDescriptor(
        string name,
        string table,
        int order,
        IReadOnlyList<ColumnDescriptor> ownColumns,
        IReadOnlyDictionary<string, string>? parents = null)
    {
        Name = name;
        Table = table;
        Order = order;
        Columns = [.. CommonLeadingColumns, .. ownColumns, .. CommonTrailingColumns];
        Parents = parents ?? new Dictionary<string, string>();
        _fieldNamesUtf8 = [.. Columns.Select(c => System.Text.Encoding.UTF8.GetBytes(c.Field))];
        FieldIndex = Columns.Select((column, index) => (column.Field, index)).ToDictionary(x => x.Field, x => x.index, StringComparer.Ordinal);
        UpdatedAtOrdinal = FieldIndex["updatedAt"];
        DeletedAtOrdinal = FieldIndex["deletedAt"];
    }

    /// <summary>The entity's name in Redis keys and configuration: <c>user</c>, <c>session</c>, …</summary>
    public string Name { get; }

    /// <summary>The archive table in the target schema.</summary>
    public string Table { get; }

    /// <summary>Dependency order: parents are archived before children.</summary>
    public int Order { get; }

    /// <summary>Mapped columns in table order (id first, timestamps last). <c>extra</c> and <c>archived_at</c> are implicit.</summary>
    public IReadOnlyList<ColumnDescriptor> Columns { get; }

    /// <summary>
    /// Column → parent entity name. Scopes (verify and restore of one user or session) follow these paths: a record is in a
    /// user's scope when a parent column names the user or a parent record in that scope.
    /// </summary>
    public IReadOnlyDictionary<string, string> Parents { get; }

    /// <summary>Field name → position in <see cref="Columns"/>.</summary>
    internal IReadOnlyDictionary<string, int> FieldIndex { get; }

    /// <summary>Position in <see cref="Columns"/> of <c>updated_at</c> (one of <see cref="CommonTrailingColumns"/>).</summary>
    internal int UpdatedAtOrdinal { get; }

    /// <summary>Position in <see cref="Columns"/> of <c>deleted_at</c> (one of <see cref="CommonTrailingColumns"/>).</summary>
    internal int DeletedAtOrdinal { get; }

    /// <summary>Position in <see cref="Columns"/> of the field with these UTF-8 name bytes, or -1 (no allocation).</summary>
    internal int IndexOfField(ReadOnlySpan<byte> utf8Name)
    {
        for (var i = 0; i < _fieldNamesUtf8.Length; i++)
        {
            if (utf8Name.SequenceEqual(_fieldNamesUtf8[i]))
            {
                return i;
            }
        }

        return -1;
    }

    /// <inheritdoc />
    public override string ToString() => Name;
}
