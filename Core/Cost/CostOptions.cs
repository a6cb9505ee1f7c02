using System.Globalization;
using Microsoft.Extensions.Options;

namespace NexusArchive.Core.Cost;

/// <summary>
/// <c>Archive:Cost</c>: the prices <c>cost</c> and status multiply the archive's usage by, and the run-history window
/// growth is measured over. The defaults are the providers' public list prices as read on <see cref="DefaultPricesAsOf"/>
/// (Supabase Pro disk beyond the included size, Upstash Redis pay-as-you-go; sources in docs/operations.md, "What the
/// archive costs"): update them, and <see cref="PricesAsOf"/> with them, when a provider changes its prices.
/// </summary>
internal sealed class CostOptions
{
    public const string SectionName = "Archive:Cost";

    /// <summary>The date the default prices were read from the providers' pages.</summary>
    public const string DefaultPricesAsOf = "2026-12-03";

    /// <summary>The longest <see cref="GrowthWindow"/> (and <c>cost --days</c>) accepted.</summary>
    public static readonly TimeSpan MaxGrowthWindow = TimeSpan.FromDays(365);

    /// <summary>The shortest <see cref="GrowthWindow"/> accepted: below an hour a day's rate is a guess.</summary>
    public static readonly TimeSpan MinGrowthWindow = TimeSpan.FromHours(1);

    /// <summary>USD per GB-month of PostgreSQL disk (Supabase: disk beyond the plan's included 8 GB per project).</summary>
    public decimal PostgresDiskPerGbMonth { get; set; } = 0.125m;

    /// <summary>USD per 100,000 Redis commands (Upstash Redis pay-as-you-go).</summary>
    public decimal RedisPer100kCommands { get; set; } = 0.20m;

    /// <summary>USD per GB-month of Redis data (Upstash Redis pay-as-you-go, beyond the free first GB).</summary>
    public decimal RedisStoragePerGbMonth { get; set; } = 0.25m;

    /// <summary>When the prices above were read (<c>yyyy-MM-dd</c>); shown with every cost report.</summary>
    public string PricesAsOf { get; set; } = DefaultPricesAsOf;

    /// <summary>Growth and Redis commands per day are measured over the runs of this window (status; <c>cost --days</c> overrides it).</summary>
    public TimeSpan GrowthWindow { get; set; } = TimeSpan.FromDays(7);
}

/// <summary>Ranges of <see cref="CostOptions"/>, each failure naming its setting.</summary>
internal sealed class CostOptionsValidator : IValidateOptions<CostOptions>
{
    /// <summary>No list price we know of comes near this; a larger value is a typo (cents for dollars, a missing decimal point).</summary>
    private const decimal MaxPrice = 1000m;

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, CostOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string S = CostOptions.SectionName;
        var failures = new List<string>();
        CheckPrice(failures, $"{S}:PostgresDiskPerGbMonth", options.PostgresDiskPerGbMonth);
        CheckPrice(failures, $"{S}:RedisPer100kCommands", options.RedisPer100kCommands);
        CheckPrice(failures, $"{S}:RedisStoragePerGbMonth", options.RedisStoragePerGbMonth);

        if (!DateOnly.TryParseExact(options.PricesAsOf, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _))
        {
            failures.Add($"{S}:PricesAsOf must be a date written yyyy-MM-dd (was '{options.PricesAsOf}').");
        }

        if (options.GrowthWindow < CostOptions.MinGrowthWindow || options.GrowthWindow > CostOptions.MaxGrowthWindow)
        {
            failures.Add($"{S}:GrowthWindow must be between 01:00:00 and 365.00:00:00 (was {options.GrowthWindow}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void CheckPrice(List<string> failures, string setting, decimal value)
    {
        if (value is < 0 or > MaxPrice)
        {
            failures.Add($"{setting} must be between 0 and {MaxPrice.ToString(CultureInfo.InvariantCulture)} US dollars (was {value.ToString(CultureInfo.InvariantCulture)}).");
        }
    }
}
