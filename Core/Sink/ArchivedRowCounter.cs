using NexusArchive.Core.Entities;
using Npgsql;

namespace NexusArchive.Core.Sink;

/// <summary>How many rows an archive table holds, cheaply enough for every status call.</summary>
internal sealed class ArchivedRowCounter(NpgsqlDataSource dataSource, SchemaNames schemas)
{
    /// <summary>
    /// The planner's estimate for big tables (an exact count of 100M rows would make status a load problem), an exact
    /// count below a million rows or before the table was ever analysed.
    /// </summary>
    public async Task<long> CountAsync(EntityDescriptor entity, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var estimate = new NpgsqlCommand("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass($1)", connection);
        estimate.Parameters.Add(new() { Value = $"{schemas.Target}.{entity.Table}" });
        if (await estimate.ExecuteScalarAsync(cancellationToken) is long n && n >= 1_000_000)
        {
            return n;
        }

        await using var exact = new NpgsqlCommand($"SELECT count(*) FROM {schemas.Target}.{entity.Table}", connection);
        return (long)(await exact.ExecuteScalarAsync(cancellationToken))!;
    }
}
