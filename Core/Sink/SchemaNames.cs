using Microsoft.Extensions.Options;
using NexusArchive.Core.Configuration;

namespace NexusArchive.Core.Sink;

/// <summary>The validated, quoted schema names used in generated SQL.</summary>
internal sealed class SchemaNames
{
    public SchemaNames(IOptions<ArchiveOptions> options)
        : this(options.Value.TargetSchema, options.Value.BookkeepingSchema)
    {
    }

    public SchemaNames(string target, string bookkeeping)
    {
        TargetName = target;
        BookkeepingName = bookkeeping;
        Target = Identifiers.Quote(target);
        Bookkeeping = Identifiers.Quote(bookkeeping);
    }

    /// <summary>The archive tables' schema, unquoted.</summary>
    public string TargetName { get; }

    /// <summary>The bookkeeping schema, unquoted.</summary>
    public string BookkeepingName { get; }

    /// <summary>The archive tables' schema, quoted for SQL text.</summary>
    public string Target { get; }

    /// <summary>The bookkeeping schema, quoted for SQL text.</summary>
    public string Bookkeeping { get; }
}
