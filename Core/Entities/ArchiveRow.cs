namespace NexusArchive.Core.Entities;

/// <summary>
/// One row of an entity's archive table: a value per <see cref="EntityDescriptor.Columns"/> column (id first), then
/// <c>extra</c> (the unmapped fields as jsonb text, or null). The mapper builds it from a Redis hash and
/// <c>ArchivedRows</c> reads it back from PostgreSQL, so both sides hash and compare alike; COPY writes it in
/// <see cref="this[int]"/> order. A struct over the value array: wrapping a row allocates nothing. The mapper keeps
/// text as the UTF-8 bytes Redis sent (<see cref="Utf8Text"/>, already checked to be valid UTF-8 without NUL), which
/// COPY writes as they are (<see cref="CopyValue"/>); everyone else reads it as a string.
/// </summary>
internal readonly struct ArchiveRow
{
    private readonly object?[] _values;

    /// <summary>Wraps (does not copy) <paramref name="values"/>: one per column of <paramref name="entity"/>, then <c>extra</c>.</summary>
    /// <exception cref="ArgumentException">The number of values is not the entity's columns plus one.</exception>
    public ArchiveRow(EntityDescriptor entity, object?[] values)
    {
        ArgumentNullException.ThrowIfNull(entity);
        ArgumentNullException.ThrowIfNull(values);
        if (values.Length != entity.Columns.Count + 1)
        {
            throw new ArgumentException($"Expected {entity.Columns.Count + 1} values for {entity.Name}, got {values.Length}.", nameof(values));
        }

        Entity = entity;
        _values = values;
    }

    /// <summary>The entity whose table the row belongs to.</summary>
    public EntityDescriptor Entity { get; }

    /// <summary>How many values the row holds: the entity's columns, then <c>extra</c>.</summary>
    public int Count => _values.Length;

    /// <summary>The value at <paramref name="ordinal"/> in COPY order: <see cref="EntityDescriptor.Columns"/>, then <c>extra</c>.</summary>
    public object? this[int ordinal] => _values[ordinal] is Utf8Text text ? text.ToString() : _values[ordinal];

    /// <summary>The value at <paramref name="ordinal"/> as COPY writes it: text may be <see cref="Utf8Text"/> (its bytes, not decoded).</summary>
    public object? CopyValue(int ordinal) => _values[ordinal];

    /// <summary>The record id (the required first column).</summary>
    public string Id => (string)_values[0]!;

    /// <summary>The unmapped fields as a JSON object's text, or null when there were none.</summary>
    public string? Extra => (string?)_values[^1];

    /// <summary>The row's version (<c>updated_at</c>, UTC); null only for a row that lacks it.</summary>
    public DateTime? UpdatedAt => _values[Entity.UpdatedAtOrdinal] as DateTime?;

    /// <summary>True for a soft-deleted record (<c>deleted_at</c> set).</summary>
    public bool IsDeleted => _values[Entity.DeletedAtOrdinal] is not null;
}

/// <summary>Text held as valid UTF-8 bytes without NUL (a view of the record as read, not a copy); decoded only when read as a string.</summary>
internal sealed class Utf8Text(ReadOnlyMemory<byte> bytes)
{
    /// <summary>The text's UTF-8 bytes.</summary>
    public ReadOnlyMemory<byte> Bytes { get; } = bytes;

    /// <summary>The text, decoded.</summary>
    public override string ToString() => System.Text.Encoding.UTF8.GetString(Bytes.Span);
}
