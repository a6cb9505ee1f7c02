namespace NexusArchive.Core.Cost;

/// <summary>The prices a cost report used (<c>Archive:Cost</c>), in US dollars.</summary>
/// <param name="PostgresDiskPerGbMonth">Per GB-month of PostgreSQL disk.</param>
/// <param name="RedisPer100kCommands">Per 100,000 Redis commands.</param>
/// <param name="RedisStoragePerGbMonth">Per GB-month of Redis data.</param>
/// <param name="AsOf">When these prices were read from the providers' pages (<c>yyyy-MM-dd</c>).</param>
public sealed record CostPrices(decimal PostgresDiskPerGbMonth, decimal RedisPer100kCommands, decimal RedisStoragePerGbMonth, string AsOf);

/// <summary>One archive table: its disk use now and how fast it grows, and the entity's change index in Redis.</summary>
/// <param name="Entity">Entity name.</param>
/// <param name="Table">Archive table.</param>
/// <param name="Rows">Rows now (the planner's estimate above a million, as in status).</param>
/// <param name="TableBytes">The table: heap, TOAST, free-space and visibility maps.</param>
/// <param name="IndexBytes">All its indexes.</param>
/// <param name="BytesPerRow">(table + indexes) ÷ rows; null while the table is empty.</param>
/// <param name="UpsertedInWindow">Rows the runs of the window upserted (new rows and newer versions of existing ones).</param>
/// <param name="RowsPerDay">Upserted rows per day over the measured span.</param>
/// <param name="PostgresBytesPerDay">Rows per day × bytes per row.</param>
/// <param name="ChangeIndexEntries">Entries in <c>{prefix}:changes:{entity}</c> now (all its change streams when sharded).</param>
/// <param name="ChangeIndexBytes">Bytes Redis reports for the change index (null: the server does not report it).</param>
/// <param name="RedisBytesPerDay">Rows per day × bytes per index entry (null when the index bytes are unknown).</param>
/// <param name="RedisCommandsInWindow">Redis commands the entity's passes sent in the window.</param>
public sealed record EntityCost(
    string Entity,
    string Table,
    long Rows,
    long TableBytes,
    long IndexBytes,
    double? BytesPerRow,
    long UpsertedInWindow,
    double RowsPerDay,
    double PostgresBytesPerDay,
    long ChangeIndexEntries,
    long? ChangeIndexBytes,
    double? RedisBytesPerDay,
    long RedisCommandsInWindow);

/// <summary>The archive <see cref="Days"/> days from now, if it keeps growing as in the window, and what it costs then.</summary>
/// <param name="Days">0 = now.</param>
/// <param name="PostgresBytes">Archive tables and indexes: now + growth per day × days.</param>
/// <param name="RedisBytes">The change indexes, likewise (null when unknown).</param>
/// <param name="PostgresDiskPerMonth">A month of <see cref="PostgresBytes"/> of disk.</param>
/// <param name="RedisStoragePerMonth">A month of <see cref="RedisBytes"/> of Redis storage (0 when unknown).</param>
/// <param name="RedisCommandsPerMonth">30 days of the pass's Redis commands at today's rate.</param>
/// <param name="TotalPerMonth">The three together: the monthly bill the archive adds at that point.</param>
/// <param name="SpentOverPeriod">What the archive adds over the <see cref="Days"/> days from now (storage growing linearly, commands at today's rate).</param>
public sealed record CostProjection(
    int Days,
    long PostgresBytes,
    long? RedisBytes,
    decimal PostgresDiskPerMonth,
    decimal RedisStoragePerMonth,
    decimal RedisCommandsPerMonth,
    decimal TotalPerMonth,
    decimal SpentOverPeriod);

/// <summary>What the archive costs (CLI <c>cost</c>, the <c>cost</c> section of status): storage now, growth, Redis commands, projections.</summary>
/// <param name="At">When the report was made.</param>
/// <param name="Window">The run-history window asked for.</param>
/// <param name="DaysMeasured">The span the per-day rates are measured over, in days (shorter than the window when history is; 0 with no runs).</param>
/// <param name="Runs">Runs started in the window.</param>
/// <param name="RunsWithCommandCounts">Of those, the runs that recorded their Redis commands (runs from before the pass counted them hold none).</param>
/// <param name="RedisCommandsCounted">False when no run of the window recorded Redis commands: commands per day are unknown (shown as 0).</param>
/// <param name="RedisCommandsPerDay">Redis commands the archive passes send per day.</param>
/// <param name="Prices">The prices used.</param>
/// <param name="Entities">Per archive table.</param>
/// <param name="PostgresBytes">All archive tables and their indexes now.</param>
/// <param name="RedisBytes">All change indexes now (null when the server does not report memory).</param>
/// <param name="PostgresBytesPerDay">Growth of the archive tables per day.</param>
/// <param name="RedisBytesPerDay">Growth of the change indexes per day (null when unknown).</param>
/// <param name="Projections">Now, in 30 days and in 365 days.</param>
/// <param name="Notes">What limits the figures of this report (short history, no command counts, …).</param>
public sealed record CostReport(
    DateTimeOffset At,
    TimeSpan Window,
    double DaysMeasured,
    int Runs,
    int RunsWithCommandCounts,
    bool RedisCommandsCounted,
    double RedisCommandsPerDay,
    CostPrices Prices,
    IReadOnlyList<EntityCost> Entities,
    long PostgresBytes,
    long? RedisBytes,
    double PostgresBytesPerDay,
    double? RedisBytesPerDay,
    IReadOnlyList<CostProjection> Projections,
    IReadOnlyList<string> Notes);
