using Microsoft.Extensions.Options;
using NexusArchive.Core.Entities;

namespace NexusArchive.Core.Configuration;

/// <summary>Every rule for <see cref="ArchiveOptions"/> (ranges, formats, cross-field), in one place; every failure names the setting.</summary>
/// <param name="entities">The archived entities <c>Archive:Entities</c> may name.</param>
internal sealed class ArchiveOptionsValidator(EntityCatalog entities) : IValidateOptions<ArchiveOptions>
{
    /// <summary>A validator for the four production entities.</summary>
    public ArchiveOptionsValidator()
        : this(EntityCatalog.Default)
    {
    }

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, ArchiveOptions options)
    {
        var failures = new List<string>();
        const string S = ArchiveOptions.SectionName;

        if (!Identifiers.IsKeyPrefix(options.KeyPrefix))
        {
            failures.Add($"{S}:KeyPrefix '{options.KeyPrefix}' is invalid: use 1-64 letters, digits, '_', '.' or '-', with at most one hash tag such as '{{nexus}}' (no ':' or glob characters).");
        }

        if (!Identifiers.IsSqlIdentifier(options.TargetSchema))
        {
            failures.Add($"{S}:TargetSchema '{options.TargetSchema}' is not a lower-case SQL identifier.");
        }

        if (!Identifiers.IsSqlIdentifier(options.BookkeepingSchema))
        {
            failures.Add($"{S}:BookkeepingSchema '{options.BookkeepingSchema}' is not a lower-case SQL identifier.");
        }
        else if (options.BookkeepingSchema == options.TargetSchema)
        {
            failures.Add($"{S}:BookkeepingSchema must differ from {S}:TargetSchema: bookkeeping stays private.");
        }

        if (!SearchLanguages.IsBuiltIn(options.SearchLanguage))
        {
            failures.Add($"{S}:SearchLanguage '{options.SearchLanguage}' is not a built-in PostgreSQL text search configuration; use one of: {string.Join(", ", SearchLanguages.BuiltIn)}.");
        }

        if (options.PageSize is < 1 or > 100_000)
        {
            failures.Add($"{S}:PageSize must be between 1 and 100000 (was {options.PageSize}).");
        }

        if (options.StatusRunCount is < 1 or > 1000)
        {
            failures.Add($"{S}:StatusRunCount must be between 1 and 1000 (was {options.StatusRunCount}).");
        }

        if (options.PipelineDepth is < 1 or > 16)
        {
            failures.Add($"{S}:PipelineDepth must be between 1 and 16 (was {options.PipelineDepth}).");
        }

        if (options.SettleWindow < TimeSpan.Zero || options.SettleWindow > TimeSpan.FromHours(1))
        {
            failures.Add($"{S}:SettleWindow must be between 00:00:00 and 01:00:00 (was {options.SettleWindow}).");
        }

        if (options.LookbackOverlap < TimeSpan.Zero || options.LookbackOverlap > TimeSpan.FromDays(7))
        {
            failures.Add($"{S}:LookbackOverlap must be between 00:00:00 and 7.00:00:00 (was {options.LookbackOverlap}).");
        }

        if (options.TimeBudget <= TimeSpan.Zero)
        {
            failures.Add($"{S}:TimeBudget must be positive (was {options.TimeBudget}).");
        }

        if (options.BookkeepingTimeout <= TimeSpan.Zero)
        {
            failures.Add($"{S}:BookkeepingTimeout must be positive (was {options.BookkeepingTimeout}).");
        }

        if (options.LeaseTimeout < TimeSpan.FromSeconds(1))
        {
            failures.Add($"{S}:LeaseTimeout must be at least 00:00:01 (was {options.LeaseTimeout}).");
        }

        if (options.FutureTolerance < TimeSpan.Zero)
        {
            failures.Add($"{S}:FutureTolerance must not be negative (was {options.FutureTolerance}).");
        }

        if (options.Verify is null)
        {
            failures.Add($"{S}:Verify must not be null.");
        }
        else
        {
            if (options.Verify.MaxRecordsPerRun is < 1 or > VerifyOptions.MaxPerRun)
            {
                failures.Add($"{S}:Verify:MaxRecordsPerRun must be between 1 and {VerifyOptions.MaxPerRun} (was {options.Verify.MaxRecordsPerRun}).");
            }

            if (options.Verify.ScanKeysPerRun is < 1 or > VerifyOptions.MaxPerRun)
            {
                failures.Add($"{S}:Verify:ScanKeysPerRun must be between 1 and {VerifyOptions.MaxPerRun} (was {options.Verify.ScanKeysPerRun}).");
            }
        }

        foreach (var entity in options.Entities.Where(e => entities.Find(e) is null))
        {
            failures.Add($"{S}:Entities contains unknown entity '{entity}'; known: {string.Join(", ", entities.All.Select(e => e.Name))}.");
        }

        foreach (var (entity, count) in options.Shards)
        {
            if (entities.Find(entity) is null)
            {
                failures.Add($"{S}:Shards names unknown entity '{entity}'; known: {string.Join(", ", entities.All.Select(e => e.Name))}.");
            }
            else if (count is < 1 or > ChangeShard.MaxCount)
            {
                failures.Add($"{S}:Shards:{entity} must be a shard count from 1 to {ChangeShard.MaxCount} (was {count}).");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
