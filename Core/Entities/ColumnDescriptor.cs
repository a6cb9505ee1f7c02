namespace NexusArchive.Core.Entities;

/// <summary>Maps one Redis hash field to one column of an archive table.</summary>
/// <param name="Field">The camelCase field name the NexusChat client writes.</param>
/// <param name="Column">The snake_case column name in PostgreSQL.</param>
/// <param name="Kind">How the value is parsed and stored.</param>
/// <param name="Required">Whether a record without this field is dead-lettered.</param>
/// <param name="AllowedValues">For enumerations: the only values accepted (ordinal comparison).</param>
public sealed record ColumnDescriptor(
    string Field,
    string Column,
    ColumnKind Kind,
    bool Required = false,
    IReadOnlyList<string>? AllowedValues = null);
