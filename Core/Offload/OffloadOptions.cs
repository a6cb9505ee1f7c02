using Microsoft.Extensions.Options;

namespace NexusArchive.Core.Offload;

/// <summary>
/// <c>Archive:Offload</c>: cold storage. Chat sessions idle for <see cref="After"/> leave Redis once the archive provably
/// holds every record at the version Redis holds (docs/offload.md).
/// </summary>
public sealed class OffloadOptions
{
    public const string SectionName = "Archive:Offload";

    /// <summary>
    /// Lets the Functions app's offload timer act. The CLI's <c>offload</c> verb runs when asked whatever this says;
    /// the timer only when this is true (off by default: removing data from Redis is a decision an operator makes).
    /// </summary>
    public bool Enabled { get; set; }

    /// <summary>A session qualifies when its newest record (session, messages, attachments) is older than this.</summary>
    public TimeSpan After { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Sessions checked and removed per batch (one PostgreSQL read per entity, one pipeline of Redis calls).</summary>
    public int BatchSize { get; set; } = 200;

    /// <summary>
    /// The most not-yet-archived entries (index above the late horizon plus the late set, per entity) an offload accepts:
    /// more means the archiver is behind, and each session's removal would scan them all. The run is refused then.
    /// </summary>
    public int MaxPendingEntries { get; set; } = 20_000;

    /// <summary>A run stops between batches after this long and reports <c>Partial</c>; the next run continues.</summary>
    public TimeSpan TimeBudget { get; set; } = TimeSpan.FromMinutes(8);
}

/// <summary>Ranges of <see cref="OffloadOptions"/>, each failure naming its setting.</summary>
internal sealed class OffloadOptionsValidator : IValidateOptions<OffloadOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, OffloadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string S = OffloadOptions.SectionName;
        var failures = new List<string>();
        if (options.After < TimeSpan.FromHours(1))
        {
            failures.Add($"{S}:After must be at least 01:00:00 (was {options.After}): offloading chats that are still live only moves load to PostgreSQL.");
        }

        if (options.BatchSize is < 1 or > 5_000)
        {
            failures.Add($"{S}:BatchSize must be between 1 and 5000 (was {options.BatchSize}).");
        }

        if (options.MaxPendingEntries is < 0 or > 1_000_000)
        {
            failures.Add($"{S}:MaxPendingEntries must be between 0 and 1000000 (was {options.MaxPendingEntries}).");
        }

        if (options.TimeBudget <= TimeSpan.Zero || options.TimeBudget > TimeSpan.FromHours(24))
        {
            failures.Add($"{S}:TimeBudget must be positive and at most 1.00:00:00 (was {options.TimeBudget}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
