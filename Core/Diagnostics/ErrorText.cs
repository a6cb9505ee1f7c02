using NexusArchive.Core.Configuration;
using Npgsql;
using StackExchange.Redis;

namespace NexusArchive.Core.Diagnostics;

/// <summary>
/// Turns exceptions into operator-readable text for run history, status and HTTP responses. Only the exception
/// type, a PostgreSQL SQLSTATE and the server's message text are used — never connection strings, which Redis and
/// Npgsql messages can otherwise quote in part.
/// </summary>
public static class ErrorText
{
    /// <summary>
    /// Core's complaint about a caller's argument (unknown entity, both a user and a session, …) in the caller's words,
    /// not the framework's: without <c> (Parameter 'x')</c>. The CLI prints it with exit 2, the HTTP functions return it in a 400.
    /// </summary>
    public static string CallersWords(ArgumentException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return exception.ParamName is null
            ? exception.Message
            : exception.Message.Replace($" (Parameter '{exception.ParamName}')", string.Empty, StringComparison.Ordinal);
    }

    public static string Describe(Exception exception) => exception switch
    {
        PostgresException pg => $"PostgreSQL error {pg.SqlState}: {pg.MessageText}",
        // Npgsql's own text ("Failed to connect to 127.0.0.1:5442") names the endpoint and never the password.
        NpgsqlException npgsql => $"PostgreSQL connection failed ({npgsql.InnerException?.GetType().Name ?? nameof(NpgsqlException)}{(npgsql.IsTransient ? ", transient" : string.Empty)}): "
            + $"{FirstLine(npgsql.Message)}; check ConnectionStrings:{ConnectionStringNames.Postgres}",
        RedisConnectionException redis => $"Redis connection failed ({redis.FailureType}); check ConnectionStrings:{ConnectionStringNames.Redis}",
        RedisTimeoutException => "Redis command timed out",
        RedisServerException redis => $"Redis error: {FirstLine(redis.Message)}",
        OperationCanceledException => "cancelled",
        TimeoutException => "timed out",
        _ => $"{exception.GetType().Name}: {FirstLine(exception.Message)}",
    };

    private static string FirstLine(string message)
    {
        var end = message.IndexOfAny(['\r', '\n']);
        return end < 0 ? message : message[..end];
    }
}
