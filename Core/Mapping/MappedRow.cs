using NexusArchive.Core.Entities;
using NexusArchive.Core.Source;

namespace NexusArchive.Core.Mapping;

/// <summary>A record mapped to its table's columns, ready for COPY.</summary>
/// <param name="Record">The record as read from Redis (kept so a row PostgreSQL rejects is dead-lettered with its exact bytes).</param>
/// <param name="Row">The values for the entity's table.</param>
internal sealed record MappedRow(SourceRecord Record, ArchiveRow Row)
{
    /// <summary>The change-index entry the record came from.</summary>
    public ChangeEntry Entry => Record.Entry;
}

/// <summary>Why a record could not be archived; the category is stable for dashboards and CLI filters.</summary>
internal static class DeadLetterReasons
{
    public const string MissingField = "missing_field";
    public const string IdMismatch = "id_mismatch";
    public const string InvalidTimestamp = "invalid_timestamp";
    public const string FutureTimestamp = "future_timestamp";
    public const string InvalidInteger = "invalid_integer";
    public const string InvalidJson = "invalid_json";
    public const string InvalidValue = "invalid_value";
    public const string InvalidText = "invalid_text";
    public const string Rejected = "rejected_by_database";
}

/// <summary>A record that goes to the dead-letter table instead of its archive table.</summary>
/// <param name="Entry">The change-index entry it came from.</param>
/// <param name="Category">One of <see cref="DeadLetterReasons"/>.</param>
/// <param name="Reason">A sentence naming the field and what is wrong (never the value itself).</param>
/// <param name="RawFields">The hash exactly as read, as a JSON array of [field, value] pairs (see <see cref="RawPayload"/>).</param>
internal sealed record DeadLetter(ChangeEntry Entry, string Category, string Reason, string RawFields);

/// <summary>The outcome of mapping one page.</summary>
internal sealed record MappedPage(IReadOnlyList<MappedRow> Rows, IReadOnlyList<DeadLetter> DeadLetters, int Vanished);
