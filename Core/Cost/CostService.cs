using System.Globalization;
using Microsoft.Extensions.Options;
using NexusArchive.Core.Bookkeeping;
using NexusArchive.Core.Entities;
using NexusArchive.Core.Resilience;
using NexusArchive.Core.Sink;
using NexusArchive.Core.Source;

namespace NexusArchive.Core.Cost;

/// <summary>
/// What the archive costs (CLI <c>cost</c>, and the <c>cost</c> section of status): PostgreSQL disk per archive table
/// now, growth per day and Redis commands per day from the run history of a window, the change indexes' Redis memory,
/// and projections for 30 and 365 days at the <c>Archive:Cost</c> prices. Cheap enough for status: catalog size
/// functions and row estimates, one aggregate over the window's runs in PostgreSQL, and two pipelined Redis commands
/// per entity.
/// </summary>
public sealed class CostService
{
    private readonly ArchiveTableSizes _sizes;
    private readonly EntityCatalog _catalog;
    private readonly ArchivedRowCounter _rows;
    private readonly RunHistory _runs;
    private readonly ChangeIndexFootprint _indexes;
    private readonly PostgresCalls _postgres;
    private readonly IOptions<CostOptions> _options;
    private readonly TimeProvider _clock;

    internal CostService(
        ArchiveTableSizes sizes,
        EntityCatalog catalog,
        ArchivedRowCounter rows,
        RunHistory runs,
        ChangeIndexFootprint indexes,
        PostgresCalls postgres,
        IOptions<CostOptions> options,
        TimeProvider clock)
    {
        _sizes = sizes;
        _catalog = catalog;
        _rows = rows;
        _runs = runs;
        _indexes = indexes;
        _postgres = postgres;
        _options = options;
        _clock = clock;
    }

    /// <summary>Builds the cost report over the runs of <paramref name="window"/> (null: <c>Archive:Cost:GrowthWindow</c>).</summary>
    /// <exception cref="ArgumentException">The window is shorter than an hour or longer than 365 days.</exception>
    public Task<CostReport> GetAsync(TimeSpan? window, CancellationToken cancellationToken) =>
        GetAsync(window, archivedRows: null, cancellationToken);

    /// <summary>
    /// The same, with the archive tables' row counts (by entity name) when the caller has just counted them (status does
    /// for its own table), so they are not counted twice.
    /// </summary>
    internal async Task<CostReport> GetAsync(TimeSpan? window, IReadOnlyDictionary<string, long>? archivedRows, CancellationToken cancellationToken)
    {
        var span = window ?? _options.Value.GrowthWindow;
        if (span < CostOptions.MinGrowthWindow || span > CostOptions.MaxGrowthWindow)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"The growth window must be between 1 hour and 365 days (was {span})."), nameof(window));
        }

        var now = _clock.GetUtcNow();
        var sizes = await _postgres.RunAsync(ct => _sizes.ReadAsync(ct), cancellationToken);
        var rows = archivedRows ?? await CountRowsAsync(cancellationToken);

        var history = await _postgres.RunAsync(ct => _runs.WindowAsync(now - span, ct), cancellationToken);
        var indexes = await _indexes.ReadAsync(cancellationToken);
        var o = _options.Value;
        var prices = new CostPrices(o.PostgresDiskPerGbMonth, o.RedisPer100kCommands, o.RedisStoragePerGbMonth, o.PricesAsOf);
        return CostCalculator.Compute(_catalog, now, span, prices, sizes, rows, indexes, history);
    }

    private async Task<IReadOnlyDictionary<string, long>> CountRowsAsync(CancellationToken cancellationToken)
    {
        var rows = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var entity in _catalog.All)
        {
            rows[entity.Name] = await _postgres.RunAsync(ct => _rows.CountAsync(entity, ct), cancellationToken);
        }

        return rows;
    }
}
