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
    private readonly EntityDescriptor? _whole;

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
    /// <summary>
    /// A view of <paramref name="whole"/> bound to one shard of its change stream: the same entity (name, table,
    /// columns), with the change index, write counter, late set, checkpoint and lease of that shard.
    /// </summary>
    private EntityDescriptor(EntityDescriptor whole, ChangeShard shard, bool draining)
    {
        Name = whole.Name;
        Table = whole.Table;
        Order = whole.Order;
        Columns = whole.Columns;
        Parents = whole.Parents;
        _fieldNamesUtf8 = whole._fieldNamesUtf8;
        FieldIndex = whole.FieldIndex;
        UpdatedAtOrdinal = whole.UpdatedAtOrdinal;
        DeletedAtOrdinal = whole.DeletedAtOrdinal;
        _whole = whole;
        Shard = shard;
        Draining = draining;
    }

    public string Name { get; }

    /// <summary>The unsharded entity: this descriptor itself unless it is bound to a shard.</summary>
    internal EntityDescriptor Whole => _whole ?? this;

    /// <summary>The shard of the change stream this descriptor is bound to; null for the entity's unsharded stream.</summary>
    internal ChangeShard? Shard { get; }

    /// <summary>True for a shard of a layout the writers have left (a reshard is draining it); set by the shard layout.</summary>
    internal bool Draining { get; }

    /// <summary>
    /// The name of this change stream in the bookkeeping (checkpoint row, lease, lock, command meter): the entity's
    /// name, or <c>message.3of4</c> for a shard.
    /// </summary>
    internal string FeedName => Shard is { } shard ? $"{Name}.{shard.Label}" : Name;

    /// <summary>
    /// The descriptor bound to shard <paramref name="index"/> of <paramref name="count"/>; the whole entity when
    /// <paramref name="count"/> is 1 (one shard is the unsharded layout).
    /// </summary>
    internal EntityDescriptor ForShard(int index, int count, bool draining = false) =>
        count == 1 ? Whole : new EntityDescriptor(Whole, new ChangeShard(index, count), draining);

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
    public override string ToString() => FeedName;
}
