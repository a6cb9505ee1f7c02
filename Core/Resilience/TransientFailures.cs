using Npgsql;
using NexusArchive.Core.Sink;
using Polly.Timeout;
using StackExchange.Redis;

namespace NexusArchive.Core.Resilience;

/// <summary>
/// What the pipelines retry. Only failures of the connection or the server's momentary state — never a data
/// error (SQLSTATE class 22/23: the sink bisects those into dead letters), never a lease conflict, never the
/// caller's own cancellation.
/// </summary>
internal static class TransientFailures
{
    /// <summary>A PostgreSQL failure worth retrying the whole call (page transaction, lease, run history) for.</summary>
    public static bool IsTransientPostgres(Exception exception) => exception switch
    {
        TimeoutRejectedException => true,
        EntityBusyException => false,
        PostgresException pg when IsDataError(pg.SqlState) => false,

        // 57P01 admin_shutdown (pg_terminate_backend, fast shutdown) and 57P02 crash_shutdown are transient for a
        // new connection whatever the Npgsql version says; everything else follows Npgsql's IsTransient (class 08,
        // 53, 57P03, 40001, 40P01, socket and I/O errors…).
        PostgresException { SqlState: PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown or PostgresErrorCodes.CannotConnectNow } => true,
        NpgsqlException npgsql => npgsql.IsTransient,
        _ => false,
    };

    /// <summary>A Redis failure worth retrying the call for.</summary>
    public static bool IsTransientRedis(Exception exception) =>
        exception is RedisConnectionException or RedisTimeoutException or TimeoutRejectedException;

    /// <summary>SQLSTATE class 22 (data exception) or 23 (integrity constraint violation): the row is at fault.</summary>
    public static bool IsDataError(string sqlState) =>
        sqlState.StartsWith("22", StringComparison.Ordinal) || sqlState.StartsWith("23", StringComparison.Ordinal);
}
